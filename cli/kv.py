"""``heurist kv``: KV-cache eviction policies on the real SmolLM2-135M.

    heurist kv evaluate --text FILE [--tokens T] [--continuation C] --budget 0.25[,0.5]
        --policy full,streaming,h2o,tova,snapkv,knorm,scissorhands,random,oracle [--seed S[,S2]]
        [--mode prefill|decode] [--parity heurist|kvpress] [--greedy N]
        [--artifact DIR] [--threads N] [--json]
    heurist kv parity --text FILE [--tokens T] --budget 0.25 [--policy streaming,snapkv,...]
"""
from __future__ import annotations

import json
import math
import os
import sys
from pathlib import Path

from heurist.cli.common import OneLineParser

__all__ = ["MAX_CONTEXT", "attention_bytes", "read_text", "register", "tokenize"]

DEFAULT_POLICIES = "full,streaming,h2o,tova,snapkv,knorm,scissorhands,random,oracle"
PARITY_DEFAULT = "streaming,snapkv,tova,knorm,observed"
#: SmolLM2-135M's ``max_position_embeddings`` (kept here, not read from the model, so flags are
#: checked before torch loads; ``tests/test_cli_kv.py`` checks it against the loaded config).
MAX_CONTEXT = 8192
#: Attention maps a run keeps, one per (layer, query head): 30 x 9 (checked like MAX_CONTEXT).
ATTENTION_MAPS = 30 * 9
#: kvpress's SnapKVPress asserts more context tokens than its 64-token observation window.
SNAPKV_WINDOW = 64
MIN_TOKENS = 8


def read_text(path: str, need: int, why: str) -> str:
    """The text of a UTF-8 file that can hold ``need`` tokens; ``ValueError`` or
    ``FileNotFoundError`` naming ``--text`` and the file otherwise. Needs no tokenizer: a token of
    SmolLM2's byte-level BPE covers at least one byte, so fewer bytes than ``need`` is too short."""
    p = Path(path)
    shown = str(p) if str(p).isprintable() else repr(str(p))  # one line, whatever the name holds
    try:
        exists, is_dir, is_file = p.exists(), p.is_dir(), p.is_file()
    except (OSError, ValueError):  # e.g. an embedded NUL byte or a name too long
        raise ValueError(f"--text {shown}: not a usable file name") from None
    if is_dir:
        raise ValueError(f"--text {shown}: is a directory; give a UTF-8 text file")
    if not exists:
        raise FileNotFoundError(f"--text {shown}: file not found")
    if not is_file:  # a FIFO or a device would block or never end
        raise ValueError(f"--text {shown}: not a regular file")
    try:
        data = p.read_bytes()
    except OSError as e:
        raise ValueError(f"--text {shown}: cannot be read ({e.strerror})") from None
    if not data:
        raise ValueError(f"--text {shown}: empty file")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as e:
        raise ValueError(f"--text {shown}: not UTF-8 text (byte 0x{data[e.start]:02x} at offset "
                         f"{e.start})") from None
    if len(data) < need:
        raise ValueError(f"--text {shown}: {len(data)} bytes, fewer than the {need} tokens needed "
                         f"({why}); give a longer text or lower --tokens")
    return text


def tokenize(text: str, path: str, tokenizer, need: int, why: str):
    """The token ids ``[N]`` of ``text`` (no special tokens); ``ValueError`` naming the file if
    it has fewer than ``need`` tokens."""
    import torch

    ids = torch.tensor(tokenizer(text, add_special_tokens=False).input_ids, dtype=torch.long)
    if ids.numel() < need:
        raise ValueError(f"--text {path}: {ids.numel()} tokens, fewer than the {need} needed "
                         f"({why}); give a longer text or lower --tokens")
    return ids


def attention_bytes(tokens: int, continuation: int = 0) -> int:
    """Bytes of the float32 attention maps a run keeps at once: every (layer, query head) over
    the context ``[T, T]``, and twice over the continuation ``[C, T + C]`` (the reference's and a
    policy's run). A lower bound on the run's memory."""
    T, C = int(tokens), int(continuation)
    return 4 * ATTENTION_MAPS * (T * T + 2 * C * (T + C))


def _available_memory() -> int | None:
    """MemAvailable from /proc/meminfo in bytes, or None where it cannot be read."""
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        return None
    return None


def _check_size(tokens: int, extra: int, extra_flag: str, continuation: int) -> None:
    """``--tokens`` (plus the positions after it) within the model's context and memory."""
    if tokens < MIN_TOKENS:
        raise ValueError(f"--tokens must be >= {MIN_TOKENS}, got {tokens}")
    if tokens + extra > MAX_CONTEXT:
        plus = f" + {extra_flag} {extra}" if extra else ""
        raise ValueError(f"--tokens {tokens}{plus} exceeds SmolLM2-135M's {MAX_CONTEXT}-token "
                         f"context; use at most {MAX_CONTEXT - extra} context tokens")
    need, avail = attention_bytes(tokens, continuation), _available_memory()
    if avail is not None and need > avail:
        raise ValueError(f"--tokens {tokens}: the run keeps the attention maps of every layer "
                         f"and head, at least {need / 1e9:.1f} GB, more than the "
                         f"{avail / 1e9:.1f} GB of memory available; lower --tokens")


def _check_snapkv(names: list[str], tokens: int, where: str) -> None:
    """kvpress's SnapKV (and ours in its parity mode) needs more tokens than its window."""
    if "snapkv" in names and tokens <= SNAPKV_WINDOW:
        raise ValueError(f"--tokens must be >= {SNAPKV_WINDOW + 1} for snapkv{where} (kvpress's "
                         f"SnapKV needs more tokens than its {SNAPKV_WINDOW}-token window), got "
                         f"{tokens}; raise --tokens or drop snapkv from --policy")


def _check_seed(seed: int, flag: str = "--seed") -> int:
    if not 0 <= seed < 2**63:  # torch generators take 64-bit seeds
        raise ValueError(f"{flag} must be an integer in [0, 2**63), got {seed}")
    return seed


def _seeds(spec: str) -> list[int]:
    try:
        seeds = [int(s) for s in spec.split(",") if s.strip()]
    except ValueError:
        raise ValueError(f"--seed takes integers like 0 or 0,1,2, got {spec!r}") from None
    if not seeds:
        raise ValueError(f"--seed needs at least one integer, got {spec!r}")
    return [_check_seed(s) for s in seeds]


def _check_threads(threads: int) -> None:
    cores = os.cpu_count() or 1
    if not 0 <= threads <= cores:
        raise ValueError(f"--threads must be in [0, {cores}] (0: torch's default; {cores} CPUs "
                         f"here), got {threads}")


def _check_artifact(artifact: str | None, policies: list[str]) -> None:
    """``--artifact`` names a readable policy artifact folder, and only with ``--policy learned``."""
    if artifact is None:
        return
    if "learned" not in policies:
        raise ValueError(f"--artifact {artifact}: only the learned policy reads an artifact; add "
                         "learned to --policy")
    from heurist.policies.export.manifest import read_manifest

    manifest = read_manifest(artifact)  # one-line ValueError / FileNotFoundError naming it
    if manifest["network"].get("class") != "KVScorer":
        raise ValueError(f"--artifact {artifact}: holds a {manifest['network'].get('class')} "
                         "network, not a KVScorer (a learned KV-cache scorer)")


def _load(threads: int = 0):
    import torch

    from heurist.policies.kv.shared import shared_model

    if threads:  # on oversubscribed shared cores 1 thread beats 2 several-fold
        torch.set_num_threads(threads)
    return shared_model()


def _allocation(spec: str | None, mode: str):
    """``--allocation`` as an :class:`~heurist.policies.kv.allocation.Allocation` (``None``: the
    equal split); a non-uniform split runs in prefill mode only."""
    if spec is None:
        return None
    from heurist.policies.kv.allocation import Allocation  # imports torch: only when asked

    try:
        allocation = Allocation.parse(spec)
    except ValueError as exc:
        raise ValueError(f"--allocation: {exc}") from None
    if mode == "decode" and not allocation.uniform:
        raise ValueError(f"--allocation {spec} runs in --mode prefill only (in decode mode the "
                         "padded slots would reach the learned scorer's per-head features)")
    return allocation


def _evaluate_inputs(args) -> tuple[list[str], list[float], list[int], str, int, str]:
    """Every flag and the file checked, before transformers and the model load (torch too,
    unless ``--allocation`` is given): ``(policies, budgets, seeds, text, tokens needed, what
    they are)``."""
    from heurist.policies.kv.registry import parse_budgets, parse_policies

    policies = parse_policies(args.policy)
    budgets = parse_budgets(args.budget)
    seeds = _seeds(args.seed)
    if args.continuation < 1:
        raise ValueError(f"--continuation must be >= 1, got {args.continuation}")
    if args.greedy < 0:
        raise ValueError(f"--greedy must be >= 0 (0: skip agreement), got {args.greedy}")
    _check_threads(args.threads)
    _check_artifact(args.artifact, policies)
    args.allocation = _allocation(args.allocation, args.mode)
    if args.parity == "kvpress":
        _check_snapkv(policies, args.tokens, " --parity kvpress")
    # The continuation and the greedy tokens both take positions after the context.
    extra, extra_flag = max((args.continuation, "--continuation"), (args.greedy, "--greedy"))
    _check_size(args.tokens, extra, extra_flag, args.continuation)
    need, why = args.tokens + args.continuation + 1, "--tokens + --continuation + 1"
    return policies, budgets, seeds, read_text(args.text, need, why), need, why


def _evaluate(args) -> int:
    policies, budgets, seeds, text, need, why = _evaluate_inputs(args)
    from rich.console import Console
    from rich.progress import Progress
    from rich.table import Table

    from heurist.policies.kv.evaluate import evaluate_text

    model, tok = _load(args.threads)
    ids = tokenize(text, args.text, tok, need, why)
    n_runs = sum(len(budgets) * (len(seeds) if p == "random" else 1) for p in policies)
    err = Console(stderr=True)
    with Progress(console=err, transient=True, disable=args.json or not err.is_terminal) as bar:
        task = bar.add_task("kv evaluate", total=n_runs)
        rows = evaluate_text(model, ids, policies=policies, budgets=budgets, context=args.tokens,
                             continuation=args.continuation, seeds=seeds, mode=args.mode,
                             greedy_steps=args.greedy, parity=args.parity,
                             policy_kwargs=({"learned": {"artifact": args.artifact}}
                                            if args.artifact else None),
                             allocation=args.allocation,
                             progress=lambda label: bar.update(task, advance=1, description=label))
    # Agreement is NaN when --greedy 0: JSON gets null (NaN is not JSON), the table a dash.
    rows = [{k: (None if isinstance(v, float) and math.isnan(v) else v) for k, v in r.items()}
            for r in rows]
    if args.json:
        json.dump(rows, sys.stdout, indent=1)
        print()
        return 0
    table = Table(title=f"{Path(args.text).name}: {args.tokens} context + {args.continuation} "
                  f"teacher-forced tokens, mode {args.mode} (ppl full {rows[0]['ppl_full']:.3f})")
    for col in ("policy", "budget", "kept", "recall", "KL", "ppl", "agreement"):
        table.add_column(col, justify="left" if col == "policy" else "right")
    for r in rows:
        name = r["policy"] + (f" (seeds {','.join(map(str, r['seeds']))})" if "seeds" in r else "")
        table.add_row(name, f"{r['budget']:g}", str(r["n_kept"]), f"{r['recall']:.4f}",
                      f"{r['kl']:.4f}", f"{r['ppl']:.3f}",
                      "-" if r["agreement"] is None else f"{r['agreement']:.3f}")
    Console().print(table)
    return 0


def _parity(args) -> int:
    from heurist.policies.kv.registry import PARITY_POLICIES, parse_budgets, parse_policies

    # Every flag and the file are checked before torch, transformers and the model load.
    names = parse_policies(args.policy, known=tuple(PARITY_POLICIES),
                           what="policy with a kvpress counterpart")
    budgets = parse_budgets(args.budget)
    _check_seed(args.seed)
    _check_threads(args.threads)
    _check_size(args.tokens, 0, "", 0)
    _check_snapkv(names, args.tokens, "")
    text = read_text(args.text, args.tokens, "--tokens")

    from heurist.policies.kv.parity import parity

    model, tok = _load(args.threads)
    ids = tokenize(text, args.text, tok, args.tokens, "--tokens")[:args.tokens]
    rows = [{"policy": n, "budget": b, "identical_sets": parity(model, ids, n, b, seed=args.seed)}
            for n in names for b in budgets]
    if args.json:
        json.dump(rows, sys.stdout, indent=1)
        print()
    else:
        for r in rows:
            print(f"{r['policy']:>10} @ {r['budget']:g}: {r['identical_sets']:.3f} of "
                  f"(layer, KV head) kept sets identical to kvpress")
    return 0


def register(subparsers) -> None:
    from heurist.policies.kv.registry import EVICTION_MODES, PARITY_MODES  # torch-free

    kv = subparsers.add_parser("kv", help="KV-cache eviction policies on SmolLM2-135M",
                               description=__doc__.split("\n\n")[0])
    sub = kv.add_subparsers(dest="kv_command", metavar="KV_COMMAND", required=True,
                            parser_class=OneLineParser)
    ev = sub.add_parser("evaluate", help="fidelity of eviction policies against the full cache")
    ev.add_argument("--text", required=True, help="UTF-8 text file")
    ev.add_argument("--tokens", type=int, default=512,
                    help=f"context tokens, {MIN_TOKENS} to {MAX_CONTEXT} with the continuation "
                         "(default 512)")
    ev.add_argument("--continuation", type=int, default=64,
                    help="teacher-forced continuation tokens (default 64)")
    ev.add_argument("--budget", default="0.25", help="fractions of the context kept, e.g. 0.25,0.5")
    ev.add_argument("--policy", default=DEFAULT_POLICIES, help=f"comma list (default {DEFAULT_POLICIES})")
    ev.add_argument("--seed", default="0", help="random policy seed(s), e.g. 0 or 0,1,2")
    ev.add_argument("--mode", choices=EVICTION_MODES, default="prefill",
                    help="prefill: compress the context once (kvpress); decode: also evict after "
                         "every continuation token")
    ev.add_argument("--greedy", type=int, default=16, help="greedy steps for agreement (0: skip)")
    ev.add_argument("--json", action="store_true", help="print a JSON list, one object per "
                    "(policy, budget)")
    ev.add_argument("--parity", choices=PARITY_MODES, default="heurist",
                    help="kvpress: score with kvpress's definitions where ours differ "
                         "(TOVA layer-wide, H2O = ObservedAttention, SnapKV window, random)")
    ev.add_argument("--artifact", default=None,
                    help="policy artifact folder for --policy learned (default: the shipped one)")
    ev.add_argument("--allocation", default=None,
                    help="split each budget unevenly over (layer, KV head), same total, prefill "
                         "mode: e.g. ada,s0.75 (AdaKV across heads + deeper layers get more); "
                         "rows are named policy+split; learned-curve: the validated curve of the "
                         "shipped learned scorer, its default in prefill mode (uniform: force the "
                         "equal split; default for every other policy: equal split)")
    ev.add_argument("--threads", type=int, default=0, help="torch CPU threads (0: torch's default)")
    ev.set_defaults(func=_evaluate)
    pa = sub.add_parser("parity", help="kept-set parity with kvpress presses at prefill")
    pa.add_argument("--text", required=True, help="UTF-8 text file")
    pa.add_argument("--tokens", type=int, default=256,
                    help=f"context tokens, {MIN_TOKENS} to {MAX_CONTEXT} (default 256)")
    pa.add_argument("--budget", default="0.25", help="fractions kept, e.g. 0.25,0.5")
    pa.add_argument("--policy", default=PARITY_DEFAULT,
                    help=f"comma list of policies with a kvpress counterpart (default {PARITY_DEFAULT};"
                         f" snapkv needs --tokens > {SNAPKV_WINDOW})")
    pa.add_argument("--seed", type=int, default=0, help="seed for random parity")
    pa.add_argument("--json", action="store_true", help="print JSON")
    pa.add_argument("--threads", type=int, default=0, help="torch CPU threads (0: torch's default)")
    pa.set_defaults(func=_parity)

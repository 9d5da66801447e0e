"""``heurist kv``: KV-cache eviction policies on the real SmolLM2-135M.

    heurist kv evaluate --text FILE [--tokens T] [--continuation C] --budget 0.25[,0.5]
        --policy full,streaming,h2o,tova,snapkv,knorm,scissorhands,random,oracle [--seed S[,S2]]
        [--mode prefill|decode] [--parity heurist|kvpress] [--greedy N]
        [--threads N] [--json]
    heurist kv parity --text FILE [--tokens T] --budget 0.25 [--policy streaming,snapkv,...]
"""
from __future__ import annotations

import json
import math
import sys
from pathlib import Path

__all__ = ["read_tokens", "register"]

DEFAULT_POLICIES = "full,streaming,h2o,tova,snapkv,knorm,scissorhands,random,oracle"


def read_tokens(path: str, tokenizer, need: int):
    """The token ids ``[N]`` of a UTF-8 text file; ``ValueError`` naming the file if unusable."""
    import torch

    p = Path(path)
    if not p.is_file():
        raise FileNotFoundError(f"text file not found: {p}")
    try:
        text = p.read_text(encoding="utf-8")
    except UnicodeDecodeError as e:
        raise ValueError(f"{p}: not UTF-8 text ({e})") from e
    ids = torch.tensor(tokenizer(text, add_special_tokens=False).input_ids, dtype=torch.long)
    if ids.numel() < need:
        raise ValueError(f"{p}: {ids.numel()} tokens, need at least {need} "
                         f"(--tokens + --continuation + 1)")
    return ids


def _seeds(spec: str) -> list[int]:
    try:
        return [int(s) for s in spec.split(",") if s.strip()]
    except ValueError as e:
        raise ValueError(f"--seed takes integers like 0 or 0,1,2: {spec!r}") from e


def _load(threads: int = 0):
    import torch

    from heurist.policies.kv.shared import shared_model

    if threads < 0:
        raise ValueError(f"--threads must be >= 0, got {threads}")
    if threads:  # on oversubscribed shared cores 1 thread beats 2 several-fold
        torch.set_num_threads(threads)

    return shared_model()


def _evaluate(args) -> int:
    from rich.console import Console
    from rich.progress import Progress
    from rich.table import Table

    from heurist.policies.kv.evaluate import evaluate_text, parse_budgets
    from heurist.policies.kv.registry import parse_policies

    policies = parse_policies(args.policy)
    budgets = parse_budgets(args.budget)
    seeds = _seeds(args.seed)
    if not seeds:
        raise ValueError("--seed needs at least one integer")
    if args.tokens < 8 or args.continuation < 1 or args.greedy < 0:
        raise ValueError("need --tokens >= 8, --continuation >= 1 and --greedy >= 0")
    model, tok = _load(args.threads)
    ids = read_tokens(args.text, tok, args.tokens + args.continuation + 1)
    n_runs = sum(len(budgets) * (len(seeds) if p == "random" else 1) for p in policies)
    err = Console(stderr=True)
    with Progress(console=err, transient=True, disable=args.json or not err.is_terminal) as bar:
        task = bar.add_task("kv evaluate", total=n_runs)
        rows = evaluate_text(model, ids, policies=policies, budgets=budgets, context=args.tokens,
                             continuation=args.continuation, seeds=seeds, mode=args.mode,
                             greedy_steps=args.greedy, parity=args.parity,
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
    from heurist.policies.kv.evaluate import parse_budgets
    from heurist.policies.kv.parity import PARITY_POLICIES, parity

    names = [n.strip() for n in args.policy.split(",") if n.strip()]
    for n in names:
        if n not in PARITY_POLICIES:
            raise ValueError(f"no kvpress counterpart for {n!r}; known: {', '.join(PARITY_POLICIES)}")
    budgets = parse_budgets(args.budget)
    if args.tokens < 8:  # a negative slice end below would silently cut the text's tail instead
        raise ValueError(f"need --tokens >= 8, got {args.tokens}")
    model, tok = _load(args.threads)
    ids = read_tokens(args.text, tok, args.tokens)[:args.tokens]
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
    kv = subparsers.add_parser("kv", help="KV-cache eviction policies on SmolLM2-135M",
                               description=__doc__.split("\n\n")[0])
    sub = kv.add_subparsers(dest="kv_command", metavar="KV_COMMAND", required=True)
    ev = sub.add_parser("evaluate", help="fidelity of eviction policies against the full cache")
    ev.add_argument("--text", required=True, help="UTF-8 text file")
    ev.add_argument("--tokens", type=int, default=512, help="context tokens (default 512)")
    ev.add_argument("--continuation", type=int, default=64,
                    help="teacher-forced continuation tokens (default 64)")
    ev.add_argument("--budget", default="0.25", help="fractions of the context kept, e.g. 0.25,0.5")
    ev.add_argument("--policy", default=DEFAULT_POLICIES, help=f"comma list (default {DEFAULT_POLICIES})")
    ev.add_argument("--seed", default="0", help="random policy seed(s), e.g. 0 or 0,1,2")
    ev.add_argument("--mode", choices=("prefill", "decode"), default="prefill",
                    help="prefill: compress the context once (kvpress); decode: also evict after "
                         "every continuation token")
    ev.add_argument("--greedy", type=int, default=16, help="greedy steps for agreement (0: skip)")
    ev.add_argument("--json", action="store_true", help="print a JSON list, one object per "
                    "(policy, budget)")
    ev.add_argument("--parity", choices=("heurist", "kvpress"), default="heurist",
                    help="kvpress: score with kvpress's definitions where ours differ "
                         "(TOVA layer-wide, H2O = ObservedAttention, SnapKV window, random)")
    ev.add_argument("--threads", type=int, default=0, help="torch CPU threads (0: torch's default)")
    ev.set_defaults(func=_evaluate)
    pa = sub.add_parser("parity", help="kept-set parity with kvpress presses at prefill")
    pa.add_argument("--text", required=True, help="UTF-8 text file")
    pa.add_argument("--tokens", type=int, default=256, help="context tokens (default 256)")
    pa.add_argument("--budget", default="0.25", help="fractions kept, e.g. 0.25,0.5")
    pa.add_argument("--policy", default="streaming,snapkv,tova,knorm,observed",
                    help="comma list of policies with a kvpress counterpart")
    pa.add_argument("--seed", type=int, default=0, help="seed for random parity")
    pa.add_argument("--json", action="store_true", help="print JSON")
    pa.add_argument("--threads", type=int, default=0, help="torch CPU threads (0: torch's default)")
    pa.set_defaults(func=_parity)

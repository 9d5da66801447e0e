"""Fidelity of every KV eviction policy x budget x text kind on the real SmolLM2-135M.

Text kinds (all shipped offline): ``chat`` -- ShareGPT conversations through SmolLM2's chat
template; ``code`` -- Python standard-library source; ``prose`` -- Python's LICENSE.txt (English
legal text) and the ``pydoc_data`` topic documentation (English prose). For each text: the
attention-recall PROXY beside the real KL(full || compressed), perplexity and greedy agreement, and
the Spearman rank correlation between recall and KL (expected negative: more recall, less KL).

    python scripts/benchmark_kv_fidelity.py                      # writes docs/benchmarks/kv_fidelity.md
    python scripts/benchmark_kv_fidelity.py --tokens 256 --texts-per-kind 1 --out /tmp/kv.md
"""
from __future__ import annotations

import argparse
import json
import math
import shlex
import statistics
import sys
import sysconfig
import time
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from heurist.policies.kv.evaluate import evaluate_text
from heurist.policies.kv.fidelity import reference_run, run_policy
from heurist.policies.kv.registry import POLICY_NAMES, make_policy, parse_budgets, parse_policies
from heurist.policies.kv.shared import shared_model

KINDS = ("chat", "code", "prose")
NOTES = """\
- Protocol (kvpress's): prefill the context with the full cache, keep `int(T * budget)` entries per
  (layer, KV head) chosen from the prefill observation, then teacher-force the continuation at the
  REAL position ids `T..T+C-1` (mode `prefill`: the continuation is appended uncompressed). In mode
  `decode` the policy's decode form also evicts after every continuation token.
- GQA: SmolLM2 has 9 query heads over 3 KV heads; a KV head's kept set is scored by the MEAN over
  its 3 query heads (kvpress's aggregation). Every KV head keeps its own set, of equal size.
- Parity (`tests/test_kv_parity.py`, `heurist kv parity`): StreamingLLM, SnapKV, TOVA, key norm,
  observed attention (and H2O in `parity="kvpress"`, random in parity mode) keep exactly kvpress's
  sets per (layer, KV head). Documented differences of the default definitions: TOVA scores each
  GQA group (kvpress: one layer-wide set from the mean over all 9 heads); H2O accumulates
  un-normalised attention and keeps a recent half (kvpress's nearest, ObservedAttentionPress,
  normalises by the number of queries and has no recent window); SnapKV shrinks its window to
  `n_kept // 2` when the budget is under twice the window (kvpress then keeps an arbitrary part of
  the window, all tied at `max + 1`); random draws per layer (kvpress's seeded RandomPress re-seeds
  every layer, so all layers keep the same positions). Random is the mean over its seeds.
- The oracle reads the full cache's future attention: it maximises the recall proxy by
  construction (recall is linear in the kept set), an upper reference, not a deployable policy.
- Recall is a proxy: it uses the FULL cache's attention, so it ignores how errors compound through
  the layers. Small KL differences (under ~0.1 nats) between middle policies change from text to
  text and window to window; read rankings over several texts.
"""


def _rank(x: np.ndarray) -> np.ndarray:
    """Ranks with ties averaged (as scipy's rankdata)."""
    order = x.argsort(kind="mergesort")
    ranks = np.empty(len(x))
    ranks[order] = np.arange(len(x), dtype=float)
    for v in np.unique(x):
        idx = x == v
        ranks[idx] = ranks[idx].mean()
    return ranks


def spearman(a, b) -> float:
    """Spearman rank correlation of two equally long sequences."""
    ra, rb = _rank(np.asarray(a, float)), _rank(np.asarray(b, float))
    if ra.std() == 0 or rb.std() == 0:
        return float("nan")
    return float(np.corrcoef(ra, rb)[0, 1])


def prose_texts() -> list[tuple[str, str]]:
    """(name, text): Python's license (legal English) and the pydoc topic docs (English prose)."""
    stdlib = Path(sysconfig.get_paths()["stdlib"])
    lic = stdlib / "LICENSE.txt"
    out = []
    if lic.is_file():
        out.append(("LICENSE.txt", lic.read_text(encoding="utf-8")))
    from pydoc_data.topics import topics

    out.append(("pydoc_data.topics", "\n\n".join(topics[k] for k in sorted(topics))))
    return out


def load_texts(tok, kind: str, count: int, need: int) -> list[tuple[str, torch.Tensor]]:
    """``count`` texts of ``kind``, each at least ``need`` tokens, as (name, ids [N])."""
    if kind == "prose":
        texts = [(n, torch.tensor(tok(t, add_special_tokens=False).input_ids))
                 for n, t in prose_texts()]
        texts = [(n, ids) for n, ids in texts if ids.numel() >= need]
        return texts[:count]
    from heurist.envs.kv.texts import load_samples

    samples = load_samples(tok, kind=kind, count=count, n_tokens=need)
    # Chats share the source name "sharegpt": number them so per-text rows stay apart.
    return [(f"{s.source}#{i}" if kind == "chat" else s.source,
             torch.as_tensor(np.asarray(s.ids), dtype=torch.long)) for i, s in enumerate(samples)]


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--tokens", type=int, default=512, help="context tokens per text")
    ap.add_argument("--continuation", type=int, default=64, help="teacher-forced tokens")
    ap.add_argument("--texts-per-kind", type=int, default=2)
    ap.add_argument("--kinds", default=",".join(KINDS))
    ap.add_argument("--budgets", default="0.1,0.25,0.5")
    ap.add_argument("--policies", default=",".join(POLICY_NAMES))
    ap.add_argument("--seeds", default="0,1,2", help="random policy seeds")
    ap.add_argument("--greedy", type=int, default=8, help="greedy steps for agreement")
    ap.add_argument("--mode", choices=("prefill", "decode"), default="prefill")
    ap.add_argument("--threads", type=int, default=1,
                    help="torch threads (1: on 2 oversubscribed shared cores 2 threads are slower)")
    ap.add_argument("--trap-policies", default="streaming,observed",
                    help="policies also run with positions counted from the compressed length "
                         "(the RoPE trap), at --trap-budget; empty to skip")
    ap.add_argument("--trap-budget", type=float, default=0.25)
    ap.add_argument("--out", default="docs/benchmarks/kv_fidelity.md")
    ap.add_argument("--append", action="store_true", help="append to --out instead of replacing it")
    ap.add_argument("--json", default=None, help="also write the raw rows here")
    args = ap.parse_args(argv)
    kinds = [k.strip() for k in args.kinds.split(",") if k.strip()]
    if any(k not in KINDS for k in kinds):
        raise SystemExit(f"--kinds must be among {KINDS}")
    policies = parse_policies(args.policies, flag="--policies")
    budgets = parse_budgets(args.budgets, flag="--budgets")
    seeds = [int(s) for s in args.seeds.split(",")]
    torch.set_num_threads(args.threads)
    t0 = time.time()
    model, tok = shared_model()
    need = args.tokens + args.continuation + 1
    texts = [(kind, name, ids) for kind in kinds
             for name, ids in load_texts(tok, kind, args.texts_per_kind, need)]
    trap = (parse_policies(args.trap_policies, flag="--trap-policies")
            if args.trap_policies.strip() else [])
    per_text = sum(len(budgets) * (len(seeds) if p == "random" else 1) for p in policies)
    rows, traps = [], []
    with tqdm(total=(per_text + 2 * len(trap)) * len(texts), desc="kv fidelity",
              file=sys.stderr) as bar:
        for kind, name, ids in texts:
            bar.set_postfix_str(f"{kind}:{name}")
            ref = reference_run(model, ids, context=args.tokens, continuation=args.continuation,
                                greedy_steps=args.greedy)
            for r in evaluate_text(model, ids, policies=policies, budgets=budgets,
                                   context=args.tokens, continuation=args.continuation,
                                   seeds=seeds, mode=args.mode, greedy_steps=args.greedy,
                                   progress=lambda _label: bar.update(1), reference=ref):
                rows.append(dict(r, kind=kind, text=name))
            for p in trap:
                kl = [run_policy(model, ref, make_policy(p), args.trap_budget, mode=args.mode,
                                 real_positions=real, greedy=False).kl for real in (True, False)]
                bar.update(2)
                traps.append({"kind": kind, "text": name, "policy": p, "kl_real": kl[0],
                              "kl_trap": kl[1]})
    elapsed = time.time() - t0
    if args.json:
        Path(args.json).write_text(json.dumps({"rows": rows, "traps": traps}, indent=1))
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    text = render(rows, traps, args, argv, texts, elapsed)
    if args.append and Path(args.out).is_file():
        text = Path(args.out).read_text() + "\n" + text
    Path(args.out).write_text(text)
    print(f"wrote {args.out} ({len(rows)} rows, {elapsed:.0f} s)")
    return 0


def _fmt(x: float) -> str:
    return "-" if math.isnan(x) else f"{x:.2f}"  # NaN: agreement not measured (--greedy 0)


def _mean(rows, key):
    return statistics.fmean(r[key] for r in rows)


def render(rows, traps, args, argv, texts, elapsed) -> str:
    # shlex-quoted, so an empty argument (--trap-policies "") survives copy and paste
    cmd = "python " + shlex.join(["scripts/benchmark_kv_fidelity.py", *(
        sys.argv[1:] if argv is None else argv)])
    kinds = sorted({r["kind"] for r in rows}, key=KINDS.index)
    budgets = sorted({r["budget"] for r in rows})
    policies = list(dict.fromkeys(r["policy"] for r in rows))
    out = [f"# KV-cache eviction fidelity on SmolLM2-135M-Instruct (mode {args.mode})", "",
           f"Command: `{cmd}`", "",
           f"Context {args.tokens} tokens, {args.continuation} teacher-forced continuation tokens, "
           f"{args.greedy} greedy steps, mode `{args.mode}`, random over seeds {args.seeds}, "
           f"torch threads {args.threads}; {len(texts)} texts: "
           + ", ".join(f"{k}:{n}" for k, n, _ in texts) + f". Wall time {elapsed:.0f} s on 2 "
           "shared, oversubscribed CPU cores (timings are noisy; the metrics are deterministic).",
           "", ("Recall = attention-recall proxy (fraction of the full cache's continuation attention "
           "on kept entries); KL = mean KL(full || compressed) in nats per teacher-forced position; "
           "ppl = perplexity of the continuation (full cache in the header); agree = greedy-token "
           "agreement with the full cache. Values are means over the texts of a kind."), ""]
    for kind in kinds:
        kr = [r for r in rows if r["kind"] == kind]
        ppl_full = statistics.fmean({r["text"]: r["ppl_full"] for r in kr}.values())
        out += [f"## {kind} (full-cache ppl {ppl_full:.3f})", "",
                "| policy | " + " | ".join(f"recall@{b:g} | KL@{b:g} | ppl@{b:g} | agree@{b:g}"
                                          for b in budgets) + " |",
                "|---|" + "---:|" * (4 * len(budgets))]
        for p in policies:
            cells = []
            for b in budgets:
                sel = [r for r in kr if r["policy"] == p and r["budget"] == b]
                cells += [f"{_mean(sel, 'recall'):.3f}", f"{_mean(sel, 'kl'):.3f}",
                          f"{_mean(sel, 'ppl'):.2f}", _fmt(_mean(sel, "agreement"))]
            out.append(f"| {p} | " + " | ".join(cells) + " |")
        out.append("")
    ev = [r for r in rows if r["policy"] != "full"]
    out += ["## Does the recall proxy rank like the real KL?", "",
            ("Spearman rank correlation between recall and KL over the (policy, budget, text) rows "
            "of evicting policies (negative = higher recall, lower KL)."), "",
            "| rows | n | Spearman(recall, KL) |", "|---|---:|---:|"]
    for kind in kinds:
        sel = [r for r in ev if r["kind"] == kind]
        out.append(f"| {kind} | {len(sel)} | {spearman([r['recall'] for r in sel], [r['kl'] for r in sel]):.3f} |")
    for b in budgets:
        sel = [r for r in ev if r["budget"] == b]
        out.append(f"| budget {b:g} | {len(sel)} | {spearman([r['recall'] for r in sel], [r['kl'] for r in sel]):.3f} |")
    out.append(f"| all | {len(ev)} | {spearman([r['recall'] for r in ev], [r['kl'] for r in ev]):.3f} |")
    out.append("")
    if traps:
        out += [f"## The RoPE positions trap (budget {args.trap_budget:g})", "",
                ("KL with the real position ids after compression (what the evaluator does, as "
                "kvpress's pipeline) against position ids counted from the compressed cache length."),
                "", "| text | policy | KL real positions | KL compressed-length positions | ratio |",
                "|---|---|---:|---:|---:|"]
        for t in traps:
            out.append(f"| {t['kind']}:{t['text']} | {t['policy']} | {t['kl_real']:.3f} | "
                       f"{t['kl_trap']:.3f} | {t['kl_trap'] / t['kl_real']:.1f}x |")
        out.append("")
    if not args.append:
        out += ["## Notes", "", NOTES]
    return "\n".join(out)


if __name__ == "__main__":
    sys.exit(main())

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
import statistics
import sys
import sysconfig
import time
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from heurist.policies.kv.evaluate import evaluate_text, parse_budgets
from heurist.policies.kv.registry import POLICY_NAMES, parse_policies
from heurist.policies.kv.shared import shared_model

KINDS = ("chat", "code", "prose")


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
    return [(s.source, torch.as_tensor(np.asarray(s.ids), dtype=torch.long)) for s in samples]


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
    ap.add_argument("--out", default="docs/benchmarks/kv_fidelity.md")
    ap.add_argument("--json", default=None, help="also write the raw rows here")
    args = ap.parse_args(argv)
    kinds = [k.strip() for k in args.kinds.split(",") if k.strip()]
    if any(k not in KINDS for k in kinds):
        raise SystemExit(f"--kinds must be among {KINDS}")
    policies = parse_policies(args.policies)
    budgets = parse_budgets(args.budgets)
    seeds = [int(s) for s in args.seeds.split(",")]
    torch.set_num_threads(args.threads)
    t0 = time.time()
    model, tok = shared_model()
    need = args.tokens + args.continuation + 1
    texts = [(kind, name, ids) for kind in kinds
             for name, ids in load_texts(tok, kind, args.texts_per_kind, need)]
    per_text = sum(len(budgets) * (len(seeds) if p == "random" else 1) for p in policies)
    rows = []
    with tqdm(total=per_text * len(texts), desc="kv fidelity", file=sys.stderr) as bar:
        for kind, name, ids in texts:
            bar.set_postfix_str(f"{kind}:{name}")
            for r in evaluate_text(model, ids, policies=policies, budgets=budgets,
                                   context=args.tokens, continuation=args.continuation,
                                   seeds=seeds, mode=args.mode, greedy_steps=args.greedy,
                                   progress=lambda _label: bar.update(1)):
                rows.append(dict(r, kind=kind, text=name))
    elapsed = time.time() - t0
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=1))
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(render(rows, args, argv, texts, elapsed))
    print(f"wrote {args.out} ({len(rows)} rows, {elapsed:.0f} s)")
    return 0


def _mean(rows, key):
    return statistics.fmean(r[key] for r in rows)


def render(rows, args, argv, texts, elapsed) -> str:
    cmd = "python scripts/benchmark_kv_fidelity.py" + ("" if not argv else " " + " ".join(argv))
    if argv is None:
        cmd = "python " + " ".join(sys.argv)
    kinds = sorted({r["kind"] for r in rows}, key=KINDS.index)
    budgets = sorted({r["budget"] for r in rows})
    policies = list(dict.fromkeys(r["policy"] for r in rows))
    out = ["# KV-cache eviction fidelity on SmolLM2-135M-Instruct", "",
           f"Command: `{cmd}`", "",
           f"Context {args.tokens} tokens, {args.continuation} teacher-forced continuation tokens, "
           f"{args.greedy} greedy steps, mode `{args.mode}`, random over seeds {args.seeds}, "
           f"torch threads {args.threads}; {len(texts)} texts: "
           + ", ".join(f"{k}:{n}" for k, n, _ in texts) + f". Wall time {elapsed:.0f} s on 2 "
           "shared, oversubscribed CPU cores (timings are noisy; the metrics are deterministic).",
           "", "Recall = attention-recall proxy (fraction of the full cache's continuation attention "
           "on kept entries); KL = mean KL(full || compressed) in nats per teacher-forced position; "
           "ppl = perplexity of the continuation (full cache in the header); agree = greedy-token "
           "agreement with the full cache. Values are means over the texts of a kind.", ""]
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
                          f"{_mean(sel, 'ppl'):.2f}", f"{_mean(sel, 'agreement'):.2f}"]
            out.append(f"| {p} | " + " | ".join(cells) + " |")
        out.append("")
    ev = [r for r in rows if r["policy"] != "full"]
    out += ["## Does the recall proxy rank like the real KL?", "",
            "Spearman rank correlation between recall and KL over the (policy, budget, text) rows "
            "of evicting policies (negative = higher recall, lower KL).", "",
            "| rows | n | Spearman(recall, KL) |", "|---|---:|---:|"]
    for kind in kinds:
        sel = [r for r in ev if r["kind"] == kind]
        out.append(f"| {kind} | {len(sel)} | {spearman([r['recall'] for r in sel], [r['kl'] for r in sel]):.3f} |")
    for b in budgets:
        sel = [r for r in ev if r["budget"] == b]
        out.append(f"| budget {b:g} | {len(sel)} | {spearman([r['recall'] for r in sel], [r['kl'] for r in sel]):.3f} |")
    out.append(f"| all | {len(ev)} | {spearman([r['recall'] for r in ev], [r['kl'] for r in ev]):.3f} |")
    out.append("")
    return "\n".join(out)


if __name__ == "__main__":
    sys.exit(main())

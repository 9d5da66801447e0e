"""Chooses the KV policy AND its budget split on an ENLARGED validation set drawn only from the
TRAIN side of the fixed document split, with paired per-window statistics.

    python -m heurist.agents.kv_scorer.choose --extra 12 --out runs/kv_scorer/choose.jsonl \\
        --candidates "learned=uniform;learned=ada,k0.0864:...;observed=uniform;h2o=uniform"
    python -m heurist.agents.kv_scorer.choose --report --out runs/kv_scorer/choose.jsonl

Validation documents (:func:`validation_documents`): per kind, the first ``docs + extra`` train
documents holding ``T + C`` tokens, minus the first ``docs - val_docs`` -- i.e. the ``val_docs``
documents ``record --docs 16`` already held out of the scorer's training (the old 9 windows), plus
the next ``extra`` TRAIN documents, which no recording, training or knot fit has read (the fits use
the first ``docs - val_docs`` documents). Test documents (``is_test``) are never read. Each
document gives its first window (kvpress's protocol, prefill mode, as :mod:`.allocate`). Prose has
only 24 train documents long enough at 512 tokens, so it gets fewer windows than chat and code; the
summary therefore weights the three kinds equally (``macro``, as the test set's 3 x 3), and also
gives the plain mean over windows.

One JSON line per (candidate, window) -- ``{"policy", "allocation", "kind", "doc", "kl"}`` --
appended to ``--out``; a pair already there is not run again. ``--report`` prints, per candidate,
the means and the PAIRED difference to the best candidate with its standard error (each window is
its own document, so windows are independent samples; the macro SE combines the per-kind
variances), and the mean log ratio of the KLs (robust to the windows whose KL is 10x the others).
"""
from __future__ import annotations

import argparse
import json
import math
import statistics
import time
from pathlib import Path

import torch

from heurist.agents.kv_scorer.data import KINDS, is_test, load_documents
from heurist.policies.kv.allocation import Allocation

__all__ = ["main", "paired", "parse_candidates", "summarise", "validation_documents"]


def validation_documents(tok, *, docs: int, val_docs: int, extra: int, span: int,
                         kinds=KINDS) -> dict[str, list[tuple[str, torch.Tensor]]]:
    """kind -> validation documents ``(id, ids)``: the last ``val_docs`` of the first ``docs``
    train documents of at least ``span`` tokens, then the next ``extra`` train documents."""
    if not 0 < val_docs <= docs or extra < 0:
        raise ValueError(f"need 0 < val_docs <= docs and extra >= 0, got {val_docs}, {docs}, "
                         f"{extra}")
    out = {}
    for kind in kinds:
        picked = load_documents(tok, kind, "train", count=docs + extra, need=span)
        out[kind] = picked[docs - val_docs:]
        assert not any(is_test(kind, d) for d, _ in out[kind])
    return out


def parse_candidates(spec: str) -> list[tuple[str, Allocation]]:
    """``"policy=alloc;policy=alloc;..."`` (``alloc`` as :meth:`Allocation.parse`)."""
    out = []
    for part in (p.strip() for p in spec.split(";") if p.strip()):
        policy, _, alloc = part.partition("=")
        if not policy or not alloc:
            raise ValueError(f"candidate {part!r}: expected POLICY=ALLOCATION")
        out.append((policy.strip(), Allocation.parse(alloc)))
    return out


def _var(xs: list[float]) -> float:
    return statistics.variance(xs) if len(xs) > 1 else 0.0


def paired(a: dict, b: dict, kinds=KINDS) -> dict[str, float]:
    """``a``, ``b``: ``{(kind, doc): kl}`` over the same windows. Mean of ``a - b`` (plain and
    kind-balanced) with standard errors, the mean log ratio with its SE, and a's wins."""
    keys = sorted(set(a) & set(b))
    d = [a[k] - b[k] for k in keys]
    lr = [math.log(a[k] / b[k]) for k in keys]
    by = {kind: [a[k] - b[k] for k in keys if k[0] == kind] for kind in kinds}
    by = {k: v for k, v in by.items() if v}
    macro = statistics.fmean(statistics.fmean(v) for v in by.values())
    macro_se = math.sqrt(sum(_var(v) / len(v) for v in by.values())) / len(by)
    return {"n": len(keys), "diff": statistics.fmean(d), "diff_se": math.sqrt(_var(d) / len(d)),
            "macro_diff": macro, "macro_diff_se": macro_se,
            "log_ratio": statistics.fmean(lr), "log_ratio_se": math.sqrt(_var(lr) / len(lr)),
            "wins": sum(x < 0 for x in d)}


def summarise(rows: list[dict], kinds=KINDS) -> list[dict]:
    """Per candidate (``policy+allocation``): window mean, per-kind means, kind-balanced mean,
    and :func:`paired` against the candidate with the lowest kind-balanced mean (best first)."""
    per: dict[str, dict] = {}
    for r in rows:
        per.setdefault(f"{r['policy']}+{r['allocation']}", {})[(r["kind"], r["doc"])] = r["kl"]
    common = set.intersection(*(set(v) for v in per.values())) if per else set()
    out = []
    for name, kl in per.items():
        kl = {k: v for k, v in kl.items() if k in common}
        by = {kind: statistics.fmean(v for k, v in kl.items() if k[0] == kind) for kind in kinds
              if any(k[0] == kind for k in kl)}
        out.append({"candidate": name, "n": len(kl), "mean": statistics.fmean(kl.values()),
                    "macro": statistics.fmean(by.values()), **by, "_kl": kl})
    out.sort(key=lambda r: r["macro"])
    for r in out:
        r["vs_best"] = paired(r["_kl"], out[0]["_kl"], kinds) if r is not out[0] else None
    for r in out:
        del r["_kl"]
    return out


def _report(path: Path) -> None:
    rows = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    rows = [r for r in rows if "kl" in r]
    summary = summarise(rows)
    best = summary[0]["candidate"]
    print(f"| candidate | windows | macro KL | mean KL | chat | code | prose | "
          f"macro diff vs {best} (SE) | mean log ratio (SE) | wins |")
    print("|---" * 10 + "|")
    for r in summary:
        v = r["vs_best"]
        cmp = ("(best)", "", "") if v is None else (
            f"{v['macro_diff']:+.4f} ({v['macro_diff_se']:.4f})",
            f"{v['log_ratio']:+.3f} ({v['log_ratio_se']:.3f})", f"{v['wins']}/{v['n']}")
        print(f"| {r['candidate']} | {r['n']} | {r['macro']:.4f} | {r['mean']:.4f} | "
              + " | ".join(f"{r.get(k, float('nan')):.4f}" for k in KINDS) + " | "
              + " | ".join(cmp) + " |")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=Path("runs/kv_scorer/choose.jsonl"))
    ap.add_argument("--candidates", default="learned=uniform;observed=uniform;h2o=uniform",
                    help="POLICY=ALLOCATION;... (e.g. learned=ada,k1:2:1)")
    ap.add_argument("--report", action="store_true", help="print the table of --out and stop")
    ap.add_argument("--docs", type=int, default=16, help="train documents per kind (as record)")
    ap.add_argument("--val-docs", type=int, default=3)
    ap.add_argument("--extra", type=int, default=12, help="further held-out train docs per kind")
    ap.add_argument("--budget", type=float, default=0.25)
    ap.add_argument("--context", type=int, default=512)
    ap.add_argument("--continuation", type=int, default=64)
    ap.add_argument("--batch", type=int, default=8, help="windows per batched forward")
    ap.add_argument("--threads", type=int, default=1)
    a = ap.parse_args(argv)
    if a.report:
        if not a.out.is_file():
            ap.error(f"--out {a.out}: no rows (run without --report first)")
        _report(a.out)
        return 0
    try:
        cands = parse_candidates(a.candidates)
    except ValueError as e:
        ap.error(f"--candidates: {e}")
    if not cands or min(a.batch, a.val_docs, a.docs - a.val_docs + 1) < 1 or a.extra < 0:
        ap.error("need candidates, --batch >= 1, 1 <= --val-docs <= --docs, --extra >= 0")
    from heurist.agents.kv_scorer.allocate import batched_kl, prepare
    from heurist.policies.kv.shared import shared_model

    torch.set_num_threads(a.threads)
    model, tok = shared_model()
    done = set()
    if a.out.is_file():
        done = {(r["policy"], r["allocation"], r["kind"], r["doc"])
                for r in map(json.loads, a.out.read_text().splitlines()) if "kl" in r}
    a.out.parent.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    val = validation_documents(tok, docs=a.docs, val_docs=a.val_docs, extra=a.extra,
                               span=a.context + a.continuation)
    policies = list(dict.fromkeys(p for p, _ in cands))
    windows = prepare(model, [(k, d, ids) for k in KINDS for d, ids in val[k]],
                      policies=policies, context=a.context, continuation=a.continuation,
                      budget=a.budget)
    with a.out.open("a") as f:
        f.write(json.dumps({"stage": "validation windows", "windows": [[w.kind, w.doc]
                            for w in windows], "seconds": round(time.perf_counter() - t0, 1)})
                + "\n")
        for policy, alloc in cands:
            todo = [w for w in windows if (policy, alloc.label, w.kind, w.doc) not in done]
            t1 = time.perf_counter()
            for i in range(0, len(todo), a.batch):
                part = todo[i:i + a.batch]
                for w, kl in zip(part, batched_kl(model, part, policy, alloc, a.budget)):
                    f.write(json.dumps({"policy": policy, "allocation": alloc.label,
                                        "kind": w.kind, "doc": w.doc, "kl": kl}) + "\n")
                f.flush()
            print(f"{policy}+{alloc.label}: {len(todo)} windows in "
                  f"{time.perf_counter() - t1:.0f} s", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

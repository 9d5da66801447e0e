"""Learned paging predictors on held-out traces (issue 11 §2/§3): predictor accuracy, miss counts
of every predictor-fed algorithm against ARC, S3-FIFO, LRU and OPT, a cache-size sweep, and each
trace family's held-out part. Prints markdown tables (docs/benchmarks/paging_predictors.md).

    python scripts/benchmark_paging_predictors.py [--predictor DIR] [--ks 10,50,100]
"""
from __future__ import annotations

import argparse
import sys
import time

import numpy as np

CLASSICAL = ("LRU", "FIFO", "CLOCK", "LFU", "ARC", "S3-FIFO")
FED = ("BlindOracle", "PredictiveMarker", "LMarker", "LNonMarker", "Robust", "Discard",
       "DiscardRandomized", "Mark&Predict")


def _accuracy(pred, traces, ks):
    from heurist.agents.paging_predictors.data import labels
    from heurist.envs.paging.predictions import (
        exact_discard_bits,
        exact_phase_bits,
        next_arrival_indices,
    )

    err, never_hit = [], []
    for t in traces:
        p = pred(t, cache_size=10)
        nxt = next_arrival_indices(t)
        ok = nxt >= 0
        gap_pred = p.next_arrival - np.arange(t.size)
        err.append(np.abs(np.log2(gap_pred[ok]) - np.log2(nxt[ok] - np.arange(t.size)[ok])))
        gb, _ = labels(t)
        probs, _ = pred.distributions(t)
        never_hit.append(probs.argmax(1) == gb)
    err = np.concatenate(err)
    rows = [(f"next-arrival |log2 error| (requests with a next request): median "
            f"{np.median(err):.2f}, mean {err.mean():.2f}; gap bucket accuracy "
            f"{np.concatenate(never_hit).mean():.3f}"), "",
            "| k | discard bit error | (all-0 baseline) | phase bit error | (all-0 baseline) |",
            "|---:|---:|---:|---:|---:|"]
    for k in ks:
        d = np.concatenate([pred(t, cache_size=k).discard for t in traces])
        ph = np.concatenate([pred(t, cache_size=k).phase for t in traces])
        ed = np.concatenate([exact_discard_bits(t, k) for t in traces])
        ep = np.concatenate([exact_phase_bits(t, k) for t in traces])
        rows.append(f"| {k} | {np.mean(d != ed):.4f} | {ed.mean():.4f} | {np.mean(ph != ep):.4f} "
                    f"| {ep.mean():.4f} |")
    return rows


def _misses(traces, k, policies, pred):
    from heurist.policies.paging import simulate
    from heurist.policies.paging.learned_ftp import LearnedFTP

    preds = [pred(t, cache_size=k) for t in traces]
    out = {}
    for name in policies:
        pol = LearnedFTP(predictor=pred) if name == "LearnedFTP" else name
        out[name] = sum(simulate(t, k, pol, predictions=p, seed=0).misses
                        for t, p in zip(traces, preds))
    return out


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--predictor", default=None, help="predictor artifact folder (default: "
                        "the shipped one)")
    parser.add_argument("--ks", default="10,50,100")
    parser.add_argument("--sweep", default="5,10,20,50,100")
    args = parser.parse_args(argv)
    try:
        ks = [int(x) for x in args.ks.split(",")]
        sweep = [int(x) for x in args.sweep.split(",")]
    except ValueError:
        print(f"error: --ks/--sweep must be comma-separated integers, got {args.ks!r}/"
              f"{args.sweep!r}", file=sys.stderr)
        return 2
    from tqdm import tqdm

    from heurist.agents.paging_predictors.data import SYNTHETIC, family_traces
    from heurist.policies.paging.learned_predictor import load_predictor

    try:
        pred = load_predictor(args.predictor)
    except (FileNotFoundError, ValueError) as exc:
        print(f"error: --predictor: {exc}", file=sys.stderr)
        return 2
    start = time.perf_counter()
    test = family_traces("brightkite", part="test")
    print("## Predictor accuracy, BrightKite held-out users (30 users, 63,000 requests)\n")
    print("\n".join(_accuracy(pred, test, ks)))
    names = (*FED, "LearnedFTP", "ARC", "S3-FIFO", "LRU", "OPT")
    print("\n## Misses, BrightKite held-out users\n")
    print("| k | " + " | ".join(names) + " |")
    print("|---:|" + "---:|" * len(names))
    for k in tqdm(ks, desc="k", file=sys.stderr):
        m = _misses(test, k, names, pred)
        print(f"| {k} | " + " | ".join(str(m[n]) for n in names) + " |")
    print("\n## Cache-size sweep (predictor trained at k = 10), BrightKite held-out\n")
    print("| k | LearnedFTP | Discard | best classical | OPT | LearnedFTP / best classical |")
    print("|---:|---:|---:|---|---:|---:|")
    for k in tqdm(sweep, desc="sweep", file=sys.stderr):
        m = _misses(test, k, ("LearnedFTP", "Discard", *CLASSICAL, "OPT"), pred)
        best = min(CLASSICAL, key=m.get)
        print(f"| {k} | {m['LearnedFTP']} | {m['Discard']} | {best} {m[best]} | {m['OPT']} | "
              f"{m['LearnedFTP'] / m[best]:.3f} |")
    print("\n## Each family's held-out part (k = 10; synthetic: 10 traces x 2,100 requests)\n")
    print("| family | LearnedFTP | Discard | PredictiveMarker | best classical | OPT | "
          "LearnedFTP / best classical |")
    print("|---|---:|---:|---:|---|---:|---:|")
    for fam in tqdm(("brightkite", *SYNTHETIC), desc="families", file=sys.stderr):
        traces = test if fam == "brightkite" else family_traces(fam, part="test", n_traces=10)
        m = _misses(traces, 10, ("LearnedFTP", "Discard", "PredictiveMarker", *CLASSICAL, "OPT"),
                    pred)
        best = min(CLASSICAL, key=m.get)
        print(f"| {fam} | {m['LearnedFTP']} | {m['Discard']} | {m['PredictiveMarker']} | "
              f"{best} {m[best]} | {m['OPT']} | {m['LearnedFTP'] / m[best]:.3f} |")
    print(f"\n(benchmark wall time {time.perf_counter() - start:.0f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())

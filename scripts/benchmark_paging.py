"""Paging benchmarks: simulator speed against libCacheSim, and policy quality on BrightKite.

Speed: the same 1e6-request Zipf trace (alpha 1, 1e5 ids) through heurist's simulator and through
libCacheSim's C simulator (``libcachesim`` python package, GPL, imported only here) in this process,
LRU and Belady/OPT at k = 1000 and 10000. The trace is written as a libCacheSim ``oracleGeneral``
binary with the next-access field filled (libCacheSim's Belady reads it; without it the answer is
silently wrong) and read back with heurist's loader. Miss counts must be identical (asserted).

Quality: misses / OPT summed over the 100 BrightKite traces at k = 10 for every policy, with
noise sweeps for the predictors (lognormal sigma for next arrivals, bit-flip rate for the 1-bit
predictions), plus a PNG plot.

    python scripts/benchmark_paging.py [--quick] [--skip-speed] [--skip-quality]
"""
from __future__ import annotations

import argparse
import math
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from heurist.envs.paging import (
    DiscardBits,
    NoisyNextArrival,
    PhaseBits,
    densify,
    generators,
    load_trace,
    write_oracle_general,
)
from heurist.policies.paging import Robust, get_policy, list_policies, simulate

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data" / "paging" / "brightkite"


def time_best(fn, repeats: int) -> tuple[float, object]:
    best, out = math.inf, None
    for _ in range(repeats):
        start = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - start)
    return best, out


def speed(args) -> list[dict]:
    import libcachesim as lcs

    n_req, n_ids = (200_000, 20_000) if args.quick else (1_000_000, 100_000)
    trace = generators.zipf(n_req, n_pages=n_ids, alpha=1.0, rng=np.random.default_rng(args.seed))
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        path = write_oracle_general(Path(tmp) / "zipf.oracleGeneral.bin", trace)
        loaded = load_trace(path)
        assert np.array_equal(loaded, densify(trace)), "oracleGeneral round trip changed the trace"
        n_objects = int(np.unique(trace).size)
        hashpower = math.ceil(math.log2(n_objects)) + 1
        simulate(loaded[:1000], 10, "LRU")  # numba: load compiled kernels outside the timing
        simulate(loaded[:1000], 10, "OPT")
        for policy, lcs_cls in (("LRU", lcs.LRU), ("OPT", lcs.Belady)):
            for k in (1000, 10000):
                def run_lcs(k=k, lcs_cls=lcs_cls):
                    reader = lcs.TraceReader(str(path), lcs.TraceType.ORACLE_GENERAL_TRACE,
                                             lcs.ReaderInitParam())
                    cache = lcs_cls(cache_size=k, hashpower=hashpower)
                    miss_ratio, _ = cache.process_trace(reader)
                    return round(miss_ratio * n_req)

                t_lcs, lcs_misses = time_best(run_lcs, args.repeats)
                t_ours, ours = time_best(lambda k=k, p=policy: simulate(loaded, k, p), args.repeats)
                assert ours.misses == lcs_misses, (policy, k, ours.misses, lcs_misses)
                row = {"policy": policy, "k": k, "misses": ours.misses,
                       "heurist_req_s": n_req / t_ours, "libcachesim_req_s": n_req / t_lcs,
                       "ratio": t_lcs / t_ours}
                rows.append(row)
                print(f"{policy:4s} k={k:6d} misses={ours.misses:8d} (identical)  heurist "
                      f"{row['heurist_req_s'] / 1e6:6.2f} M req/s  libCacheSim "
                      f"{row['libcachesim_req_s'] / 1e6:6.2f} M req/s  ratio {row['ratio']:.2f}x",
                      flush=True)
        print("\nMiss counts of other policies, heurist vs libCacheSim (same trace):")
        for policy, lcs_cls in (("FIFO", lcs.FIFO), ("CLOCK", lcs.Clock), ("LFU", lcs.LFU),
                                ("ARC", lcs.ARC), ("S3-FIFO", lcs.S3FIFO)):
            for k in (100, 1000, 10000):
                reader = lcs.TraceReader(str(path), lcs.TraceType.ORACLE_GENERAL_TRACE,
                                         lcs.ReaderInitParam())
                miss_ratio, _ = lcs_cls(cache_size=k, hashpower=hashpower).process_trace(reader)
                theirs, ours = round(miss_ratio * n_req), simulate(loaded, k, policy).misses
                if policy != "S3-FIFO":  # S3-FIFO's queue details differ (see the docs)
                    assert ours == theirs, (policy, k, ours, theirs)
                print(f"{policy:8s} k={k:6d} heurist {ours:8d}  libCacheSim {theirs:8d}  "
                      f"{'identical' if ours == theirs else f'{(ours - theirs) / theirs:+.2%}'}",
                      flush=True)
    print(f"\n{n_req} requests, {n_objects} distinct ids, hashpower {hashpower}, best of "
          f"{args.repeats}")
    return rows


NEXT_ARRIVAL = ("BlindOracle", "PredictiveMarker", "LMarker", "LNonMarker", "Robust")
DISCARD = ("Discard", "DiscardRandomized")
PHASE = ("Mark&Predict",)


def quality(args) -> None:
    from rich.progress import track

    files = sorted(Path(args.data).glob("*.txt"))
    if not files:
        sys.exit(f"no BrightKite traces in {args.data}")
    if args.quick:
        files = files[:25]
    traces = [load_trace(f) for f in files]
    k = args.cache_size

    def total(name, predictor=None) -> float:
        runs = []
        for seed in range(args.seeds):
            count = 0
            for i, trace in enumerate(traces):
                rng = np.random.default_rng([seed, i])
                preds = predictor(trace, cache_size=k, rng=rng) if predictor else None
                count += simulate(trace, k, name, predictions=preds, seed=seed * 1000 + i).misses
            runs.append(count)
        return float(np.mean(runs))

    opt = total("OPT")
    plain = [n for n in list_policies() if not get_policy(n).needs]
    print(f"\nBrightKite, {len(traces)} traces, k = {k}, OPT = {opt:.0f} misses "
          f"(mean over {args.seeds} seed(s) for randomized policies)\n")
    print("| policy | misses | misses / OPT |\n|---|---:|---:|")
    for name in plain:
        misses = total(name)
        print(f"| {name} | {misses:.0f} | {misses / opt:.3f} |")
    sigmas = [0, 2, 10, 50] if args.quick else [0, 1, 2, 5, 10, 20, 50, 100]
    flips = [0, 0.1, 0.3] if args.quick else [0, 0.05, 0.1, 0.2, 0.3, 0.5]
    table = {}
    for name in track(NEXT_ARRIVAL, description="next-arrival sweep"):
        table[name] = [total(name, NoisyNextArrival(sigma=s)) / opt for s in sigmas]
    print("\nNext-arrival predictions with lognormal noise (misses / OPT):\n")
    print("| policy | " + " | ".join(f"sigma={s}" for s in sigmas) + " |")
    print("|---|" + "---:|" * len(sigmas))
    for name, ratios in table.items():
        print(f"| {name} | " + " | ".join(f"{r:.3f}" for r in ratios) + " |")
    bits = {}
    robust_discard = Robust(follow="Discard", fallback="RandomizedMarker")
    for name in track((*DISCARD, "Robust(Discard)", *PHASE), description="1-bit sweep"):
        make = PhaseBits if name in PHASE else DiscardBits
        policy = robust_discard if name == "Robust(Discard)" else name
        bits[name] = [total(policy, make(flip_rate=f)) / opt for f in flips]
    print("\n1-bit predictions with bit flips (misses / OPT):\n")
    print("| policy | " + " | ".join(f"flip={f}" for f in flips) + " |")
    print("|---|" + "---:|" * len(flips))
    for name, ratios in bits.items():
        print(f"| {name} | " + " | ".join(f"{r:.3f}" for r in ratios) + " |")
    if args.plot:
        plot(args.plot, sigmas, table, flips, bits,
             {n: total(n) / opt for n in ("LRU", "RandomizedMarker")})


def plot(path, sigmas, table, flips, bits, references) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4.2))
    x = [max(s, 0.5) for s in sigmas]
    for name, ratios in table.items():
        left.plot(x, ratios, marker="o", label=name)
    for ax in (left, right):
        for name, ratio in references.items():
            ax.axhline(ratio, linestyle="--", linewidth=1, color="grey")
            ax.annotate(name, (ax.get_xlim()[0] if ax is right else 0.5, ratio), fontsize=8,
                        color="grey", va="bottom")
        ax.set_ylabel("misses / OPT")
        ax.grid(alpha=0.3)
    left.set_xscale("log")
    left.set_xlabel("lognormal noise sigma (0 plotted at 0.5)")
    left.set_title("next-arrival predictions")
    left.legend(fontsize=8)
    for name, ratios in bits.items():
        right.plot(flips, ratios, marker="o", label=name)
    right.set_xlabel("bit-flip rate")
    right.set_title("1-bit predictions")
    right.legend(fontsize=8)
    fig.suptitle("BrightKite (k = 10): policy misses relative to Belady")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    print(f"\nplot written to {path}")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smaller trace, fewer sweep points")
    parser.add_argument("--skip-speed", action="store_true")
    parser.add_argument("--skip-quality", action="store_true")
    parser.add_argument("--repeats", type=int, default=3, help="timing repeats (best is kept)")
    parser.add_argument("--seeds", type=int, default=1, help="seeds averaged for randomized rows")
    parser.add_argument("--seed", type=int, default=0, help="seed of the Zipf trace")
    parser.add_argument("--cache-size", type=int, default=10, help="k for the quality table")
    parser.add_argument("--data", default=str(DATA), help="folder of BrightKite *.txt traces")
    parser.add_argument("--plot", default=str(ROOT / "docs" / "benchmarks" / "paging.png"),
                        help="PNG path for the quality plot ('' to skip)")
    args = parser.parse_args(argv)
    if not args.skip_speed:
        speed(args)
    if not args.skip_quality:
        quality(args)
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Paging benchmarks: simulator speed against libCacheSim, and policy quality on BrightKite.

Speed, end to end from the same file to the same miss count: a 1e6-request Zipf trace (alpha 1,
1e5 ids) is written twice, as a libCacheSim ``oracleGeneral`` binary (next-access field filled;
libCacheSim's Belady reads it) and as one-id-per-line text. For LRU and OPT at k = 1,000 and
10,000 each side is timed from the file name to the miss count: libCacheSim's
``TraceReader`` + ``process_trace`` (the ``libcachesim`` python package, GPL, imported only here)
against heurist's ``simulate(load_trace(path), k, policy)`` and its chunked
``simulate_file(path, k, policy)``. The kernel alone (``simulate`` on the loaded array) is a second
column. Miss counts are asserted identical, except libCacheSim's Belady on text, which has no
next-access field and silently returns a wrong count (reported, not asserted).

Kernels (``--kernels``): every policy's simulate on the in-memory trace at k = 1,000 and 10,000;
``--baseline PKG`` times a second copy of the policies (e.g. an older commit's, importable as
``PKG``) in the same process, side by side.

Quality: misses / OPT summed over the 100 BrightKite traces at k = 10 for every policy, with
noise sweeps for the predictors (lognormal sigma for next arrivals, bit-flip rate for the 1-bit
predictions), plus a PNG plot.

    python scripts/benchmark_paging.py [--quick] [--skip-speed] [--skip-quality] [--kernels]
"""
from __future__ import annotations

import argparse
import importlib
import math
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from heurist.envs.common.data import data_dir
from heurist.envs.paging import (
    CombinedPredictor,
    DiscardBits,
    NoisyNextArrival,
    PhaseBits,
    densify,
    generators,
    load_trace,
    write_oracle_general,
)
from heurist.policies.paging import Robust, get_policy, list_policies, simulate, simulate_file

ROOT = Path(__file__).resolve().parents[1]


def time_best(fn, repeats: int) -> tuple[float, object]:
    best, out = math.inf, None
    for _ in range(repeats):
        start = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - start)
    return best, out


def zipf_trace(args) -> np.ndarray:
    n_req, n_ids = (200_000, 20_000) if args.quick else (1_000_000, 100_000)
    return generators.zipf(n_req, n_pages=n_ids, alpha=1.0, rng=np.random.default_rng(args.seed))


def speed(args) -> list[dict]:
    import libcachesim as lcs

    trace = zipf_trace(args)
    n_req = trace.size
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        files = {"oracleGeneral": (write_oracle_general(Path(tmp) / "zipf.oracleGeneral.bin",
                                                        trace),
                                   lcs.TraceType.ORACLE_GENERAL_TRACE),
                 "text": (Path(tmp) / "zipf.txt", lcs.TraceType.PLAIN_TXT_TRACE)}
        np.savetxt(files["text"][0], trace, fmt="%d")
        loaded = load_trace(files["oracleGeneral"][0])
        for path, _ in files.values():
            assert np.array_equal(load_trace(path), densify(trace)), f"{path} round trip"
        n_objects = int(np.unique(trace).size)
        hashpower = math.ceil(math.log2(n_objects)) + 1
        for policy in ("LRU", "OPT"):  # numba: load compiled kernels outside the timing
            simulate(loaded[:1000], 10, policy)
            simulate_file(files["oracleGeneral"][0], 10, policy)
        print(f"{'format':13s} {'policy':6s} {'k':>6s} {'misses':>8s}  {'heurist e2e':>11s} "
              f"{'stream e2e':>10s} {'kernel':>8s} {'libCacheSim':>11s}  e2e ratio", flush=True)
        for fmt, (path, lcs_type) in files.items():
            for policy, lcs_cls in (("LRU", lcs.LRU), ("OPT", lcs.Belady)):
                for k in (1000, 10000):
                    def run_lcs(k=k, lcs_cls=lcs_cls, path=path, lcs_type=lcs_type):
                        reader = lcs.TraceReader(str(path), lcs_type, lcs.ReaderInitParam())
                        miss_ratio, _ = lcs_cls(cache_size=k, hashpower=hashpower).process_trace(
                            reader)
                        return round(miss_ratio * n_req)

                    def run_ours(k=k, policy=policy, path=path):
                        return simulate(load_trace(path), k, policy).misses

                    streams = policy != "OPT" or fmt == "oracleGeneral"
                    t_lcs, theirs = time_best(run_lcs, args.repeats)
                    t_e2e, ours = time_best(run_ours, args.repeats)
                    t_stream, streamed = (time_best(
                        lambda k=k, p=policy, f=path: simulate_file(f, k, p).misses, args.repeats)
                        if streams else (math.nan, ours))
                    t_kernel, _ = time_best(lambda k=k, p=policy: simulate(loaded, k, p),
                                            args.repeats)
                    assert ours == streamed, (fmt, policy, k, ours, streamed)
                    wrong = fmt == "text" and policy == "OPT"  # no next-access field in text
                    if not wrong:
                        assert ours == theirs, (fmt, policy, k, ours, theirs)
                    row = {"format": fmt, "policy": policy, "k": k, "misses": ours,
                           "libcachesim_misses": theirs, "heurist_e2e_s": t_e2e,
                           "stream_e2e_s": t_stream, "kernel_s": t_kernel,
                           "libcachesim_s": t_lcs, "ratio": t_lcs / t_e2e}
                    rows.append(row)
                    note = (f"  (libCacheSim: {theirs} misses, wrong: text has no next access)"
                            if wrong else "")
                    print(f"{fmt:13s} {policy:6s} {k:6d} {ours:8d}  {t_e2e * 1e3:9.1f}ms "
                          f"{t_stream * 1e3:8.1f}ms {t_kernel * 1e3:6.1f}ms "
                          f"{t_lcs * 1e3:9.1f}ms  {row['ratio']:5.2f}x{note}", flush=True)
        print("\nMiss counts of other policies, heurist vs libCacheSim (same oracleGeneral file):")
        path = files["oracleGeneral"][0]
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
          f"{args.repeats}; e2e = from the file name to the miss count")
    return rows


def kernels(args) -> None:
    """Every policy's kernel on the in-memory Zipf trace (and a baseline copy's, if given)."""
    trace = densify(zipf_trace(args))
    predictor = CombinedPredictor(NoisyNextArrival(sigma=10), DiscardBits(flip_rate=0.1),
                                  PhaseBits(flip_rate=0.1))
    preds = predictor(trace, cache_size=1000, rng=np.random.default_rng(0))
    sims = {"heurist": simulate}
    if args.baseline:
        sims["baseline"] = importlib.import_module(args.baseline).simulate
    print(f"\n{'policy':18s} {'k':>6s} {'misses':>8s} " + " ".join(f"{n + ' M req/s':>18s}"
                                                               for n in sims))
    for name in list_policies():
        for k in (1000, 10000):
            speeds, counts = [], set()
            for sim in sims.values():
                # A predictor callable, not the Predictions object: a baseline copy checks
                # isinstance against its own class.
                sim(trace[:2000], 10, name, predictions=lambda t, **_: preds.__class__(
                    next_arrival=preds.next_arrival[:t.size], discard=preds.discard[:t.size],
                    phase=preds.phase[:t.size]))
                t, result = time_best(lambda s=sim, k=k, n=name: s(
                    trace, k, n, predictions=lambda *_, **__: preds), args.repeats)
                speeds.append(trace.size / t / 1e6)
                counts.add(result.misses)
            assert len(counts) == 1, (name, k, counts)
            print(f"{name:18s} {k:6d} {counts.pop():8d} " + " ".join(f"{v:18.2f}" for v in speeds),
                  flush=True)


NEXT_ARRIVAL = ("BlindOracle", "PredictiveMarker", "LMarker", "LNonMarker", "Robust")
DISCARD = ("Discard", "DiscardRandomized")
PHASE = ("Mark&Predict",)


def quality(args) -> None:
    from rich.progress import track

    files = sorted(Path(args.data or data_dir("paging/brightkite")).glob("*.txt"))
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
    parser.add_argument("--kernels", action="store_true", help="time every policy's kernel")
    parser.add_argument("--baseline", default=None, metavar="PKG", help="with --kernels: a module "
                        "with another copy's simulate (e.g. an older commit's), timed alongside")
    parser.add_argument("--repeats", type=int, default=5, help="timing repeats (best is kept)")
    parser.add_argument("--seeds", type=int, default=1, help="seeds averaged for randomized rows")
    parser.add_argument("--seed", type=int, default=0, help="seed of the Zipf trace")
    parser.add_argument("--cache-size", type=int, default=10, help="k for the quality table")
    parser.add_argument("--data", default=None, help="folder of BrightKite *.txt traces "
                        "(default: the shipped data set)")
    parser.add_argument("--plot", default=str(ROOT / "docs" / "benchmarks" / "paging.png"),
                        help="PNG path for the quality plot ('' to skip)")
    args = parser.parse_args(argv)
    if not args.skip_speed:
        speed(args)
    if args.kernels:
        kernels(args)
    if not args.skip_quality:
        quality(args)
    return 0


if __name__ == "__main__":
    sys.exit(main())

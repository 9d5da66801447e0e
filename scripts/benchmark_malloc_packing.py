"""Benchmark of the malloc planners; prints Markdown for docs/benchmarks/malloc_packing.md.

1. Timing: every greedy planner (packing and mapping) and ``check_plan`` on 60,000-buffer
   synthetic instances (a random program and a zero-slack guillotine instance). Wall and CPU
   (process) seconds, best of ``--repeats``: on a shared machine CPU time is the steadier one.
2. Packing on MiniMalloc's challenging A..K: peak / capacity and seconds of every greedy planner,
   whether the exact skyline search finds one within the capacity in ``--skyline-nodes`` nodes,
   and whether CP-SAT does in ``--cpsat-time-limit`` seconds.

Usage:
    python scripts/benchmark_malloc_packing.py [--data DIR] [--cpsat-time-limit 60]
        [--workers 1] [--skyline-nodes 2000000] [--n 60000] [--repeats 3] [--skip-cpsat]
        [--skip-timing]
"""
from __future__ import annotations

import argparse
import functools
import platform
import sys
import time
from pathlib import Path

import numpy as np

from heurist.envs.common.data import data_dir
from heurist.envs.malloc import read_csv
from heurist.envs.malloc.synthetic import random_instance, zero_slack_instance
from heurist.policies.malloc import (
    GREEDY_PLANNERS,
    check_plan,
    cpsat_pack,
    peak_live_bytes,
    skyline_pack,
)

__all__ = ["main"]



def best_of(fn, repeats: int):
    best_wall, best_cpu, out = float("inf"), float("inf"), None
    for _ in range(repeats):
        w, c = time.perf_counter(), time.process_time()
        out = fn()
        best_wall = min(best_wall, time.perf_counter() - w)
        best_cpu = min(best_cpu, time.process_time() - c)
    return out, best_wall, best_cpu


def timing_section(n: int, repeats: int) -> list[str]:
    lines = [f"## Timing on {n:,}-buffer synthetic instances (best of {repeats})", "",
             "| instance | peak live / C | planner | mode | wall s | CPU s | peak / C | slow |",
             "|---|---|---|---|---|---|---|---|"]
    random_inst = random_instance(n, seed=0)
    zero_inst, zero_offsets = zero_slack_instance(n, seed=0, capacity=2**30, horizon=100_000,
                                                  alignment=1024)
    warm = random_instance(50, seed=1)
    for fn in GREEDY_PLANNERS.values():  # compile / load the numba kernels outside the timing
        fn(warm, mode="packing")
    checks = []
    for label, inst in (("random (seed 0)", random_inst), ("zero-slack (seed 0)", zero_inst)):
        ratio = peak_live_bytes(inst) / inst.capacity
        for name, fn in GREEDY_PLANNERS.items():
            for mode in ("packing", "mapping"):
                offsets, wall, cpu = best_of(functools.partial(fn, inst, mode=mode), repeats)
                check = check_plan(inst, offsets, mode=mode, enforce_capacity=mode == "mapping")
                assert check.valid, (label, name, mode, check.first)
                lines.append(f"| {label} | {ratio:.3f} | {name} | {mode} | {wall:.3f} | {cpu:.3f} "
                             f"| {check.peak / inst.capacity:.3f} | {int((offsets < 0).sum())} |")
        offsets = zero_offsets if inst is zero_inst else GREEDY_PLANNERS["greedy_size"](inst)
        check, wall, cpu = best_of(functools.partial(check_plan, inst, offsets, mode="packing",
                                                     enforce_capacity=False), repeats)
        checks.append(f"| {label} | {wall:.3f} | {cpu:.3f} | {check.valid} |")
    lines += ["", "`check_plan` (packing mode, O(N log N) sweep):", "",
              "| instance | wall s | CPU s | valid |", "|---|---|---|---|", *checks, ""]
    return lines


def packing_section(data: Path, cpsat_limit: float, workers: int, skip_cpsat: bool,
                    skyline_nodes: int) -> list[str]:
    files = sorted(data.glob("[A-K].*.csv"))
    if not files:
        raise FileNotFoundError(f"{data}: no A..K MiniMalloc files")
    names = list(GREEDY_PLANNERS)
    head = "| file | N | peak live / C | " + " | ".join(f"{n} peak/C (s)" for n in names)
    head += f" | skyline at C ({skyline_nodes:,} nodes)"
    head += " |" if skip_cpsat else f" | CP-SAT at C ({cpsat_limit:g} s limit) |"
    lines = ["## Packing on MiniMalloc challenging A..K (capacity 2^20)", "", head,
             "|" + "---|" * (4 + len(names) + (0 if skip_cpsat else 1))]
    solved = 0
    sky_solved = 0
    skyline_pack(read_csv(files[0])[0], node_limit=10)  # compile outside the timing
    for f in files:
        inst, _ = read_csv(f)
        cells = [f.name.split(".")[0], str(inst.n), f"{peak_live_bytes(inst) / inst.capacity:.4f}"]
        for fn in GREEDY_PLANNERS.values():
            offsets, wall, _ = best_of(functools.partial(fn, inst, mode="packing"), 1)
            check = check_plan(inst, offsets, mode="packing", enforce_capacity=False)
            assert check.valid
            cells.append(f"{check.peak / inst.capacity:.3f} ({wall:.3f})")
        t = time.perf_counter()
        sky = skyline_pack(inst, node_limit=skyline_nodes)
        wall = time.perf_counter() - t
        ok = sky.offsets is not None and check_plan(inst, sky.offsets, mode="packing").valid
        sky_solved += ok
        cells.append(f"{sky.status}, {sky.nodes:,} nodes ({wall:.2f} s)")
        if not skip_cpsat:
            t = time.perf_counter()
            result = cpsat_pack(inst, capacity=inst.capacity, time_limit=cpsat_limit, seed=0,
                                workers=workers)
            wall = time.perf_counter() - t
            ok = result.offsets is not None and check_plan(inst, result.offsets,
                                                           mode="packing").valid
            solved += ok
            cells.append(f"{result.status} ({wall:.1f} s)")
        lines.append("| " + " | ".join(cells) + " |")
        print(lines[-1], file=sys.stderr, flush=True)
    lines += ["", (f"Skyline search ({skyline_nodes:,} nodes) packs {sky_solved} of {len(files)} "
                   "within the capacity (each found packing re-checked by check_plan)."), ""]
    if not skip_cpsat:
        lines += ["", (f"CP-SAT ({workers} worker(s), {cpsat_limit:g} s each) packs "
                       f"{solved} of {len(files)} within the capacity."), ""]
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=None,
                        help="folder of A..K (default: the shipped malloc/minimalloc-challenging)")
    parser.add_argument("--cpsat-time-limit", type=float, default=60.0)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--skyline-nodes", type=int, default=2_000_000)
    parser.add_argument("--n", type=int, default=60_000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--skip-cpsat", action="store_true")
    parser.add_argument("--skip-timing", action="store_true")
    args = parser.parse_args(argv)
    lines = [(f"<!-- {platform.processor() or platform.machine()}, python "
              f"{platform.python_version()}, numpy {np.__version__} -->"), ""]
    if not args.skip_timing:
        lines += timing_section(args.n, args.repeats)
    lines += packing_section(args.data or data_dir("malloc/minimalloc-challenging"), args.cpsat_time_limit, args.workers, args.skip_cpsat,
                             args.skyline_nodes)
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())

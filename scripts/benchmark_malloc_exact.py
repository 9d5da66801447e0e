"""Exact packing of MiniMalloc's challenging A..K at capacity 2^20 with the ``minimalloc`` search.

For each file: a 20,000-node probe measures this machine's node rate on it, then one run with
a node budget of ``rate * --time-limit`` (the search is bounded by nodes, so it is
deterministic for a given budget). With ``--nodes N`` every file gets the fixed budget N instead
(the same work on every machine and every version: compare node rates). Prints a Markdown table:
solved, CPU and wall seconds, nodes, nodes per CPU second; every packing found is re-checked by
``check_plan``.

Usage: python scripts/benchmark_malloc_exact.py [--data DIR] [--time-limit 60 | --nodes N]
       [--files ABC...]
"""
from __future__ import annotations

import argparse
import time
from pathlib import Path

from heurist.envs.common.data import data_dir
from heurist.envs.malloc import read_csv
from heurist.envs.malloc.oracle import check_plan
from heurist.policies.malloc.minimalloc_search import minimalloc_pack


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=None,
                        help="folder of the A..K CSVs (default: the shipped "
                        "malloc/minimalloc-challenging)")
    parser.add_argument("--time-limit", type=float, default=60.0, help="seconds per file")
    parser.add_argument("--nodes", type=int, default=None,
                        help="fixed node budget per file (overrides --time-limit)")
    parser.add_argument("--files", default="ABCDEFGHIJK", help="letters of the files to run")
    args = parser.parse_args()
    folder = args.data or data_dir("malloc/minimalloc-challenging")
    minimalloc_pack(read_csv(folder / "A.1048576.csv")[0], node_limit=10)  # compile
    print("| file | N | solved | CPU s | wall s | nodes | node budget | nodes / CPU s |")
    print("|---|---|---|---|---|---|---|---|")
    for name in args.files:
        inst, _ = read_csv(folder / f"{name}.1048576.csv")
        if args.nodes is None:
            t = time.process_time()
            probe = minimalloc_pack(inst, node_limit=20_000)
            rate = probe.nodes / max(time.process_time() - t, 1e-3)
            budget = max(20_000, int(rate * args.time_limit))
        else:
            budget = args.nodes
        w, t = time.perf_counter(), time.process_time()
        result = minimalloc_pack(inst, node_limit=budget)
        cpu, wall = time.process_time() - t, time.perf_counter() - w
        solved = result.offsets is not None
        if solved:
            check = check_plan(inst, result.offsets, mode="packing")
            assert check.valid and check.peak <= inst.capacity, name
        print(f"| {name} | {inst.n} | {'yes' if solved else 'no (' + result.status + ')'} "
              f"| {cpu:.2f} | {wall:.2f} | {result.nodes:,} | {budget:,} "
              f"| {result.nodes / max(cpu, 1e-9):,.0f} |", flush=True)


if __name__ == "__main__":
    main()

"""Section 4 (packing) of issue 10: does a learned prior cut the exact ``minimalloc`` search's node
count when it orders the buffers? What the search's public API allows to measure.

``minimalloc_pack(inst, order=...)`` takes only *static criteria strings* over ``TWALalSE``
(section total, size, area, lifespan, ... descending; ties by buffer index), one or a portfolio;
there is no hook for an arbitrary per-buffer rank (a learned score). So a learned order cannot be
fed to it without editing ``policies/malloc/minimalloc_search.py`` (``_ranks``/``_rerank``).
This script measures what bounds the question instead, on the generator family of zero-slack
guillotine tilings of ``benchmark_malloc_exact.py`` (``zero_slack_instance(n, seed,
capacity=2^20, horizon=n/2)``):

- the default portfolio (``MINIMALLOC_ORDERS``) and each single static order: how much the order
  alone moves the node count (the room a better order has);
- ``perm``: the default portfolio on the same instance with its buffers renumbered at random
  (seed 0): the only ordering lever left to a caller, the index tie-break.

    OMP_NUM_THREADS=1 nice -n 10 python scripts/benchmark_muzero_packing_order.py \\
        [--sizes 100,200,400] [--seeds 0,1,2] [--nodes 100000] [--orders TLA,TAL,LAT,W,A]

Cells: nodes (``*`` = not packed within ``--nodes``; ``>Ns`` = still running after
``--cell-seconds`` of wall, killed: each cell runs in a forked child, so the compiled search is
shared and a cell that does not stop at its node budget cannot stall the table). Every packing
is checked by ``check_plan``.
"""
from __future__ import annotations

import argparse
import multiprocessing as mp
import subprocess
import time

import numpy as np


def _permuted(inst, seed: int):
    from heurist.envs.malloc.instance import MallocInstance

    p = np.random.default_rng(seed).permutation(inst.n)
    return MallocInstance.from_intervals(inst.size[p], inst.start[p], inst.end[p],
                                         memory=inst.memory), p


def _cell(conn, target, nodes: int, kw: dict) -> None:
    from heurist.envs.malloc.plan_check import check_plan
    from heurist.policies.malloc.minimalloc_search import minimalloc_pack

    res = minimalloc_pack(target, node_limit=nodes, **kw)
    if res.offsets is not None:
        assert check_plan(target, res.offsets, mode="packing").valid
        assert res.offsets.size == target.n
    conn.send((res.nodes, res.status))


def _run_cell(target, nodes: int, kw: dict, seconds: float) -> str:
    ctx = mp.get_context("fork")
    parent, child = ctx.Pipe(duplex=False)
    proc = ctx.Process(target=_cell, args=(child, target, nodes, kw))
    proc.start()
    ready = parent.poll(seconds)
    if not ready:
        proc.kill()
        proc.join()
        return f">{seconds:.0f}s"
    n, status = parent.recv()
    proc.join()
    return f"{n:,}" + ("" if status == "feasible" else "*")


def main(argv=None) -> None:
    from heurist.envs.malloc.synthetic import zero_slack_instance
    from heurist.policies.malloc.minimalloc_search import MINIMALLOC_ORDERS, minimalloc_pack

    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--sizes", default="100,200,400")
    ap.add_argument("--seeds", default="0,1,2")
    ap.add_argument("--nodes", type=int, default=100_000)
    ap.add_argument("--orders", default="TLA,TAL,LAT,W,A")
    ap.add_argument("--cell-seconds", type=float, default=120.0)
    a = ap.parse_args(argv)
    orders = a.orders.split(",")
    dirty = subprocess.run(["git", "status", "--porcelain", "policies/malloc/minimalloc_search.py",
                            "policies/malloc/filler_search.py"],
                           capture_output=True, text=True, check=False).stdout.strip()
    rev = subprocess.run(["git", "log", "-1", "--format=%h", "--",
                          "policies/malloc/minimalloc_search.py"],
                         capture_output=True, text=True, check=False).stdout.strip()
    print(f"minimalloc_search.py at {rev}{' (+ uncommitted edits)' if dirty else ''}, "
          f"node limit {a.nodes:,}")
    cols = ["portfolio", "perm", *orders]
    print("| N | seed | " + " | ".join(cols) + " | s |")
    print("|---:|---:|" + "---:|" * len(cols) + "---:|")
    minimalloc_pack(zero_slack_instance(20, seed=0, capacity=1 << 20, horizon=10)[0],
                    node_limit=10)  # compile outside the timing
    for n in map(int, a.sizes.split(",")):
        for seed in map(int, a.seeds.split(",")):
            inst = zero_slack_instance(n, seed=seed, capacity=1 << 20, horizon=max(8, n // 2))[0]
            t0 = time.perf_counter()
            cells = []
            for col in cols:
                target = inst
                kw = {"order": MINIMALLOC_ORDERS}
                if col == "perm":
                    target, _ = _permuted(inst, 0)
                elif col != "portfolio":
                    kw = {"order": col}
                cells.append(_run_cell(target, a.nodes, kw, a.cell_seconds))
            print(f"| {n} | {seed} | " + " | ".join(cells)
                  + f" | {time.perf_counter() - t0:.0f} |", flush=True)


if __name__ == "__main__":
    main()

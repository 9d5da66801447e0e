"""Section 4 (packing) of issue 10: does a learned prior cut the exact ``minimalloc`` search's node
count when it orders the buffers?

``minimalloc_pack(inst, order="TP", priority=...)`` takes a per-buffer priority (order letter
``P``, lower first); ``PackingOrderNet`` (``policies/malloc/packing_order.py``) scores buffers from
features known before search and is trained by ``agents/muzero/packing_order.py`` to imitate, per
instance, the static order that needed the fewest nodes.

``--train``: labels the training instances (``zero_slack(n, seed)`` for ``--train-sizes`` x
``--train-seeds``: every static order of ``STATIC_ORDERS`` run alone within ``--label-nodes``),
fits the net and writes it to ``--weights``. Then (unless ``--no-eval``) evaluates on held-out
generated instances (``--sizes`` x ``--seeds``, disjoint from the training seeds) and on
MiniMalloc's A..K at 2^20 (``--ak``), all columns with the same node limit per row:

- ``default``: the default portfolio (``MINIMALLOC_ORDERS``, its filler and cover members);
- ``learned``: the net's priority alone, order ``TP`` (its filler and cover members);
- ``learned+pf``: the learned order first in the default portfolio (``TP, TLA, TAL, LAT``);
- ``best static``: the fewest nodes of the static orders of ``STATIC_ORDERS``, each run alone,
  chosen per instance in hindsight (a bound on what picking a static order can buy).

    OMP_NUM_THREADS=1 nice -n 10 python scripts/benchmark_muzero_packing_order.py --train \\
        --weights /tmp/packing_order.npz [--sizes 100,200,400] [--seeds 0,1,2] [--nodes 100000] \\
        [--ak] [--ak-nodes 300000]

Cells: nodes (``*`` = not packed within the limit; ``>Ns`` = still running after
``--cell-seconds`` of wall, killed: each cell runs in a forked child) and wall seconds of the
search (the learned order's includes its features and forward pass). Every packing is checked
by ``check_plan``.
"""
from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import subprocess
import time

import numpy as np


def _cell(conn, inst, nodes: int, order, net) -> None:
    from heurist.envs.malloc.plan_check import check_plan
    from heurist.policies.malloc.minimalloc_search import minimalloc_pack

    t = time.perf_counter()
    kw = {} if net is None else {"priority": net.priority(inst)}
    res = minimalloc_pack(inst, node_limit=nodes, order=order, **kw)
    wall = time.perf_counter() - t
    if res.offsets is not None:
        assert check_plan(inst, res.offsets, mode="packing").valid
        assert res.offsets.size == inst.n
    conn.send((res.nodes, res.status, wall))


def _run_cell(inst, nodes: int, order, net, seconds: float):
    """``(nodes, status, wall)``; ``status`` ``"killed"`` (nodes ``None``) past ``seconds``."""
    ctx = mp.get_context("fork")
    parent, child = ctx.Pipe(duplex=False)
    proc = ctx.Process(target=_cell, args=(child, inst, nodes, order, net))
    proc.start()
    if not parent.poll(seconds):
        proc.kill()
        proc.join()
        return None, "killed", seconds
    out = parent.recv()
    proc.join()
    return out


def _fmt(cell) -> str:
    nodes, status, wall = cell
    if status == "killed":
        return f">{wall:.0f}s"
    return f"{nodes:,}{'' if status == 'feasible' else '*'} / {wall:.2f}"


def _key(cell, limit: int) -> float:
    """Sort key: nodes, with undecided cells (``*`` or killed) after every decided one."""
    nodes, status, _ = cell
    return nodes if status == "feasible" or status == "infeasible" else limit + 1e9


def _row(name, inst, nodes, net, seconds, summary):
    from heurist.policies.malloc.minimalloc_search import MINIMALLOC_ORDERS
    from heurist.policies.malloc.packing_order import LEARNED_ORDER, STATIC_ORDERS

    cells = {"default": _run_cell(inst, nodes, MINIMALLOC_ORDERS, None, seconds),
             "learned": _run_cell(inst, nodes, LEARNED_ORDER, net, seconds),
             "learned+pf": _run_cell(inst, nodes, (LEARNED_ORDER, *MINIMALLOC_ORDERS), net,
                                     seconds)}
    static = {o: _run_cell(inst, nodes, o, None, seconds) for o in STATIC_ORDERS}
    best = min(static, key=lambda o: (_key(static[o], nodes), static[o][2]))
    cells["best static"] = static[best]
    for k, c in cells.items():
        summary.setdefault(k, []).append(c)
    print(f"| {name} | {inst.n} | " + " | ".join(_fmt(c) for c in cells.values())
          + f" | {best} | " + " ".join(f"{o}:{_fmt(static[o]).split(' /')[0]}" for o in static)
          + " |", flush=True)


def _summary(summary, nodes_by_row):
    print("\n| column | decided | geo-mean nodes (undecided = limit) | total wall s |")
    print("|---|---:|---:|---:|")
    for k, cells in summary.items():
        dec = sum(c[1] in ("feasible", "infeasible") for c in cells)
        logs = [np.log(max(c[0] if c[1] in ("feasible", "infeasible") else lim, 1))
                for c, lim in zip(cells, nodes_by_row)]
        print(f"| {k} | {dec}/{len(cells)} | {np.exp(np.mean(logs)):,.0f} | "
              f"{sum(c[2] for c in cells):.1f} |")


def main(argv=None) -> None:
    import torch

    from heurist.agents.muzero.packing_order import (
        label_instances,
        train_packing_order,
        zero_slack,
    )
    from heurist.envs.common.data import data_dir
    from heurist.envs.malloc import read_csv
    from heurist.policies.malloc.minimalloc_search import minimalloc_pack
    from heurist.policies.malloc.packing_order import PackingOrderNet

    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--train", action="store_true")
    ap.add_argument("--weights", required=True)
    ap.add_argument("--train-sizes", default="100,150,200")
    ap.add_argument("--train-seeds", default="1000-1029")
    ap.add_argument("--label-nodes", type=int, default=20_000)
    ap.add_argument("--epochs", type=int, default=200)
    ap.add_argument("--no-eval", action="store_true")
    ap.add_argument("--sizes", default="100,200,400")
    ap.add_argument("--seeds", default="0,1,2")
    ap.add_argument("--nodes", type=int, default=100_000)
    ap.add_argument("--ak", action="store_true")
    ap.add_argument("--ak-files", default="ABCDEFGHIJK")
    ap.add_argument("--ak-nodes", type=int, default=300_000)
    ap.add_argument("--cell-seconds", type=float, default=120.0)
    a = ap.parse_args(argv)
    torch.set_num_threads(1)
    lo, _, hi = a.train_seeds.partition("-")
    train_seeds = range(int(lo), int(hi) + 1) if hi else [int(s) for s in lo.split(",")]
    eval_seeds = [int(s) for s in a.seeds.split(",")]
    if set(train_seeds) & set(eval_seeds):
        ap.error("--train-seeds and --seeds overlap")
    rev = subprocess.run(["git", "log", "-1", "--format=%h"], capture_output=True, text=True,
                         check=False).stdout.strip()
    load = os.getloadavg()
    print(f"HEAD {rev}; load {load[0]:.1f} {load[1]:.1f} {load[2]:.1f}")
    minimalloc_pack(zero_slack(20, 0), node_limit=10)  # compile outside the timing
    if a.train:
        t = time.perf_counter()
        data = label_instances([int(s) for s in a.train_sizes.split(",")], train_seeds,
                               node_limit=a.label_nodes)
        t_label = time.perf_counter() - t
        t = time.perf_counter()
        net = train_packing_order(data, epochs=a.epochs, seed=0)
        t_train = time.perf_counter() - t
        net.save(a.weights)
        print(f"trained on {len(data)} instances (sizes {a.train_sizes}, seeds "
              f"{a.train_seeds}): labelling {t_label:.0f} s, fitting {t_train:.0f} s wall")
    net = PackingOrderNet.load(a.weights)
    if a.no_eval:
        return
    print(f"\nnode limit {a.nodes:,} (generated), {a.ak_nodes:,} (A..K); cells nodes / wall s")
    print("| instance | N | default | learned | learned+pf | best static | which | static "
          "orders |")
    print("|---|---:|---:|---:|---:|---:|---|---|")
    summary: dict = {}
    limits = []
    for n in map(int, a.sizes.split(",")):
        for seed in eval_seeds:
            _row(f"gen {n}/{seed}", zero_slack(n, seed), a.nodes, net, a.cell_seconds, summary)
            limits.append(a.nodes)
    if limits:
        _summary(summary, limits)
    if a.ak:
        print()
        summary, limits = {}, []
        folder = data_dir("malloc/minimalloc-challenging")
        for f in a.ak_files:
            _row(f, read_csv(folder / f"{f}.1048576.csv")[0], a.ak_nodes, net, a.cell_seconds,
                 summary)
            limits.append(a.ak_nodes)
        _summary(summary, limits)


if __name__ == "__main__":
    main()

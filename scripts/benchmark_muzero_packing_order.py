"""Section 4 (packing) of issue 10: does a learned prior cut the exact ``minimalloc`` search's node
count when it orders the buffers?

``minimalloc_pack(inst, order="TP", priority=...)`` takes a per-buffer priority (order letter
``P``, lower first). Three learned orders (``policies/malloc/packing_order.py``, trained by
``agents/muzero/packing_order.py``), from features known before search:

- ``imitate``: ``PackingOrderNet`` scores buffers to reproduce, per instance, the static order(s)
  of ``STATIC_ORDERS`` that needed the fewest nodes (Plackett-Luce), labels from searches on
  ``--train-sizes`` x ``--train-seeds`` within ``--label-nodes`` per order;
- ``solution``: ``PackingOrderNet`` scores buffers to list them as the generator's known packing
  does, lowest offset first (or its mirror image), on ``--solution-sizes`` x
  ``--solution-seeds`` (no search needed);
- ``picker``: ``OrderPickerNet`` picks one static order per instance from instance-level
  features (its rank as the priority), trained on the same labels as ``imitate``.

``--train`` fits the three and writes them to ``--weights`` and ``<weights>_{solution,picker}.npz``
(``--labels``: a pickle cache of the search labels). Then (unless ``--no-eval``) evaluates on
held-out generated instances (``--sizes`` x ``--seeds``, disjoint from every training seed) and on
MiniMalloc's A..K at 2^20 (``--ak``), all columns of a row with the same node limit:

- ``default``: the default portfolio (``MINIMALLOC_ORDERS``, its filler and cover members);
- ``imitate``, ``solution``, ``picker``: the learned order alone (``TP``; the picker ``TP`` or
  ``P``; with its filler and cover members); ``solution+pf``: first in the default portfolio
  (``TP, TLA, TAL, LAT``);
- ``best static``: the fewest nodes of the static orders of ``STATIC_ORDERS``, each run alone,
  chosen per instance in hindsight (a bound on what picking a static order can buy);
- ``known packing`` (generated rows): the priority = the generator's own offsets, ``TP`` (what a
  perfect per-buffer order could buy; it uses the answer).

    OMP_NUM_THREADS=1 nice -n 10 python scripts/benchmark_muzero_packing_order.py --train \
        --weights /tmp/packing_order.npz --labels /tmp/packing_order_labels.pkl \
        [--sizes 100,200,400] [--seeds 0,1,2] [--nodes 100000] [--ak] [--ak-nodes 300000]

Cells: nodes (``*`` = not packed within the limit; ``>Ns`` = still running after
``--cell-seconds`` of wall, killed: each cell runs in a forked child) and wall seconds of the
search (a learned order's includes its features and forward pass). Every packing is checked
by ``check_plan``. Summary: packed rows, geometric mean of nodes (undecided = the limit), total
wall.
"""
from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import pickle
import subprocess
import time

import numpy as np


def _cell(conn, inst, nodes: int, order, net) -> None:
    """One search in a forked child: ``net`` is None (a static order), a ``PackingOrderNet``
    (its priority), an ``OrderPickerNet`` (its pick replaces ``P``, or the first member of a
    portfolio) or an ``int64 [N]`` array (a given priority: the known packing's offsets)."""
    from heurist.envs.malloc.plan_check import check_plan
    from heurist.policies.malloc.minimalloc_search import minimalloc_pack
    from heurist.policies.malloc.packing_order import OrderPickerNet

    t = time.perf_counter()
    priority = None
    if isinstance(net, OrderPickerNet):
        pick, priority = net.order(inst)
        order = (pick, *order[1:]) if isinstance(order, tuple) else pick
    elif isinstance(net, np.ndarray):
        priority = net
    elif net is not None:
        priority = net.priority(inst)
    res = minimalloc_pack(inst, node_limit=nodes, order=order, priority=priority)
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


def _row(name, inst, nodes, nets, seconds, summary, known=None):
    from heurist.policies.malloc.minimalloc_search import MINIMALLOC_ORDERS
    from heurist.policies.malloc.packing_order import LEARNED_ORDER, STATIC_ORDERS

    imit, sol, picker = nets
    cells = {"default": _run_cell(inst, nodes, MINIMALLOC_ORDERS, None, seconds),
             "imitate": _run_cell(inst, nodes, LEARNED_ORDER, imit, seconds),
             "solution": _run_cell(inst, nodes, LEARNED_ORDER, sol, seconds),
             "solution+pf": _run_cell(inst, nodes, (LEARNED_ORDER, *MINIMALLOC_ORDERS), sol,
                                      seconds),
             "picker": _run_cell(inst, nodes, "P", picker, seconds)}
    static = {o: _run_cell(inst, nodes, o, None, seconds) for o in STATIC_ORDERS}
    best = min(static, key=lambda o: (_key(static[o], nodes), static[o][2]))
    cells["best static"] = static[best]
    if known is not None:
        cells["known packing"] = _run_cell(inst, nodes, LEARNED_ORDER, known.astype(np.float64),
                                           seconds)
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


def _seeds(text: str) -> list[int]:
    """``"1000-1029"`` (inclusive) or ``"0,1,2"``."""
    lo, _, hi = text.partition("-")
    return list(range(int(lo), int(hi) + 1)) if hi else [int(s) for s in lo.split(",")]


def main(argv=None) -> None:
    import torch

    from heurist.agents.muzero.packing_order import (
        label_instances,
        solution_labels,
        train_order_picker,
        train_packing_order,
        train_solution_order,
        zero_slack,
    )
    from heurist.envs.common.data import data_dir
    from heurist.envs.malloc import read_csv
    from heurist.envs.malloc.synthetic import zero_slack_instance
    from heurist.policies.malloc.minimalloc_search import minimalloc_pack
    from heurist.policies.malloc.packing_order import OrderPickerNet, PackingOrderNet

    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--train", action="store_true")
    ap.add_argument("--weights", required=True)
    ap.add_argument("--train-sizes", default="100,150,200")
    ap.add_argument("--train-seeds", default="1000-1029")
    ap.add_argument("--label-nodes", type=int, default=20_000)
    ap.add_argument("--epochs", type=int, default=200)
    ap.add_argument("--solution-sizes", default="100,200,400")
    ap.add_argument("--solution-seeds", default="1000-1099")
    ap.add_argument("--tau", type=float, default=2.0, help="the picker's target temperature")
    ap.add_argument("--labels", default=None,
                    help="cache of the training labels (pickle): read if present, else written")
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
    train_seeds = _seeds(a.train_seeds)
    sol_seeds = _seeds(a.solution_seeds)
    eval_seeds = _seeds(a.seeds)
    if (set(train_seeds) | set(sol_seeds)) & set(eval_seeds):
        ap.error("--train-seeds/--solution-seeds and --seeds overlap")
    rev = subprocess.run(["git", "log", "-1", "--format=%h"], capture_output=True, text=True,
                         check=False).stdout.strip()
    load = os.getloadavg()
    print(f"HEAD {rev}; load {load[0]:.1f} {load[1]:.1f} {load[2]:.1f}")
    minimalloc_pack(zero_slack(20, 0), node_limit=10)  # compile outside the timing
    picker_path = a.weights.removesuffix(".npz") + "_picker.npz"
    sol_path = a.weights.removesuffix(".npz") + "_solution.npz"
    if a.train:
        t = time.perf_counter()
        if a.labels and os.path.exists(a.labels):
            with open(a.labels, "rb") as fh:
                data = pickle.load(fh)
            print(f"labels read from {a.labels}")
        else:
            data = label_instances([int(s) for s in a.train_sizes.split(",")], train_seeds,
                                   node_limit=a.label_nodes)
            if a.labels:
                with open(a.labels, "wb") as fh:
                    pickle.dump(data, fh)
        t_label = time.perf_counter() - t
        t = time.perf_counter()
        train_packing_order(data, epochs=a.epochs, seed=0).save(a.weights)
        t_train = time.perf_counter() - t
        t = time.perf_counter()
        sol_data = solution_labels([int(s) for s in a.solution_sizes.split(",")], sol_seeds)
        train_solution_order(sol_data, epochs=a.epochs, seed=0).save(sol_path)
        t_sol = time.perf_counter() - t
        t = time.perf_counter()
        train_order_picker(data, tau=a.tau, seed=0).save(picker_path)
        t_pick = time.perf_counter() - t
        print(f"trained on {len(data)} instances (sizes {a.train_sizes}, seeds "
              f"{a.train_seeds}, {a.label_nodes:,} nodes per static order): labelling "
              f"{t_label:.0f} s, fitting the imitation scorer {t_train:.0f} s, the picker "
              f"{t_pick:.1f} s; the solution scorer on {len(sol_data)} known packings (sizes "
              f"{a.solution_sizes}, seeds {a.solution_seeds}) {t_sol:.0f} s, all wall")
    nets = (PackingOrderNet.load(a.weights), PackingOrderNet.load(sol_path),
            OrderPickerNet.load(picker_path))
    if a.no_eval:
        return
    print(f"\nnode limit {a.nodes:,} (generated), {a.ak_nodes:,} (A..K); cells nodes / wall s")
    cols = ["default", "imitate", "solution", "solution+pf", "picker", "best static"]
    head = "| instance | N | " + " | ".join(cols) + " | {}which | static orders |"
    print(head.format("known packing | "))
    print("|---|---:|" + "---:|" * (len(cols) + 1) + "---|---|")
    summary: dict = {}
    limits = []
    for n in map(int, a.sizes.split(",")):
        for seed in eval_seeds:
            inst, off = zero_slack_instance(n, seed=seed, capacity=1 << 20,
                                            horizon=max(8, n // 2))
            _row(f"gen {n}/{seed}", inst, a.nodes, nets, a.cell_seconds, summary, off)
            limits.append(a.nodes)
    if limits:
        _summary(summary, limits)
    if a.ak:
        print("\n" + head.format(""))
        print("|---|---:|" + "---:|" * len(cols) + "---|---|")
        summary, limits = {}, []
        folder = data_dir("malloc/minimalloc-challenging")
        for f in a.ak_files:
            _row(f, read_csv(folder / f"{f}.1048576.csv")[0], a.ak_nodes, nets,
                 a.cell_seconds, summary)
            limits.append(a.ak_nodes)
        _summary(summary, limits)


if __name__ == "__main__":
    main()

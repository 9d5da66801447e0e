"""Mapping benchmark: zoo programs at C = 10/25/50 % of peak live bytes, every planner, the env.

    python scripts/benchmark_malloc_mapping.py [--models gpt2,smollm2,...]
        [--modes inference,training] [--batch 1] [--seq 128] [--fractions 0.1,0.25,0.5]
        [--cpsat-limit 5] [--bound-limit 10] [--big 60000] [--cached-only] [--out results.md]
        [--minimalloc [DIR] [--only-packing]]

For each zoo instance (``--batch``/``--seq``; cached by ``scripts/extract_zoo.py``) and capacity,
the speedup ``T_all_slow / T_plan`` of each planner of ``heurist.policies.malloc`` (mapping mode)
and of the env's greedy episode (lowest candidate, orders ``start`` and ``msa``), every plan checked by
``check_plan``; ``bound`` is the speedup allowed by the planners' 0/1 upper bound
(``mip_saving_bound``, SCIP, capacity per time section) and ``gap`` the fraction of the bound's
saving the best plan misses. Then the env's greedy episode on a ``--big``-buffer synthetic program.
"""
from __future__ import annotations

import argparse
import time

import numpy as np
from rich.console import Console
from rich.progress import track

from heurist.envs.malloc.cache import cache_dir, cache_key, load_instance, load_or_extract
from heurist.envs.malloc.env import MallocEnv, lowest_candidate_action
from heurist.envs.malloc.generator import pad_instances
from heurist.envs.malloc.instance import SLOW, MallocInstance
from heurist.envs.malloc.oracle import peak_live_bytes
from heurist.envs.malloc.synthetic import random_instance
from heurist.envs.malloc.zoo import ZOO
from heurist.policies.malloc import check_plan, evaluate_plan, mip_saving_bound, plan, planner_names

__all__ = ["env_plan", "main", "row"]


def mapping_planners() -> list[str]:
    """The registered planners that plan mapping mode (packing-only ones skipped)."""
    from heurist.policies.malloc import registry

    skip = set(getattr(registry, "PACKING_ONLY", ()))
    return [n for n in planner_names() if n not in skip]


def env_plan(inst: MallocInstance, order: str) -> tuple[np.ndarray, float]:
    """The env's greedy (lowest candidate) mapping plan and its episode return."""
    env = MallocEnv(mode="mapping", order=order)
    ret = env.greedy_episode(pad_instances([inst]))
    p = env.plans()[0, :inst.n]
    return np.where(p >= 0, p, SLOW), float(ret[0])


def row(inst: MallocInstance, *, cpsat_limit: float, bound_limit: float) -> dict:
    """Speedups of every planner and the env on one instance, plus the bound and the gap."""
    out = {}
    t_slow = None
    for name in mapping_planners():
        p = plan(inst, name, mode="mapping", time_limit=cpsat_limit, seed=0, workers=1)
        if not check_plan(inst, p, mode="mapping").valid:
            raise AssertionError(f"{name} returned an invalid plan on {inst.name}")
        ev = evaluate_plan(inst, p)
        out[name], t_slow = ev.speedup, ev.time_all_slow
    for order in ("start", "msa"):
        p, ret = env_plan(inst, order)
        if not check_plan(inst, p, mode="mapping").valid:
            raise AssertionError(f"env/{order} returned an invalid plan on {inst.name}")
        ev = evaluate_plan(inst, p)
        if abs(ret - (ev.time_all_slow - ev.time) / ev.time_all_slow) > 1e-6:
            raise AssertionError(f"env/{order}: return {ret} != evaluated saving")
        out[f"env/{order}"] = ev.speedup
    b = mip_saving_bound(inst, time_limit=bound_limit)
    out["bound"] = t_slow / b.time if b.time > 0 else float("inf")
    best_saving = t_slow - t_slow / max(v for k, v in out.items() if k != "bound")
    out["gap"] = 1.0 - best_saving / b.saving if b.saving > 0 else 0.0
    out["bound_optimal"] = b.optimal
    return out


def packing_table(folder: str) -> list[str]:
    """The env's greedy packing (lowest candidate) on MiniMalloc CSVs, per order: peak / C with
    room to spare (capacity 4 C), and whether the episode completes at the file's capacity C."""
    from pathlib import Path

    from heurist.envs.malloc.minimalloc_csv import read_csv

    orders = ("start", "size", "msa")
    lines = ["| instance | N | " + " | ".join(f"peak/C ({o})" for o in orders)
             + " | " + " | ".join(f"fits at C ({o})" for o in orders) + " |",
             "|---|---|" + "---|" * (2 * len(orders))]
    for path in sorted(Path(folder).glob("*.csv")):
        inst, _ = read_csv(path)
        peaks, fits = [], []
        for o in orders:
            env = MallocEnv(mode="packing", order=o)
            env.greedy_episode(pad_instances([inst.with_capacity(4 * inst.capacity)]))
            p = env.plans()[0, :inst.n]
            peaks.append(int((p + inst.size).max()) / inst.capacity)
            env.greedy_episode(pad_instances([inst]))
            fits.append("yes" if not env.failed()[0] else "no")
        lines.append(f"| {path.name} | {inst.n} | " + " | ".join(f"{x:.3f}" for x in peaks)
                     + " | " + " | ".join(fits) + " |")
    return lines


def _instances(models, modes, batch: int, seq: int, cached_only: bool):
    for m in models:
        for mode in modes:
            key = cache_key(m, batch=batch, seq=seq, mode=mode, n_layers=None, inputs="first_use")
            path = cache_dir() / f"{key}.npz"
            if path.exists():
                yield load_instance(path)
            elif not cached_only:
                yield load_or_extract(m, batch=batch, seq=seq, mode=mode)


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models", default=",".join(ZOO))
    ap.add_argument("--modes", default="inference,training")
    ap.add_argument("--batch", type=int, default=1)
    ap.add_argument("--seq", type=int, default=128)
    ap.add_argument("--fractions", default="0.1,0.25,0.5")
    ap.add_argument("--cpsat-limit", type=float, default=5.0)
    ap.add_argument("--bound-limit", type=float, default=10.0)
    ap.add_argument("--big", type=int, default=60000)
    ap.add_argument("--cached-only", action="store_true")
    ap.add_argument("--minimalloc", default=None, nargs="?", const="shipped",
                    help="folder of MiniMalloc CSVs (no value: the shipped challenging set): also "
                    "run the env's greedy packing on them")
    ap.add_argument("--only-packing", action="store_true")
    ap.add_argument("--out", default=None)
    a = ap.parse_args(argv)
    con = Console()
    fracs = [float(x) for x in a.fractions.split(",")]
    if a.minimalloc:
        from heurist.envs.common.data import data_dir

        folder = (data_dir("malloc/minimalloc-challenging") if a.minimalloc == "shipped"
                  else a.minimalloc)
        packing = packing_table(folder)
        con.print("\n".join(packing))
        if a.only_packing:
            if a.out:
                with open(a.out, "w") as fh:
                    fh.write("\n".join(packing) + "\n")
            return
    insts = list(_instances(a.models.split(","), a.modes.split(","), a.batch, a.seq,
                            a.cached_only))
    cols = [*mapping_planners(), "env/start", "env/msa"]
    lines = ["| program | N | C/peak | " + " | ".join(cols) + " | bound | gap |",
             "|---|---|---|" + "---|" * len(cols) + "---|---|"]
    jobs = [(inst, f) for inst in insts for f in fracs]
    for inst, f in track(jobs, description="mapping", console=con):
        peak = peak_live_bytes(inst)
        x = inst.with_capacity(int(peak * f))
        r = row(x, cpsat_limit=a.cpsat_limit, bound_limit=a.bound_limit)
        star = "" if r["bound_optimal"] else "*"
        line = (f"| {inst.name.split('-first_use')[0]} | {inst.n} | {f:.2f} | "
                + " | ".join(f"{r[c]:.3f}" for c in cols)
                + f" | {r['bound']:.3f}{star} | {100 * r['gap']:.1f}% |")
        lines.append(line)
        con.print(line)
    big = random_instance(a.big, seed=0, capacity_fraction=0.25)
    env = MallocEnv(mode="mapping")
    env.greedy_episode(pad_instances([random_instance(64, seed=1)]))  # numba compile
    times, cpu = [], []
    td = pad_instances([big])
    for _ in range(3):
        t0, c0 = time.perf_counter(), time.process_time()
        ret = env.greedy_episode(td)
        times.append(time.perf_counter() - t0)
        cpu.append(time.process_time() - c0)
    # the same dynamics through TorchRL's env.step, on a smaller program (per-step overhead)
    small = pad_instances([random_instance(2000, seed=2, capacity_fraction=0.25)])
    t0 = time.perf_counter()
    td = env.reset(instance=small)
    steps = 0
    while not td["done"].all():
        td["action"] = lowest_candidate_action(td["action_mask"])
        td = env.step(td)["next"]
        steps += 1
    step_rate = steps / (time.perf_counter() - t0)
    lines += ["", (f"greedy episode (reset + {a.big} decisions, numba): "
                   f"wall median {np.median(times):.2f} s (min {min(times):.2f} s), "
                   f"CPU median {np.median(cpu):.2f} s over 3 runs; "
                   f"return {float(ret[0]):.4f} (fraction of T_slow saved)"),
              f"env.step through TorchRL (2,000-buffer program): {step_rate:,.0f} steps/s"]
    con.print("\n".join(lines[-3:]))
    if a.out:
        with open(a.out, "w") as fh:
            fh.write("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()

"""Should ``heurist plan --mode mapping --method search`` use the shipped ``malloc-prior`` by
default? The same search (Gumbel, true simulator, greedy-rollout leaf values, K 8, order msa,
seed 0) with the uniform prior and with the prior, at the CLI's default budget, on:

- ``synthetic``: held-out synthetic instances with their per-op FLOPs (``random_instance``, the
  draw of ``benchmark_muzero_distill.py --eval-synthetic``: seeds 10^9 + i, N 30-60, C 25 %);
- ``csv``: the same instances written as MiniMalloc CSVs and read back (``write_csv`` /
  ``read_csv``): what ``heurist plan`` sees, sizes and live ranges only, no FLOPs (default ops
  and uses);
- ``--zoo MODEL:C,...``: the zoo's b1 s128 training graphs (with FLOPs), one row at a time.

    OMP_NUM_THREADS=1 nice -n 10 python scripts/benchmark_muzero_default_prior.py \\
        [--synthetic 24] [--simulations 16] [--zoo mobilenet_v2:0.25] [--out results.md]

Prints one table per set: mean speedup (uniform, prior), rows where the prior is better / worse.
"""
from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch


def _synthetic(count: int) -> list:
    from heurist.envs.malloc.synthetic import random_instance

    rng = np.random.default_rng(10**9)
    out = []
    for i in range(count):
        n = int(rng.integers(30, 61))
        out.append(random_instance(n, seed=10**9 + i, max_lifetime=16, size_range=(1024, 2**20),
                                   capacity_fraction=0.25))
    return out


def _as_csv(insts: list) -> list:
    from heurist.envs.malloc.minimalloc_csv import read_csv, write_csv

    out = []
    with tempfile.TemporaryDirectory() as tmp:
        for i, inst in enumerate(insts):
            path = Path(tmp) / f"s{i}.{inst.capacity}.csv"
            write_csv(path, inst)
            out.append(read_csv(path)[0])
    return out


def _zoo(spec: str) -> list:
    from heurist.envs.malloc.cache import cache_dir, cache_key, load_instance
    from heurist.envs.malloc.oracle import peak_live_bytes

    rows = []
    for item in filter(None, spec.split(",")):
        m, f = item.split(":")
        key = cache_key(m, batch=1, seq=128, mode="training", n_layers=None, inputs="first_use")
        base = load_instance(cache_dir() / f"{key}.npz")
        rows.append((f"{m} C {float(f):.2f}", base.with_capacity(int(peak_live_bytes(base)
                                                                     * float(f)))))
    return rows


def _compare(insts: list, sims: int, pol) -> tuple[list[float], list[float], float, float]:
    from heurist.agents.muzero.planner import plan_mapping

    t0 = time.perf_counter()
    uni, _ = plan_mapping(insts, num_simulations=sims, k=8, order="msa")
    t1 = time.perf_counter()
    kw = pol.plan_kwargs()
    k, order = kw.pop("k"), kw.pop("order")
    pri, _ = plan_mapping(insts, num_simulations=sims, k=k, order=order, **kw)
    t2 = time.perf_counter()
    return [r.speedup for r in uni], [r.speedup for r in pri], t1 - t0, t2 - t1


def main(argv=None) -> None:
    from heurist.agents.muzero.search_policy import load_search_policy

    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--synthetic", type=int, default=24)
    ap.add_argument("--simulations", type=int, default=16)
    ap.add_argument("--zoo", default="")
    ap.add_argument("--policy", default="malloc-prior")
    ap.add_argument("--out", default=None)
    a = ap.parse_args(argv)
    torch.set_num_threads(1)
    pol = load_search_policy(a.policy)
    lines = [f"{a.simulations} simulations, prior {a.policy} vs uniform", "",
             "| set | rows | uniform | prior | prior better | prior worse | s uniform | s prior |",
             "|---|---:|---:|---:|---:|---:|---:|---:|"]

    def row(name: str, insts: list) -> None:
        u, p, su, sp = _compare(insts, a.simulations, pol)
        u, p = np.array(u), np.array(p)
        lines.append(f"| {name} | {len(insts)} | {u.mean():.4f} | {p.mean():.4f} | "
                     f"{int((p > u + 1e-12).sum())} | {int((p < u - 1e-12).sum())} | "
                     f"{su:.1f} | {sp:.1f} |")
        print(lines[-1], flush=True)

    if a.synthetic:
        syn = _synthetic(a.synthetic)
        flops = sum(bool(np.asarray(x.op_flops).any()) for x in syn)
        row(f"synthetic ({flops} with FLOPs)", syn)
        csv = _as_csv(syn)
        flops = sum(bool(np.asarray(x.op_flops).any()) for x in csv)
        row(f"same, as CSV ({flops} with FLOPs)", csv)
    for name, inst in _zoo(a.zoo):
        row(name, [inst])
    text = "\n".join(lines)
    print(text)
    if a.out:
        Path(a.out).write_text(text + "\n")


if __name__ == "__main__":
    sys.exit(main())

"""The 0/1 mapping bound of zoo training-graph rows with a longer SCIP limit (issue 10: "tighten the
0/1 bounds that did not converge"): ``mip_saving_bound`` (SCIP) at ``--limit`` s and the LP
relaxation, as speedups ``time_all_slow / time``.

    OMP_NUM_THREADS=1 nice -n 10 python scripts/benchmark_muzero_bound.py --rows mobilenet_v2:0.25 --limit 600
"""
from __future__ import annotations

import argparse
import time

import numpy as np


def main(argv=None) -> None:
    from heurist.envs.malloc.cache import cache_dir, cache_key, load_instance
    from heurist.envs.malloc.oracle import peak_live_bytes
    from heurist.policies.malloc.mapping_bound import lp_saving_bound, mip_saving_bound

    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--rows", default="mobilenet_v2:0.25", help="MODEL:C,...")
    ap.add_argument("--limit", type=float, default=600.0, help="SCIP seconds")
    a = ap.parse_args(argv)
    print("| row | N | LP bound | 0/1 bound | proven | SCIP limit s | wall s |")
    print("|---|---:|---:|---:|---|---:|---:|")
    for item in a.rows.split(","):
        m, f = item.split(":")
        key = cache_key(m, batch=1, seq=128, mode="training", n_layers=None, inputs="first_use")
        base = load_instance(cache_dir() / f"{key}.npz")
        inst = base.with_capacity(int(peak_live_bytes(base) * float(f)))
        mem = inst.memory
        compute = inst.op_flops / mem.flops_per_s
        slow = np.bincount(inst.use_op, weights=inst.use_bytes.astype(np.float64),
                           minlength=inst.n_ops) / mem.bw_slow
        all_slow = float(np.maximum(compute, slow).sum())
        lp = lp_saving_bound(inst)
        t0 = time.perf_counter()
        mip = mip_saving_bound(inst, time_limit=a.limit)
        wall = time.perf_counter() - t0
        print(f"| {m} C {float(f):.2f} | {inst.n} | {all_slow / lp.time:.4f} | "
              f"{all_slow / mip.time:.4f} | {mip.optimal} | {a.limit:.0f} | {wall:.0f} |",
              flush=True)


if __name__ == "__main__":
    main()

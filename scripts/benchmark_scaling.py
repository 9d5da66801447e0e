"""Throughput at 1 and 2 processes/workers for the three scale-out paths (docs/SCALING.md).

    python scripts/benchmark_scaling.py [--iterations 6] [--files 8]

* ddp: torchrun --nproc_per_node=W heurist.agents.distributed.ddp, weak scaling (one shard of
  --shard-size PVRP-P N=20 instances per rank per iteration): instances/s, peak RSS per rank;
* ray: evaluate_ray over --files PVRP .npz files x PyVRP (0.2 s per instance) on a local Ray
  cluster of W CPUs: tasks/s, worker RSS;
* sweep: scripts/train.py -m hydra/launcher=local hydra.launcher.n_jobs=W over 2 smoke members:
  members/min.
"""
from __future__ import annotations

import argparse
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def ddp(world: int, *, iterations: int, shard_size: int) -> dict:
    cmd = [sys.executable, "-m", "torch.distributed.run", f"--nproc_per_node={world}",
           "-m", "heurist.agents.distributed.ddp", "--iterations", str(iterations),
           "--n-clients", "20", "--shard-size", str(shard_size), "--n-samples", "8"]
    out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
    secs = [float(m) for m in re.findall(r"iterations in ([0-9.]+)s", out)]
    rss = [float(m) for m in re.findall(r"peak RSS ([0-9.]+) MiB", out)]
    inst = iterations * shard_size * world
    return {"workers": world, "seconds": max(secs), "per_s": inst / max(secs),
            "rss_mib": max(rss)}


def ray_eval(world: int, files: list[Path]) -> dict:
    import psutil
    import ray

    from heurist.agents.distributed.ray_eval import evaluate_ray, make_tasks

    tasks = make_tasks(files, ["pyvrp"], time_limit=0.2)
    ray.init(num_cpus=world, include_dashboard=False, log_to_driver=False,
             configure_logging=False)
    try:
        t0 = time.perf_counter()
        results = evaluate_ray(tasks, progress=False)
        secs = time.perf_counter() - t0
        rss = [psutil.Process(pid).memory_info().rss / 2**20 for pid in {r.pid for r in results}]
    finally:
        ray.shutdown()
    return {"workers": world, "seconds": secs, "per_s": len(tasks) / secs, "rss_mib": max(rss)}


def sweep(world: int) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        subprocess.run([sys.executable, str(ROOT / "scripts" / "train.py"), "-m",
                        "hydra/launcher=local", f"hydra.launcher.n_jobs={world}",
                        "experiment=smoke", "trainer.seed=0,1", f"hydra.sweep.dir={tmp}/s"],
                       cwd=tmp, capture_output=True, check=True)
        secs = time.perf_counter() - t0
    return {"workers": world, "seconds": secs, "per_s": 2 / secs * 60, "rss_mib": float("nan")}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--iterations", type=int, default=6)
    parser.add_argument("--shard-size", type=int, default=32)
    parser.add_argument("--files", type=int, default=8)
    args = parser.parse_args()
    from heurist.envs.pvrp.generator import generate
    from heurist.envs.pvrp.npz_io import save_npz

    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        files = [save_npz(Path(tmp) / f"p{i}.npz", generate(2, n_clients=20, n_vehicles=3, rng=i))
                 for i in range(args.files)]
        for name, fn in (("ddp", lambda w: ddp(w, iterations=args.iterations,
                                               shard_size=args.shard_size)),
                         ("ray", lambda w: ray_eval(w, files)), ("sweep", sweep)):
            one = fn(1)
            two = fn(2)
            for r in (one, two):
                r["efficiency"] = r["per_s"] / (r["workers"] * one["per_s"])
                rows.append((name, r))
    print("| workload | workers | seconds | throughput | efficiency | peak RSS / worker MiB |")
    print("|---|---|---|---|---|---|")
    units = {"ddp": "instances/s", "ray": "instances/s", "sweep": "members/min"}
    for name, r in rows:
        per = r["per_s"] * (2 if name == "ray" else 1)  # ray: 2 instances per file task
        print(f"| {name} | {r['workers']} | {r['seconds']:.2f} | {per:.1f} {units[name]} | "
              f"{r['efficiency']:.2f} | {r['rss_mib']:.0f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())

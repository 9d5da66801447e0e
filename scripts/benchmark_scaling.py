"""Throughput at 1 and 2 processes/workers for the four scale-out paths (docs/SCALING.md).

    python scripts/benchmark_scaling.py [--iterations 6] [--files 8]
        [--workloads ddp,ray,sweep,selfplay] [--selfplay-rows 8] [--selfplay-iterations 3]

* ddp: torchrun --nproc_per_node=W heurist.agents.distributed.ddp, weak scaling (one shard of
  --shard-size PVRP-P N=20 instances per rank per iteration): instances/s, peak RSS per rank;
* ray: evaluate_ray over --files PVRP .npz files x PyVRP (0.2 s per instance) on a local Ray
  cluster of W CPUs: tasks/s, worker RSS;
* sweep: scripts/train.py -m hydra/launcher=local hydra.launcher.n_jobs=W over 2 smoke members:
  members/min;
* selfplay: RaySelfPlay with W actors (MuZero, default network and search budget), weak
  scaling (--selfplay-rows episodes per actor per iteration, fresh synthetic Malloc mapping
  instances of 30-60 buffers): episodes/s and env steps/s after one warm-up iteration, actor RSS;
  plus the same shard played in this process without Ray, and the learner's side (replay adds,
  gradient steps at the default batch) for the paper model.
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


def _steps(shards) -> int:
    return sum(len(ep[1]) for eps, _ in shards for ep in eps)


def selfplay(world: int, *, rows: int, iterations: int, extra: dict) -> dict:
    import psutil
    import ray
    import torch

    from heurist.agents.distributed.selfplay import RaySelfPlay
    from heurist.agents.muzero.train import MuZeroConfig, build_net, serial_selfplay

    torch.set_num_threads(1)
    cfg = MuZeroConfig(rows=rows * world, workers=world)
    torch.manual_seed(0)
    net = build_net(cfg)
    if world == 1:  # the same shards in this process, no Ray: the actors' overhead
        serial_selfplay(net, cfg, 0)  # numba compile
        t0, c0 = time.perf_counter(), time.process_time()
        steps = sum(_steps(serial_selfplay(net, cfg, it)) for it in range(1, iterations + 1))
        secs = time.perf_counter() - t0
        extra["serial"] = {"seconds": secs, "episodes_s": rows * iterations / secs,
                           "cpu_ms_episode": (time.process_time() - c0) / (rows * iterations) * 1e3,
                           "steps_s": steps / secs,
                           "rss_mib": psutil.Process().memory_info().rss / 2**20}
    pool = RaySelfPlay(cfg, num_cpus=world)
    try:
        t0 = time.perf_counter()
        pool(net, 0)  # actor start, imports, numba compile
        warm = time.perf_counter() - t0
        t0 = time.perf_counter()
        steps = 0
        cpu = 0.0
        shards: list = []
        for it in range(1, iterations + 1):
            shards = pool(net, it)
            steps += _steps(shards)
            cpu += sum(pool.cpu_seconds)
        secs = time.perf_counter() - t0
        rss = [psutil.Process(pid).memory_info().rss / 2**20 for pid in set(pool.pids)]
    finally:
        pool.shutdown()
        ray.shutdown()
    if world == 1:
        extra["learner"] = learner_cost(cfg, shards)
    episodes = rows * world * iterations
    return {"workers": world, "seconds": secs, "per_s": episodes / secs,
            "steps_s": steps / secs, "rss_mib": max(rss), "warm_s": warm,
            "cpu_ms_episode": cpu / episodes * 1e3, "cpu_ms_step": cpu / steps * 1e3}


def learner_cost(cfg, shards) -> dict:
    """The learner's side with the default config: replay adds per episode and one gradient
    step (sample with reanalyse + unroll loss + AdamW) at batch 128 / unroll 5."""
    import numpy as np
    import torch

    from heurist.agents.muzero.model import unroll_loss
    from heurist.agents.muzero.train import MuZeroConfig, MuZeroTrainer

    trainer = MuZeroTrainer(MuZeroConfig(rows=cfg.rows))
    episodes = [ep for eps, _ in shards for ep in eps]
    # wall and CPU time (one thread): the CPU time is what it costs on a core of its own
    t0, c0 = time.perf_counter(), time.process_time()
    for _ in range(4):
        for ep in episodes:
            trainer.replay.add_episode(*ep)
    add = ((time.perf_counter() - t0) / (4 * len(episodes)),
           (time.process_time() - c0) / (4 * len(episodes)))
    rng = np.random.default_rng(0)
    c = trainer.cfg
    n = 8
    t0, c0 = time.perf_counter(), time.process_time()
    for _ in range(n):  # the replay's share of a step: priorities, n-step targets, reanalyse
        trainer.replay.sample(c.batch_size, c.unroll, rng, trainer._bootstrap)
    sample = ((time.perf_counter() - t0) / n, (time.process_time() - c0) / n)
    t0, c0 = time.perf_counter(), time.process_time()
    for _ in range(n):
        batch, slots = trainer.replay.sample(c.batch_size, c.unroll, rng, trainer._bootstrap)
        trainer.net.train()
        loss, _, err = unroll_loss(trainer.net, batch)
        trainer.opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(trainer.net.parameters(), 5.0)
        trainer.opt.step()
        trainer.replay.update_priorities(slots, err.numpy())
    step = ((time.perf_counter() - t0) / n, (time.process_time() - c0) / n)
    steps_per_ep = float(np.mean([len(ep[1]) for ep in episodes]))
    params = sum(p.numel() for p in trainer.net.parameters())
    return {"add": add, "step": step, "sample": sample, "params": params,
            "steps_per_episode": steps_per_ep,
            "batch_size": c.batch_size, "train_steps": c.train_steps}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--iterations", type=int, default=6)
    parser.add_argument("--shard-size", type=int, default=32)
    parser.add_argument("--files", type=int, default=8)
    parser.add_argument("--workloads", default="ddp,ray,sweep,selfplay")
    parser.add_argument("--selfplay-rows", type=int, default=8, help="episodes per actor")
    parser.add_argument("--selfplay-iterations", type=int, default=3)
    args = parser.parse_args()
    wanted = args.workloads.split(",")
    if not set(wanted) <= {"ddp", "ray", "sweep", "selfplay"} or min(
            args.selfplay_rows, args.selfplay_iterations) < 1:
        parser.error(f"--workloads {args.workloads}: a comma list of ddp, ray, sweep, selfplay; "
                     "--selfplay-rows/--selfplay-iterations >= 1")
    extra: dict = {}
    from heurist.envs.pvrp.generator import generate
    from heurist.envs.pvrp.npz_io import save_npz

    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        files = [save_npz(Path(tmp) / f"p{i}.npz", generate(2, n_clients=20, n_vehicles=3, rng=i))
                 for i in range(args.files)]
        for name, fn in (("ddp", lambda w: ddp(w, iterations=args.iterations,
                                               shard_size=args.shard_size)),
                         ("ray", lambda w: ray_eval(w, files)), ("sweep", sweep),
                         ("selfplay", lambda w: selfplay(w, rows=args.selfplay_rows,
                                                         iterations=args.selfplay_iterations,
                                                         extra=extra))):
            if name not in wanted:
                continue
            one = fn(1)
            two = fn(2)
            for r in (one, two):
                r["efficiency"] = r["per_s"] / (r["workers"] * one["per_s"])
                rows.append((name, r))
    print("| workload | workers | seconds | throughput | efficiency | peak RSS / worker MiB |")
    print("|---|---|---|---|---|---|")
    units = {"ddp": "instances/s", "ray": "instances/s", "sweep": "members/min",
             "selfplay": "episodes/s"}
    for name, r in rows:
        per = r["per_s"] * (2 if name == "ray" else 1)  # ray: 2 instances per file task
        steps = f" ({r['steps_s']:.0f} env steps/s)" if "steps_s" in r else ""
        print(f"| {name} | {r['workers']} | {r['seconds']:.2f} | {per:.2f} {units[name]}{steps} | "
              f"{r['efficiency']:.2f} | {r['rss_mib']:.0f} |")
    if "serial" in extra:
        s = extra["serial"]
        print(f"\nselfplay, 1 shard in this process (no Ray): {s['seconds']:.2f} s, "
              f"{s['episodes_s']:.2f} episodes/s ({s['steps_s']:.0f} env steps/s, CPU "
              f"{s['cpu_ms_episode']:.0f} ms/episode), "
              f"RSS {s['rss_mib']:.0f} MiB")
    for r in (r for name, r in rows if name == "selfplay"):
        print(f"selfplay, {r['workers']} actor(s): first iteration (start + compile) "
              f"{r['warm_s']:.1f} s; actor CPU time {r['cpu_ms_episode']:.0f} ms/episode, "
              f"{r['cpu_ms_step']:.2f} ms/env step")
    if "learner" in extra:
        lc = extra["learner"]
        print(f"learner (wall / CPU ms): replay add {lc['add'][0] * 1e3:.2f} / "
              f"{lc['add'][1] * 1e3:.2f} per episode ({lc['steps_per_episode']:.1f} steps/episode); "
              f"one gradient step (batch {lc['batch_size']}, reanalyse) {lc['step'][0] * 1e3:.1f} / "
              f"{lc['step'][1] * 1e3:.1f}, of which replay.sample {lc['sample'][0] * 1e3:.1f} / "
              f"{lc['sample'][1] * 1e3:.1f}; {lc['train_steps']} steps per iteration; "
              f"{lc['params']:,} parameters ({lc['params'] * 4 / 2**20:.2f} MiB pushed per "
              f"iteration)")
    return 0


if __name__ == "__main__":
    sys.exit(main())

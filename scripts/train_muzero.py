"""Trains mallocMuZero (MuZero mode, learned model) on synthetic Malloc mapping instances.

    nice -n 10 python scripts/train_muzero.py --ckpt runs/muzero/ckpt.pt \\
        [--iterations 400] [--time-budget 600] [--rows 32] [--n-min 30] [--n-max 60]
        [--simulations 8] [--unroll 5] [--n-step 10] [--batch-size 128] [--train-steps 16]
        [--lr 1e-3] [--seed 0] [--no-reanalyse] [--export DIR]
        [--workers N [--ray-address auto|HOST:6379|ray://HOST:10001]]

Resumable: rerunning with the same ``--ckpt`` and settings continues from the checkpoint
(written atomically every ``--checkpoint-every`` iterations and at the end), and gives the same
weights as an uninterrupted run. ``--export`` writes the network as an artifact folder.

``--workers N`` (N >= 1) splits each iteration's ``--rows`` episodes into N shards seeded by
(seed, iteration, shard), played by N Ray self-play actors (``pip install -e ".[ray]"``; a local
Ray cluster of N CPUs, or the cluster at ``--ray-address`` / ``$RAY_ADDRESS``) that feed this
process's replay in shard order. The same ``--workers`` gives the same weights with or without
Ray (``--no-ray`` plays the shards here); ``--workers`` is part of the checkpoint's settings.
"""
from __future__ import annotations

import argparse
import sys
import time
from dataclasses import fields

import torch

from heurist.agents.muzero.train import MuZeroConfig, MuZeroTrainer


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--ckpt", required=True, help="checkpoint file (resumed when it exists)")
    p.add_argument("--iterations", type=int, default=400)
    p.add_argument("--time-budget", type=float, default=None, help="seconds of training")
    p.add_argument("--checkpoint-every", type=int, default=5)
    p.add_argument("--export", default=None, help="artifact folder for the trained network")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--no-reanalyse", action="store_true")
    p.add_argument("--ray-address", default=None,
                   help="Ray cluster for --workers (auto, HOST:6379, ray://HOST:10001; default: "
                        "$RAY_ADDRESS or a new local cluster)")
    p.add_argument("--no-ray", action="store_true",
                   help="with --workers: play the shards in this process (same results)")
    for f in fields(MuZeroConfig):
        if f.name != "reanalyse":
            p.add_argument("--" + f.name.replace("_", "-"), type=type(f.default),
                           default=f.default)
    a = p.parse_args(argv)
    try:
        cfg = MuZeroConfig(**{f.name: getattr(a, f.name) for f in fields(MuZeroConfig)
                              if f.name != "reanalyse"}, reanalyse=not a.no_reanalyse)
        if a.iterations < 1 or a.checkpoint_every < 1:
            raise ValueError("--iterations and --checkpoint-every must be >= 1")
        if cfg.n_min < 2 or cfg.n_max < cfg.n_min:
            raise ValueError(f"--n-min {cfg.n_min} / --n-max {cfg.n_max}: need 2 <= n-min <= n-max")
        if (a.ray_address or a.no_ray) and cfg.workers < 1:
            raise ValueError("--ray-address / --no-ray need --workers >= 1")
        if a.threads < 1:
            raise ValueError(f"--threads {a.threads}: must be >= 1")
        torch.set_num_threads(a.threads)
        pool = None
        if cfg.workers >= 1 and not a.no_ray:
            from heurist.agents.distributed.selfplay import start_selfplay

            pool = start_selfplay(cfg, address=a.ray_address, threads=a.threads)
        trainer = MuZeroTrainer(cfg, selfplay=pool)
    except ValueError as e:
        print(f"error: {e}", file=sys.stderr)
        sys.exit(2)
    t0 = time.perf_counter()

    def show(log):
        print(f"it {log['iteration']:4d}  return {log['return']:.4f}  loss {log['loss']:.3f} "
              f"(v {log['value']:.3f} r {log['reward']:.3f} p {log['policy']:.3f})  "
              f"self-play {log['selfplay_s']:.1f}s train {log['train_s']:.1f}s  "
              f"[{time.perf_counter() - t0:.0f}s]", flush=True)

    try:
        trainer.run(a.iterations, ckpt=a.ckpt, checkpoint_every=a.checkpoint_every,
                    time_budget_s=a.time_budget, progress=show)
    except ValueError as e:  # a checkpoint written with other settings
        print(f"error: {e}", file=sys.stderr)
        sys.exit(2)
    finally:
        if pool is not None:
            pool.shutdown()
    if a.export:
        from heurist.policies.export.artifact import export_artifact

        hist = trainer.history
        export_artifact(trainer.net, a.export, replace=True,
                        training={"config": {f.name: getattr(cfg, f.name)
                                             for f in fields(MuZeroConfig)},
                                  "iterations": trainer.iteration,
                                  "wall_s": sum(h["selfplay_s"] + h["train_s"] for h in hist)},
                        metrics={"final_return": hist[-1]["return"] if hist else None})
        print(f"exported {a.export}")


if __name__ == "__main__":
    main()

"""MuZero self-play workers as Ray actors feeding the learner's replay.

:class:`RaySelfPlay` holds ``cfg.workers`` actors, each with its own copy of the network. Once per
iteration the learner puts its weights in the object store (``ray.put`` of the state dict, one
copy for all actors) and every actor plays one shard of the iteration's batch
(:func:`heurist.agents.muzero.train.selfplay_shard`: shard ``w`` of iteration ``i`` is seeded by
``(seed, i, w)`` and nothing else). The shards come back in shard order, so
``MuZeroTrainer(cfg, selfplay=RaySelfPlay(cfg))`` adds the same episodes to its replay in the same
order as the serial ``MuZeroTrainer(cfg)`` with the same ``workers``, whatever the scheduling.

Faults: an actor whose process dies (killed, OOM) is restarted by Ray (``max_restarts``) and the
call it was running is retried on the new process (``max_task_retries``). A call carries the
weights' object reference and its (iteration, shard), so the restarted actor reloads the weights
and replays exactly that shard: each shard reaches the learner once, none is lost or doubled.

Ray is optional (``pip install -e ".[ray]"``); the trainer's single-process path never imports
this module. Cluster: give the address (or set ``RAY_ADDRESS``), as for
:mod:`heurist.agents.distributed.ray_eval`::

    ray start --head --port=6379                  # head node
    ray start --address=HEAD_IP:6379              # each worker node
    python scripts/train_muzero.py --ckpt c.pt --workers 64 --ray-address auto   # on the head
"""
from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import asdict
from typing import Any

import numpy as np

from heurist.agents.muzero.train import MuZeroConfig, Shard, build_net, selfplay_shard
from heurist.policies.nets.muzero import MuZeroNet

__all__ = ["RaySelfPlay", "ShardFn", "connect", "episodes_equal", "start_selfplay"]

# (net, cfg, iteration, shard) -> the shard's (episodes, returns); selfplay_shard by default
ShardFn = Callable[..., Shard]


def connect(*, address: str | None = None, num_cpus: int | None = None) -> None:
    """``ray.init`` unless Ray is already initialised: ``address`` (``None``: ``RAY_ADDRESS`` or
    a new local cluster of ``num_cpus``)."""
    import ray

    if not ray.is_initialized():
        ray.init(address=address, num_cpus=num_cpus, include_dashboard=False,
                 log_to_driver=False, configure_logging=False)


class _Worker:
    """One self-play actor: a network copy, refreshed when the learner's weights change."""

    def __init__(self, cfg: dict, threads: int, fn: ShardFn) -> None:
        import torch

        torch.set_num_threads(threads)  # one core per actor (num_cpus=1): no oversubscription
        self.cfg = MuZeroConfig(**cfg)
        self.net: MuZeroNet = build_net(self.cfg)
        self.version: int | None = None
        self.fn = fn

    def play(self, weights: list, version: int, iteration: int,
             shard: int) -> tuple[int, Shard, int, float, float]:
        """Shard ``shard`` of ``iteration`` with the weights of ``version`` (``weights``: a
        one-element list holding their object reference, so that Ray does not fetch them again
        for every call). Returns (shard, its episodes and returns, pid, wall seconds, CPU
        seconds of this process: what the shard cost on a shared core)."""
        import ray

        t0, c0 = time.perf_counter(), time.process_time()
        if version != self.version:
            self.net.load_state_dict(ray.get(weights[0]))
            self.version = version
        out = self.fn(self.net, self.cfg, iteration=iteration, shard=shard)
        return shard, out, os.getpid(), time.perf_counter() - t0, time.process_time() - c0

    def pid(self) -> int:
        return os.getpid()


class RaySelfPlay:
    """``cfg.workers`` self-play actors; call it as the trainer's ``selfplay``.

    ``cpus``: Ray CPUs reserved per actor (each actor is one process with ``threads`` torch
    threads). ``max_restarts`` / ``max_task_retries``: how often a dead actor is restarted and
    its call retried. ``fn``: the shard function the actors run (tests wrap it to kill a worker).
    ``pids``, ``seconds`` and ``cpu_seconds`` of the last call are kept per shard for
    measurements.
    """

    def __init__(self, cfg: MuZeroConfig, *, address: str | None = None,
                 num_cpus: int | None = None, cpus: float = 1.0, threads: int = 1,
                 max_restarts: int = 3,
                 max_task_retries: int = 3, fn: ShardFn = selfplay_shard) -> None:
        import ray

        if cfg.workers < 1:
            raise ValueError(f"RaySelfPlay needs cfg.workers >= 1, got {cfg.workers}")
        if max_restarts < 0 or max_task_retries < 0:
            raise ValueError("max_restarts and max_task_retries must be >= 0")
        connect(address=address, num_cpus=num_cpus)
        self.cfg = cfg
        actor = ray.remote(num_cpus=cpus, max_restarts=max_restarts,
                           max_task_retries=max_task_retries)(_Worker)
        # ray.actor.ActorHandle[_Worker]; Any: the handles' .remote methods are dynamic
        self.actors: list[Any] = [actor.remote(asdict(cfg), threads, fn)
                                  for _ in range(cfg.workers)]
        self.version = 0
        self.owns_ray = False  # start_selfplay sets it when it started Ray: shutdown ends Ray
        self.pids: list[int] = []
        self.seconds: list[float] = []
        self.cpu_seconds: list[float] = []

    def __call__(self, net: MuZeroNet, iteration: int) -> list[Shard]:
        """Pushes ``net``'s weights and plays every shard of ``iteration``; shard order."""
        import ray

        self.version += 1
        # detached CPU copies: the learner keeps training its own tensors in place
        weights = ray.put({k: v.detach().cpu().clone() for k, v in net.state_dict().items()})
        refs = [a.play.remote([weights], self.version, iteration, w)
                for w, a in enumerate(self.actors)]
        results = ray.get(refs)
        if [r[0] for r in results] != list(range(len(self.actors))):
            raise RuntimeError("selfplay: shards do not match the workers one to one")
        self.pids = [r[2] for r in results]
        self.seconds = [r[3] for r in results]
        self.cpu_seconds = [r[4] for r in results]
        return [r[1] for r in results]

    def worker_pids(self) -> list[int]:
        """The actors' current process ids (after a restart: the new processes)."""
        import ray

        return ray.get([a.pid.remote() for a in self.actors])

    def shutdown(self) -> None:
        """Ends the actors; Ray itself stays up unless :func:`start_selfplay` started it."""
        import ray

        for a in self.actors:
            ray.kill(a, no_restart=True)
        self.actors = []
        if self.owns_ray:
            ray.shutdown()
            self.owns_ray = False


def start_selfplay(cfg: MuZeroConfig, *, address: str | None = None, threads: int = 1,
                   fn: ShardFn = selfplay_shard) -> RaySelfPlay:
    """The ``cfg.workers`` self-play actors of ``scripts/train_muzero.py --workers`` and of the
    Hydra entry's ``agent.workers``: on the cluster at ``address`` (or ``$RAY_ADDRESS``), else on
    a new local Ray of ``cfg.workers`` CPUs (no dashboard); ``threads`` torch threads per actor;
    ``fn`` the shard each actor plays (alphazero: ``distill.expert_shard``).
    When this call started Ray, the pool's ``shutdown`` ends it. Ray not installed:
    ``ValueError`` (one line, for the CLIs' exit 2)."""
    try:
        import ray
    except ImportError as exc:  # the extra is missing
        raise ValueError(f"workers >= 1 need Ray ({exc}); install the ray extra "
                         '(pip install -e ".[ray]")') from None
    started = not ray.is_initialized()
    pool = RaySelfPlay(cfg, address=address, num_cpus=None if address else cfg.workers,
                       threads=threads, fn=fn)
    pool.owns_ray = started
    return pool


def episodes_equal(a: list[Shard], b: list[Shard]) -> bool:
    """Whether two shard lists hold the same episodes (every array equal) and returns."""
    if len(a) != len(b):
        return False
    for (ea, ra), (eb, rb) in zip(a, b):
        if len(ea) != len(eb) or not np.array_equal(ra, rb):
            return False
        for x, y in zip(ea, eb):
            if len(x) != len(y) or not all(np.array_equal(u, v) for u, v in zip(x, y)):
                return False
    return True

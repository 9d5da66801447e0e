"""Instances of the malloc env: padding to a batch TensorDict, and the default generators.

An instance TensorDict ``[B]`` holds, padded at the end (valid entries first):

* ``size``, ``start``, ``end`` ``[B, N]`` int64 and ``valid`` ``[B, N]`` bool;
* ``op_flops`` ``[B, O]`` float64; ``use_buffer``, ``use_op``, ``use_bytes`` ``[B, U]`` int64;
* ``n_buffers``, ``n_ops``, ``n_uses``, ``capacity``, ``alignment`` ``[B]`` int64;
  ``bw_fast``, ``bw_slow``, ``flops_per_s`` ``[B]`` float64.
"""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from tensordict import TensorDict, TensorDictBase

from heurist.envs.malloc.instance import MallocInstance, MemoryConfig
from heurist.envs.malloc.synthetic import random_instance, zero_slack_instance

__all__ = ["InstanceListGenerator", "SyntheticGenerator", "pad_instances", "row_instance"]


def pad_instances(instances: Sequence[MallocInstance], *, n_max: int | None = None
                  ) -> TensorDict:
    """Stacks instances into one padded instance TensorDict ``[B]`` (see the module doc)."""
    if not instances:
        raise ValueError("pad_instances needs at least one instance")
    B = len(instances)
    N = max(max(x.n for x in instances), 1)
    if n_max is not None:
        if n_max < N:
            raise ValueError(f"n_max={n_max} is below the largest instance ({N} buffers)")
        N = n_max
    O = max(max(x.n_ops for x in instances), 1)
    U = max(max(x.n_uses for x in instances), 1)
    out: dict[str, np.ndarray] = {k: np.zeros((B, N), np.int64) for k in ("size", "start", "end")}
    out["end"][:] = 1
    out["valid"] = np.zeros((B, N), bool)
    out["op_flops"] = np.zeros((B, O), np.float64)
    for k in ("use_buffer", "use_op", "use_bytes"):
        out[k] = np.zeros((B, U), np.int64)
    scal = {k: np.zeros(B, np.int64) for k in ("n_buffers", "n_ops", "n_uses", "capacity",
                                                "alignment")}
    fscal = {k: np.zeros(B, np.float64) for k in ("bw_fast", "bw_slow", "flops_per_s")}
    for i, x in enumerate(instances):
        n, o, u = x.n, x.n_ops, x.n_uses
        out["size"][i, :n], out["start"][i, :n], out["end"][i, :n] = x.size, x.start, x.end
        out["valid"][i, :n] = True
        out["op_flops"][i, :o] = x.op_flops
        out["use_buffer"][i, :u], out["use_op"][i, :u] = x.use_buffer, x.use_op
        out["use_bytes"][i, :u] = x.use_bytes
        scal["n_buffers"][i], scal["n_ops"][i], scal["n_uses"][i] = n, o, u
        scal["capacity"][i], scal["alignment"][i] = x.memory.capacity, x.memory.alignment
        fscal["bw_fast"][i], fscal["bw_slow"][i] = x.memory.bw_fast, x.memory.bw_slow
        fscal["flops_per_s"][i] = x.memory.flops_per_s
    out.update(scal)
    out.update(fscal)
    return TensorDict({k: torch.from_numpy(v) for k, v in out.items()}, batch_size=[B])


def row_instance(td: TensorDictBase, i: int) -> MallocInstance:
    """Row ``i`` of an instance TensorDict back as a :class:`MallocInstance` (padding dropped)."""
    g = {k: v[i].cpu().numpy() for k, v in td.items()}
    n, o, u = int(g["n_buffers"]), int(g["n_ops"]), int(g["n_uses"])
    mem = MemoryConfig(capacity=int(g["capacity"]), alignment=int(g["alignment"]),
                       bw_fast=float(g["bw_fast"]), bw_slow=float(g["bw_slow"]),
                       flops_per_s=float(g["flops_per_s"]))
    return MallocInstance(size=g["size"][:n], start=g["start"][:n], end=g["end"][:n],
                          ids=np.arange(n), op_flops=g["op_flops"][:o],
                          use_buffer=g["use_buffer"][:u], use_op=g["use_op"][:u],
                          use_bytes=g["use_bytes"][:u], memory=mem)


class SyntheticGenerator:
    """Random instances from ``heurist.envs.malloc.synthetic``, one seed drawn per row.

    ``mode="mapping"``: ``random_instance`` (random uses and FLOPs) with a fast memory of
    ``capacity_fraction`` x the peak of live bytes. ``mode="packing"``: ``zero_slack_instance``
    (a perfect packing exists at capacity C) with capacity ``capacity_fraction`` x C.
    """

    def __init__(self, *, mode: str = "mapping", n_buffers: int = 64,
                 capacity_fraction: float | None = None, max_lifetime: int = 16,
                 horizon: int | None = None) -> None:
        if mode not in ("mapping", "packing"):
            raise ValueError(f"mode={mode!r}: expected 'mapping' or 'packing'")
        if n_buffers < 1:
            raise ValueError(f"n_buffers must be >= 1, got {n_buffers}")
        self.mode = mode
        self.n_buffers = int(n_buffers)
        self.capacity_fraction = (capacity_fraction if capacity_fraction is not None
                                  else (0.25 if mode == "mapping" else 1.0))
        if self.capacity_fraction <= 0:
            raise ValueError(f"capacity_fraction must be > 0, got {capacity_fraction}")
        self.max_lifetime = int(max_lifetime)
        self.horizon = horizon if horizon is not None else max(8, self.n_buffers // 2)

    def instance(self, seed: int) -> MallocInstance:
        """One instance for ``seed``."""
        if self.mode == "mapping":
            return random_instance(self.n_buffers, seed=seed, max_lifetime=self.max_lifetime,
                                   capacity_fraction=self.capacity_fraction,
                                   size_range=(1024, 2**20))
        inst, _ = zero_slack_instance(self.n_buffers, seed=seed, capacity=2**20,
                                      horizon=self.horizon)
        return inst.with_capacity(int(np.ceil(inst.capacity * self.capacity_fraction)))

    def __call__(self, batch_size: int, rng: np.random.Generator) -> TensorDict:
        seeds = rng.integers(0, 2**31 - 1, size=batch_size)
        return pad_instances([self.instance(int(s)) for s in seeds])


class InstanceListGenerator:
    """Samples rows uniformly from fixed instances (files, zoo), padded to the largest one."""

    def __init__(self, instances: Sequence[MallocInstance]) -> None:
        if not instances:
            raise ValueError("InstanceListGenerator needs at least one instance")
        for k, x in enumerate(instances):
            if not isinstance(x, MallocInstance):
                raise ValueError(  # noqa: TRY004  (bad input is a ValueError here)
                    f"instances[{k}] is a {type(x).__name__}, not a MallocInstance")
        self.instances = list(instances)
        self.n_max = max(x.n for x in self.instances)

    def __call__(self, batch_size: int, rng: np.random.Generator) -> TensorDict:
        pick = rng.integers(0, len(self.instances), size=batch_size)
        return pad_instances([self.instances[int(k)] for k in pick], n_max=self.n_max)

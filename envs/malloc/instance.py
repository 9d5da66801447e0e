"""The memory-mapping instance: buffers (size, live range, uses) of one program and its memory.

A *plan* is an ``int64 [N]`` array of byte offsets into the fast memory; ``SLOW`` (-1) leaves a
buffer in slow memory (HBM). In *packing* mode (the MiniMalloc problem) every buffer gets an
offset; in *mapping* mode (mallocGame) a buffer may stay ``SLOW``.

Live ranges are half-open ``[start, end)`` in op steps: op ``t`` runs at step ``t``, and two
buffers conflict when their ranges intersect.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np

__all__ = ["SLOW", "TPU_V4I_CMEM_BYTES", "MallocInstance", "MemoryConfig"]

SLOW = -1
"""Offset of a buffer left in slow memory."""

TPU_V4I_CMEM_BYTES = 128 * 2**20
"""On-chip common memory (CMEM) of TPU v4i: 128 MiB (Jouppi et al., ISCA 2021)."""


@dataclass(frozen=True)
class MemoryConfig:
    """A two-level memory: a small fast memory of ``capacity`` bytes and an unbounded slow one.

    Defaults follow TPU v4i (Jouppi et al., "Ten Lessons From Three Generations Shaped Google's
    TPUv4i", ISCA 2021): HBM 614 GB/s and 138 TFLOP/s (bf16). The CMEM bandwidth is not
    published; 2.0 TB/s (about 3.3x HBM) is our assumption.

    Args:
        capacity: fast memory bytes ``C`` (>= 0).
        alignment: every fast-memory offset is a multiple of this (>= 1).
        bw_fast: fast memory bandwidth, bytes/s.
        bw_slow: slow memory bandwidth, bytes/s (<= ``bw_fast``).
        flops_per_s: compute throughput, FLOP/s.
    """

    capacity: int
    alignment: int = 1
    bw_fast: float = 2.0e12
    bw_slow: float = 614.0e9
    flops_per_s: float = 138.0e12

    def __post_init__(self) -> None:
        for name in ("capacity", "alignment"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
                raise ValueError(f"MemoryConfig.{name} must be an integer, got {value!r}")  # noqa: TRY004
            object.__setattr__(self, name, int(value))
        if not 0 <= self.capacity < 2**63:
            raise ValueError(f"MemoryConfig.capacity must be in 0..2^63-1, got {self.capacity}")
        if self.alignment < 1:
            raise ValueError(f"MemoryConfig.alignment must be >= 1, got {self.alignment}")
        for name in ("bw_fast", "bw_slow", "flops_per_s"):
            value = float(getattr(self, name))
            if not np.isfinite(value) or value <= 0:
                raise ValueError(f"MemoryConfig.{name} must be finite and > 0, got {value!r}")
            object.__setattr__(self, name, value)
        if self.bw_fast < self.bw_slow:
            raise ValueError(f"MemoryConfig.bw_fast ({self.bw_fast}) must be >= bw_slow "
                             f"({self.bw_slow}): the fast memory is the fast one")


def _int_array(name: str, value) -> np.ndarray:
    arr = np.asarray(value)
    if arr.ndim != 1:
        raise ValueError(f"MallocInstance.{name} must be 1-D, got shape {arr.shape}")
    if arr.dtype.kind == "b" or arr.dtype.kind not in "iuf" and arr.size:
        raise ValueError(f"MallocInstance.{name} must hold integers, got dtype {arr.dtype}")
    if arr.dtype.kind == "f" and (not np.all(np.isfinite(arr)) or np.any(arr != np.round(arr))):
        raise ValueError(f"MallocInstance.{name} must hold integers, got non-integer values")
    out = np.array(arr, dtype=np.int64)
    out.setflags(write=False)
    return out


@dataclass(frozen=True, eq=False)
class MallocInstance:
    """Buffers of one program, the ops that use them, and the memory they are mapped into.

    Args:
        size: bytes of each buffer, ``int64 [N]`` (>= 0).
        start: first op step of each live range, ``int64 [N]`` (>= 0).
        end: one past the last op step, ``int64 [N]`` (> ``start``; half-open).
        ids: external ids, ``int64 [N]``, unique.
        op_flops: FLOPs of each op, ``float64 [n_ops]`` (>= 0); ``n_ops >= max(end)``.
        use_buffer: buffer index of each use, ``int64 [U]`` (COO with the two below).
        use_op: op index of each use, ``int64 [U]``, inside the buffer's live range.
        use_bytes: bytes the op reads or writes of the buffer, ``int64 [U]`` (>= 0).
        memory: the memory the buffers are mapped into.
        name: free-form label.
        labels: optional textual buffer names, ``N`` strings (MiniMalloc allows ids like ``b1``;
            then ``ids`` are the row numbers and ``labels`` keep the names); empty if unused.
    """

    size: np.ndarray
    start: np.ndarray
    end: np.ndarray
    ids: np.ndarray
    op_flops: np.ndarray
    use_buffer: np.ndarray
    use_op: np.ndarray
    use_bytes: np.ndarray
    memory: MemoryConfig
    name: str = ""
    labels: tuple = ()

    def __post_init__(self) -> None:
        for name in ("size", "start", "end", "ids", "use_buffer", "use_op", "use_bytes"):
            object.__setattr__(self, name, _int_array(name, getattr(self, name)))
        flops = np.array(np.asarray(self.op_flops), dtype=np.float64)
        if flops.ndim != 1:
            raise ValueError(f"MallocInstance.op_flops must be 1-D, got shape {flops.shape}")
        flops.setflags(write=False)
        object.__setattr__(self, "op_flops", flops)
        if not isinstance(self.memory, MemoryConfig):
            raise ValueError(f"MallocInstance.memory must be a MemoryConfig, got "  # noqa: TRY004
                             f"{type(self.memory).__name__}")
        n = len(self.size)
        for name in ("start", "end", "ids"):
            if len(getattr(self, name)) != n:
                raise ValueError(f"MallocInstance.{name} has length {len(getattr(self, name))}, "
                                 f"size has {n}")
        u = len(self.use_buffer)
        for name in ("use_op", "use_bytes"):
            if len(getattr(self, name)) != u:
                raise ValueError(f"MallocInstance.{name} has length {len(getattr(self, name))}, "
                                 f"use_buffer has {u}")
        _first_bad("size", self.size < 0, "is negative", self.size)
        # Peaks and bounds are int64 sums of sizes: the total must not wrap (float64 screens,
        # Python ints decide near the limit).
        if n and float(self.size.sum(dtype=np.float64)) >= 2.0**62 and \
                sum(self.size.tolist()) >= 2**63:
            raise ValueError(f"MallocInstance.size: the sizes sum to {sum(self.size.tolist())} "
                             f">= 2^63 (int64 sums of sizes would overflow)")
        _first_bad("start", self.start < 0, "is negative", self.start)
        _first_bad("end", self.end <= self.start, "is <= start", self.end)
        if n and len(np.unique(self.ids)) != n:
            ids, counts = np.unique(self.ids, return_counts=True)
            raise ValueError(f"MallocInstance.ids: id {ids[counts > 1][0]} is duplicated")
        if not np.all(np.isfinite(flops)) or np.any(flops < 0):
            raise ValueError("MallocInstance.op_flops must be finite and >= 0")
        if n and len(flops) < int(self.end.max()):
            raise ValueError(f"MallocInstance.op_flops has {len(flops)} ops but a live range ends "
                             f"at step {int(self.end.max())}")
        _first_bad("use_buffer", (self.use_buffer < 0) | (self.use_buffer >= n),
                   f"is not a buffer index in [0, {n})", self.use_buffer)
        _first_bad("use_op", (self.use_op < 0) | (self.use_op >= len(flops)),
                   f"is not an op index in [0, {len(flops)})", self.use_op)
        _first_bad("use_bytes", self.use_bytes < 0, "is negative", self.use_bytes)
        if u:
            outside = ((self.use_op < self.start[self.use_buffer])
                       | (self.use_op >= self.end[self.use_buffer]))
            _first_bad("use_op", outside, "lies outside its buffer's live range", self.use_op)
        object.__setattr__(self, "labels", tuple(self.labels))
        if self.labels and (len(self.labels) != n
                            or not all(isinstance(x, str) for x in self.labels)):
            raise ValueError(f"MallocInstance.labels must be empty or {n} strings")
        if self.labels and len(set(self.labels)) != n:
            raise ValueError("MallocInstance.labels must be unique")
        if not isinstance(self.name, str):
            raise ValueError(  # noqa: TRY004  (bad input is a ValueError project-wide)
                f"MallocInstance.name must be a str, got {type(self.name).__name__}")

    @classmethod
    def from_intervals(cls, size, start, end, *, memory: MemoryConfig, ids=None,
                       name: str = "", labels: tuple = ()) -> MallocInstance:
        """An instance with only sizes and live ranges, given the default ops and uses.

        Default ops (used for MiniMalloc CSV and synthetic packing instances): one op per step,
        ``n_ops = max(end)``, each with zero FLOPs; every buffer is written (``size`` bytes) by the
        op at its first step and read (``size`` bytes) by the op at its last step (``end - 1``;
        a one-step buffer gets both uses on the same op). Under this model the program is pure
        data movement, so putting a buffer in fast memory saves ``2 * size * (1/bw_slow -
        1/bw_fast)`` seconds.
        """
        size = _int_array("size", size)
        start = _int_array("start", start)
        end = _int_array("end", end)
        n = len(size)
        if len(start) != n or len(end) != n:
            raise ValueError(f"MallocInstance: size, start, end have lengths {n}, {len(start)}, "
                             f"{len(end)}")
        ids = np.arange(n, dtype=np.int64) if ids is None else ids
        n_ops = int(end.max()) if n else 0
        idx = np.arange(n, dtype=np.int64)
        return cls(size=size, start=start, end=end, ids=ids,
                   op_flops=np.zeros(n_ops, dtype=np.float64),
                   use_buffer=np.concatenate([idx, idx]),
                   use_op=np.concatenate([start, end - 1]),
                   use_bytes=np.concatenate([size, size]), memory=memory, name=name,
                   labels=labels)

    @property
    def n(self) -> int:
        """Number of buffers ``N``."""
        return len(self.size)

    @property
    def n_ops(self) -> int:
        """Number of ops (op steps)."""
        return len(self.op_flops)

    @property
    def n_uses(self) -> int:
        """Number of (buffer, op) uses ``U``."""
        return len(self.use_buffer)

    @property
    def capacity(self) -> int:
        """Fast memory bytes ``C`` (shortcut for ``memory.capacity``)."""
        return self.memory.capacity

    def with_capacity(self, capacity: int) -> MallocInstance:
        """The same program with a fast memory of ``capacity`` bytes."""
        return dataclasses.replace(self, memory=dataclasses.replace(self.memory,
                                                                    capacity=capacity))

    def with_memory(self, memory: MemoryConfig) -> MallocInstance:
        """The same program mapped into ``memory``."""
        return dataclasses.replace(self, memory=memory)

    def __repr__(self) -> str:
        return (f"MallocInstance(name={self.name!r}, n={self.n}, n_ops={self.n_ops}, "
                f"n_uses={self.n_uses}, capacity={self.capacity})")


def _first_bad(name: str, bad: np.ndarray, what: str, values: np.ndarray) -> None:
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise ValueError(f"MallocInstance.{name}[{i}] = {values[i]} {what}")

"""Synthetic memory-mapping instances.

* ``random_instance``: random sizes, lifetimes, uses and op FLOPs (a mallocGame-like program).
* ``zero_slack_instance``: the time x address rectangle ``[0, T) x [0, C)`` cut recursively by
  guillotine cuts into ``n`` buffers. Every time step is covered by buffers whose address ranges
  tile ``[0, C)``, so the peak of live bytes is exactly ``C`` and the cut offsets are a perfect
  packing (returned too): a packing planner must reach ``peak == C``.
"""
from __future__ import annotations

import numpy as np

from heurist.envs.malloc.instance import MallocInstance, MemoryConfig
from heurist.envs.malloc.peak import peak_live_bytes

__all__ = ["live_bytes_per_step", "random_instance", "zero_slack_instance"]


def live_bytes_per_step(size, start, end, n_steps: int) -> np.ndarray:
    """Bytes live at each step, ``int64 [n_steps]`` (difference array, O(N + T))."""
    diff = np.zeros(n_steps + 1, dtype=np.int64)
    np.add.at(diff, np.asarray(start), np.asarray(size))
    np.add.at(diff, np.asarray(end), -np.asarray(size))
    return np.cumsum(diff[:-1])


def random_instance(n: int, *, seed: int, n_ops: int | None = None, max_lifetime: int = 64,
                    size_range: tuple[int, int] = (1024, 4 * 2**20), extra_uses: float = 1.0,
                    intensity_range: tuple[float, float] = (1.0, 1000.0),
                    capacity_fraction: float = 0.5, memory: MemoryConfig | None = None,
                    name: str = "") -> MallocInstance:
    """A random program of ``n`` buffers.

    Args:
        n: number of buffers (>= 1).
        seed: RNG seed; the same seed gives the same instance.
        n_ops: program length in ops (default ``max(8, n // 4)``).
        max_lifetime: lifetimes are log-uniform in ``[1, max_lifetime]`` steps (clipped to the
            program end).
        size_range: sizes are log-uniform in this byte range, rounded to the alignment.
        extra_uses: mean number (Poisson) of reads between a buffer's write (first step) and its
            last read (last step); each moves ``size`` bytes.
        intensity_range: each op's FLOPs are its bytes times a log-uniform arithmetic intensity
            from this range (TPU v4i balance is about 225 FLOP/byte of HBM, so both compute- and
            memory-bound ops occur).
        capacity_fraction: if ``memory`` is not given, the fast memory holds this fraction of the
            peak of live bytes.
        memory: the memory (overrides ``capacity_fraction``).
    """
    if n < 1:
        raise ValueError(f"n must be >= 1, got {n}")
    if max_lifetime < 1:
        raise ValueError(f"max_lifetime must be >= 1, got {max_lifetime}")
    lo, hi = size_range
    if not 1 <= lo <= hi:
        raise ValueError(f"size_range must satisfy 1 <= low <= high, got {size_range}")
    if not 0 < intensity_range[0] <= intensity_range[1]:
        raise ValueError(f"intensity_range must satisfy 0 < low <= high, got {intensity_range}")
    if not 0 <= capacity_fraction:
        raise ValueError(f"capacity_fraction must be >= 0, got {capacity_fraction}")
    rng = np.random.default_rng(seed)
    n_ops = max(8, n // 4) if n_ops is None else int(n_ops)
    if n_ops < 1:
        raise ValueError(f"n_ops must be >= 1, got {n_ops}")
    align = memory.alignment if memory is not None else 1
    size = np.exp(rng.uniform(np.log(lo), np.log(hi), n)).astype(np.int64)
    size = np.maximum(align, (size + align - 1) // align * align)
    start = rng.integers(0, n_ops, n)
    life = np.exp(rng.uniform(0.0, np.log(max_lifetime + 1), n)).astype(np.int64)
    end = np.minimum(n_ops, start + np.clip(life, 1, max_lifetime))
    n_extra = rng.poisson(extra_uses, n)
    extra_buf = np.repeat(np.arange(n), n_extra)
    extra_op = start[extra_buf] + (rng.random(len(extra_buf)) * (end - start)[extra_buf]).astype(
        np.int64)
    idx = np.arange(n)
    use_buffer = np.concatenate([idx, idx, extra_buf])
    use_op = np.concatenate([start, end - 1, extra_op])
    use_bytes = size[use_buffer]
    op_bytes = np.bincount(use_op, weights=use_bytes.astype(np.float64), minlength=n_ops)
    intensity = np.exp(rng.uniform(np.log(intensity_range[0]), np.log(intensity_range[1]), n_ops))
    op_flops = np.floor(op_bytes * intensity)
    inst = MallocInstance(size=size, start=start, end=end, ids=idx, op_flops=op_flops,
                          use_buffer=use_buffer, use_op=use_op, use_bytes=use_bytes,
                          memory=memory or MemoryConfig(capacity=0), name=name or f"random-{n}-{seed}")
    if memory is None:
        inst = inst.with_capacity(int(peak_live_bytes(inst) * capacity_fraction))
    return inst


def zero_slack_instance(n: int, *, seed: int, capacity: int = 2**20, horizon: int = 1024,
                        alignment: int = 1, p_time_cut: float = 0.5,
                        memory: MemoryConfig | None = None, name: str = ""):
    """``n`` buffers cut from ``[0, horizon) x [0, capacity)``, with their perfect packing.

    Repeatedly picks a random piece that can still be cut and cuts it at a uniform position, in
    time with probability ``p_time_cut`` (when both directions are possible). Address cuts fall on
    multiples of ``alignment``, so sizes and offsets are aligned.

    Returns:
        ``(instance, offsets)``: the instance (default ops and uses, capacity ``capacity``) and
        ``int64 [N]`` offsets of a packing with peak ``capacity``.

    Raises:
        ValueError: bad arguments, or ``n`` pieces cannot be cut (``n > horizon * capacity /
            alignment``).
    """
    if n < 1:
        raise ValueError(f"n must be >= 1, got {n}")
    if alignment < 1 or capacity < alignment or capacity % alignment:
        raise ValueError(f"capacity ({capacity}) must be a positive multiple of alignment "
                         f"({alignment})")
    if horizon < 1:
        raise ValueError(f"horizon must be >= 1, got {horizon}")
    if not 0.0 <= p_time_cut <= 1.0:
        raise ValueError(f"p_time_cut must be in [0, 1], got {p_time_cut}")
    units = capacity // alignment
    if n > horizon * units:
        raise ValueError(f"cannot cut {n} pieces from {horizon} steps x {units} address units")
    rng = np.random.default_rng(seed)
    draws = rng.random((n, 3))
    # Pieces as (t0, t1, a0, a1) in address units; only cuttable ones wait in `open_`.
    open_: list[tuple[int, int, int, int]] = []
    done: list[tuple[int, int, int, int]] = []
    (open_ if horizon * units > 1 else done).append((0, horizon, 0, units))
    for k in range(n - 1):
        j = int(draws[k, 0] * len(open_))
        open_[j], open_[-1] = open_[-1], open_[j]
        t0, t1, a0, a1 = open_.pop()
        can_time, can_addr = t1 - t0 >= 2, a1 - a0 >= 2
        if can_time and (not can_addr or draws[k, 1] < p_time_cut):
            cut = t0 + 1 + int(draws[k, 2] * (t1 - t0 - 1))
            parts = ((t0, cut, a0, a1), (cut, t1, a0, a1))
        else:
            cut = a0 + 1 + int(draws[k, 2] * (a1 - a0 - 1))
            parts = ((t0, t1, a0, cut), (t0, t1, cut, a1))
        for p in parts:
            (open_ if (p[1] - p[0]) * (p[3] - p[2]) > 1 else done).append(p)
    pieces = np.array(open_ + done, dtype=np.int64).reshape(-1, 4)
    order = rng.permutation(len(pieces))  # ids carry no hint of the cut order
    pieces = pieces[order]
    mem = memory if memory is not None else MemoryConfig(capacity=capacity, alignment=alignment)
    if mem.capacity != capacity or mem.alignment != alignment:
        raise ValueError(f"memory (capacity {mem.capacity}, alignment {mem.alignment}) disagrees "
                         f"with capacity={capacity}, alignment={alignment}")
    inst = MallocInstance.from_intervals((pieces[:, 3] - pieces[:, 2]) * alignment, pieces[:, 0],
                                         pieces[:, 1], memory=mem,
                                         name=name or f"zero-slack-{n}-{seed}")
    return inst, pieces[:, 2] * alignment

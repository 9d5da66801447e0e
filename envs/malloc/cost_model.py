"""The roofline cost model of a mapped program.

Each op runs for ``max(flops / F, fast_bytes / BW_fast + slow_bytes / BW_slow)`` seconds, where
``fast_bytes`` / ``slow_bytes`` are the bytes of its uses whose buffer lives in fast / slow memory;
the program time is the sum over ops (ops run one after another, compute and memory traffic of one
op overlap). Prefetch and eviction copies are not modelled: a buffer is in fast memory for its
whole live range or not at all.
"""
from __future__ import annotations

import numpy as np

from heurist.envs.malloc.instance import SLOW, MallocInstance

__all__ = [
    "isolated_saving",
    "op_times",
    "plan_in_fast",
    "program_time",
    "speedup",
    "time_all_fast",
    "time_all_slow",
]


def plan_in_fast(inst: MallocInstance, plan) -> np.ndarray:
    """``bool [N]``: which buffers the plan puts in fast memory (offset != ``SLOW``)."""
    plan = np.asarray(plan)
    if plan.shape != (inst.n,):
        raise ValueError(f"plan has shape {plan.shape}, expected ({inst.n},)")
    return plan != SLOW


def op_times(inst: MallocInstance, in_fast) -> np.ndarray:
    """Seconds of each op, ``float64 [n_ops]``, given ``in_fast`` (``bool [N]``)."""
    in_fast = np.asarray(in_fast, dtype=bool)
    if in_fast.shape != (inst.n,):
        raise ValueError(f"in_fast has shape {in_fast.shape}, expected ({inst.n},)")
    mem = inst.memory
    fast_use = in_fast[inst.use_buffer]
    nbytes = inst.use_bytes.astype(np.float64)
    fast = np.bincount(inst.use_op, weights=np.where(fast_use, nbytes, 0.0), minlength=inst.n_ops)
    slow = np.bincount(inst.use_op, weights=np.where(fast_use, 0.0, nbytes), minlength=inst.n_ops)
    return np.maximum(inst.op_flops / mem.flops_per_s, fast / mem.bw_fast + slow / mem.bw_slow)


def program_time(inst: MallocInstance, plan) -> float:
    """Seconds of the whole program under ``plan`` (``int64 [N]`` offsets, ``SLOW`` = -1)."""
    return float(op_times(inst, plan_in_fast(inst, plan)).sum())


def time_all_slow(inst: MallocInstance) -> float:
    """Seconds with every buffer in slow memory (the baseline)."""
    return float(op_times(inst, np.zeros(inst.n, dtype=bool)).sum())


def time_all_fast(inst: MallocInstance) -> float:
    """Seconds with every buffer in fast memory (ignores capacity: the ideal)."""
    return float(op_times(inst, np.ones(inst.n, dtype=bool)).sum())


def speedup(inst: MallocInstance, plan) -> float:
    """``time_all_slow / program_time(plan)`` (1.0 for an empty program)."""
    t = program_time(inst, plan)
    return time_all_slow(inst) / t if t > 0 else 1.0


def isolated_saving(inst: MallocInstance) -> np.ndarray:
    """Seconds saved by moving each buffer alone to fast memory, ``float64 [N]``.

    Exact for one buffer; for a set it is only an estimate (savings are not additive because an
    op cannot run faster than its compute time). Greedy mapping planners order buffers by it.
    """
    mem = inst.memory
    zeros = np.zeros(inst.n, dtype=bool)
    base = op_times(inst, zeros)
    slow = np.bincount(inst.use_op, weights=inst.use_bytes.astype(np.float64),
                       minlength=inst.n_ops) / mem.bw_slow
    compute = inst.op_flops / mem.flops_per_s
    delta = inst.use_bytes * (1.0 / mem.bw_slow - 1.0 / mem.bw_fast)
    # Per (buffer, op): the op time when only this buffer's bytes move to fast memory. Buffers
    # with several uses on one op are merged first so the delta is applied once per op.
    key = inst.use_buffer * max(inst.n_ops, 1) + inst.use_op
    uniq, inv = np.unique(key, return_inverse=True)
    merged = np.bincount(inv, weights=delta, minlength=len(uniq))
    op = uniq % max(inst.n_ops, 1)
    buf = uniq // max(inst.n_ops, 1)
    gain = base[op] - np.maximum(compute[op], slow[op] - merged)
    return np.bincount(buf, weights=gain, minlength=inst.n).astype(np.float64)

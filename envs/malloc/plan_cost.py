"""Independent cost oracle: the roofline program time of a plan, recomputed from the decisions.

Written separately from ``heurist.envs.malloc.cost_model`` (scatter-adds per use instead of
bincounts) so a bug in one shows up as a disagreement with the other.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from heurist.envs.malloc.instance import SLOW, MallocInstance

__all__ = ["Evaluation", "evaluate_plan"]


@dataclass(frozen=True)
class Evaluation:
    """Seconds of the program under the plan (``time``), with every buffer slow / fast, and the
    speedup ``time_all_slow / time``; ``n_fast`` buffers and ``bytes_fast`` bytes mapped fast."""

    time: float
    time_all_slow: float
    time_all_fast: float
    speedup: float
    n_fast: int
    bytes_fast: int


def _program_seconds(inst: MallocInstance, fast: np.ndarray) -> float:
    mem = inst.memory
    fast_bytes = np.zeros(inst.n_ops)
    slow_bytes = np.zeros(inst.n_ops)
    is_fast = fast[inst.use_buffer]
    np.add.at(fast_bytes, inst.use_op[is_fast], inst.use_bytes[is_fast])
    np.add.at(slow_bytes, inst.use_op[~is_fast], inst.use_bytes[~is_fast])
    compute = inst.op_flops / mem.flops_per_s
    memory = fast_bytes / mem.bw_fast + slow_bytes / mem.bw_slow
    return float(np.sum(np.where(compute > memory, compute, memory)))


def evaluate_plan(inst: MallocInstance, plan) -> Evaluation:
    """Cost-model evaluation of ``plan`` (``int64 [N]``; ``SLOW`` = -1). Validity is not checked
    here (see ``check_plan``)."""
    plan = np.asarray(plan)
    if plan.shape != (inst.n,):
        raise ValueError(f"plan has shape {plan.shape}, expected ({inst.n},)")
    fast = plan != SLOW
    t = _program_seconds(inst, fast)
    slow_t = _program_seconds(inst, np.zeros(inst.n, dtype=bool))
    fast_t = _program_seconds(inst, np.ones(inst.n, dtype=bool))
    return Evaluation(time=t, time_all_slow=slow_t, time_all_fast=fast_t,
                      speedup=slow_t / t if t > 0 else 1.0, n_fast=int(fast.sum()),
                      bytes_fast=int(inst.size[fast].sum()))

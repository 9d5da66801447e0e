"""Greedy planners: an order of the buffers plus the best-fit (or first-fit) placement kernel.

* ``greedy_size``: TFLite's greedy-by-size: largest first (ties: earlier start), best fit.
* ``msa``: an XLA memory-space-assignment-like heap: buffers by memory boundedness (cost-model
  time saved alone / sqrt(size)), then size, then lifetime, all descending; best fit.
* ``first_fit``: by start time (ties: larger first), lowest gap (the classic linear scan).

In mapping mode a buffer that fits nowhere below the capacity stays in slow memory.
"""
from __future__ import annotations

import numpy as np

from heurist.envs.malloc.cost_model import isolated_saving
from heurist.envs.malloc.instance import MallocInstance
from heurist.envs.malloc.modes import check_plan_mode
from heurist.policies.malloc.best_fit import place_in_order
from heurist.policies.malloc.conflict_graph import time_conflicts

__all__ = ["first_fit", "greedy_size", "msa", "msa_priority", "plan_in_order"]


def plan_in_order(inst: MallocInstance, order, *, mode: str = "packing",
                  best_fit: bool = True) -> np.ndarray:
    """Offsets ``int64 [N]`` from placing buffers in ``order`` (``int64 [N]``)."""
    check_plan_mode(mode)
    indptr, indices = time_conflicts(inst.start, inst.end)
    return place_in_order(inst.size, indptr, indices, order, alignment=inst.memory.alignment,
                          limit=inst.capacity if mode == "mapping" else None, best_fit=best_fit)


def greedy_size(inst: MallocInstance, *, mode: str = "packing") -> np.ndarray:
    """TFLite greedy-by-size best fit: offsets ``int64 [N]``."""
    order = np.lexsort((inst.start, -inst.size))
    return plan_in_order(inst, order, mode=mode, best_fit=True)


def msa_priority(inst: MallocInstance) -> np.ndarray:
    """Memory boundedness of each buffer: seconds saved alone per sqrt(byte), ``float64 [N]``."""
    return isolated_saving(inst) / np.sqrt(np.maximum(inst.size, 1))


def msa(inst: MallocInstance, *, mode: str = "packing") -> np.ndarray:
    """XLA-MSA-like best-fit heap: offsets ``int64 [N]``."""
    order = np.lexsort((-(inst.end - inst.start), -inst.size, -msa_priority(inst)))
    return plan_in_order(inst, order, mode=mode, best_fit=True)


def first_fit(inst: MallocInstance, *, mode: str = "packing") -> np.ndarray:
    """First fit by start time: offsets ``int64 [N]``."""
    order = np.lexsort((-inst.size, inst.start))
    return plan_in_order(inst, order, mode=mode, best_fit=False)

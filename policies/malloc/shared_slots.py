"""ExecuTorch's classic greedy memory planning with shared objects.

Buffers are visited by start time; each goes into a *shared object* (a slot) whose previous
buffers have all ended, choosing the one whose size is closest to its own, or opens a new one.
A slot is as large as its largest buffer; slots are laid out one after another (aligned) in the
order they were opened, and every buffer sits at its slot's offset. In mapping mode the slots
that would end above the capacity are dropped in opening order, their buffers left in slow
memory.
"""
from __future__ import annotations

import numpy as np
from numba import njit

from heurist.envs.malloc.instance import SLOW, MallocInstance
from heurist.envs.malloc.modes import check_plan_mode

__all__ = ["executorch"]


@njit(cache=True)
def _assign_slots(order, size, start, end, slot_of):
    n = len(order)
    slot_size = np.zeros(n, dtype=np.int64)
    slot_free_at = np.zeros(n, dtype=np.int64)
    n_slots = 0
    for k in range(n):
        i = order[k]
        pick = -1
        for s in range(n_slots):
            closer = pick < 0 or abs(slot_size[s] - size[i]) < abs(slot_size[pick] - size[i])
            if slot_free_at[s] <= start[i] and closer:
                pick = s
        if pick < 0:
            pick = n_slots
            n_slots += 1
        slot_of[i] = pick
        slot_size[pick] = max(slot_size[pick], size[i])
        slot_free_at[pick] = end[i]
    return slot_size[:n_slots].copy()


def executorch(inst: MallocInstance, *, mode: str = "packing") -> np.ndarray:
    """Shared-object greedy: offsets ``int64 [N]``."""
    check_plan_mode(mode)
    order = np.lexsort((np.arange(inst.n), inst.start)).astype(np.int64)
    slot_of = np.empty(inst.n, dtype=np.int64)
    slot_size = _assign_slots(order, inst.size, inst.start, inst.end, slot_of)
    align = inst.memory.alignment
    slot_offset = np.empty(len(slot_size), dtype=np.int64)
    top = 0
    for s, sz in enumerate(slot_size.tolist()):
        top = (top + align - 1) // align * align
        fits = mode == "packing" or top + sz <= inst.capacity
        slot_offset[s] = top if fits else SLOW
        top += sz if fits else 0
    return slot_offset[slot_of] if inst.n else np.zeros(0, dtype=np.int64)

"""The placement kernel shared by the greedy planners: buffers in a given order, each at the
best-fitting (or lowest) gap left by the already placed buffers it conflicts with in time."""
from __future__ import annotations

import numpy as np
from numba import njit

from heurist.envs.malloc.instance import SLOW

__all__ = ["place_in_order"]


@njit(cache=True)
def _place(order, size, indptr, indices, alignment, limit, best_fit, out):
    max_deg = 0
    for i in range(len(size)):
        max_deg = max(max_deg, indptr[i + 1] - indptr[i])
    keys = np.empty(max_deg, dtype=np.int64)
    ends = np.empty(max_deg, dtype=np.int64)
    # One in-place sort of packed (offset, slot) keys beats an argsort: no allocation, no
    # indirection. Offsets stay far below 2**63 / max_deg for any real memory.
    width = np.int64(max(max_deg, 1))
    placed = np.zeros(len(size), dtype=np.bool_)
    for k in range(len(order)):
        i = order[k]
        s = size[i]
        if s == 0:  # an empty buffer overlaps nothing
            out[i] = 0
            placed[i] = True
            continue
        m = 0
        for p in range(indptr[i], indptr[i + 1]):
            j = indices[p]
            if placed[j] and out[j] >= 0 and size[j] > 0:
                keys[m] = out[j] * width + m
                ends[m] = out[j] + size[j]
                m += 1
        keys[:m].sort()
        cursor = 0
        best = -1
        best_gap = np.int64(-1)
        for q in range(m):
            t = keys[q] % width
            cand = (cursor + alignment - 1) // alignment * alignment
            gap = keys[q] // width - cand
            if gap >= s and (best < 0 or gap < best_gap):
                best = cand
                best_gap = gap
                if not best_fit:
                    break
            cursor = max(cursor, ends[t])
        if best < 0 or best_fit:
            # The gap above every neighbour: unbounded in packing mode (used only when nothing
            # else fits, as TFLite does), up to `limit` in mapping mode.
            cand = (cursor + alignment - 1) // alignment * alignment
            if limit < 0:
                if best < 0:
                    best = cand
            elif cand + s <= limit:
                gap = limit - cand
                if best < 0 or gap < best_gap:
                    best = cand
                    best_gap = gap
        out[i] = best
        placed[i] = best >= 0


def place_in_order(size, indptr, indices, order, *, alignment: int = 1, limit: int | None = None,
                   best_fit: bool = True) -> np.ndarray:
    """Places buffers one by one in ``order``.

    Args:
        size: ``int64 [N]`` bytes.
        indptr, indices: the time-conflict graph (``time_conflicts``).
        order: ``int64 [N]`` buffer indices, the placement order.
        alignment: offsets are multiples of it.
        limit: ``None`` for packing (no ceiling); else the capacity: a buffer that fits nowhere
            below it stays ``SLOW``.
        best_fit: the smallest gap that fits (else the lowest one: first fit).

    Returns:
        ``int64 [N]`` offsets, ``SLOW`` (-1) where unplaced.
    """
    size = np.ascontiguousarray(size, dtype=np.int64)
    max_deg = int(np.diff(indptr).max()) if len(size) else 0
    if len(size) and (int(size.sum()) + alignment) * (max_deg + 1) >= 2**62:
        raise ValueError("sizes too large for the packed sort keys of the placement kernel "
                         f"(sum {int(size.sum())} bytes x {max_deg + 1} neighbours >= 2**62)")
    out = np.full(len(size), SLOW, dtype=np.int64)
    _place(np.ascontiguousarray(order, dtype=np.int64), size, indptr, indices, np.int64(alignment),
           np.int64(-1 if limit is None else limit), bool(best_fit), out)
    return out

"""Which buffers are live at the same time: the interval (conflict) graph, in CSR form.

Built by one sweep over buffers sorted by start with a compacted active list, so the cost is
O(N log N + E) for E conflicting pairs (no all-pairs test).
"""
from __future__ import annotations

import numpy as np
from numba import njit

__all__ = ["time_conflicts"]


@njit(cache=True)
def _sweep(start, end, order, fill, indptr, indices):
    # Two passes share this kernel: fill=False counts degrees into indptr[1:], fill=True writes.
    n = len(order)
    active = np.empty(n, dtype=np.int64)
    pos = indptr[:-1].copy() if fill else indptr[:1].copy()
    n_active = 0
    for k in range(n):
        i = order[k]
        kept = 0
        for a in range(n_active):
            j = active[a]
            if end[j] > start[i]:
                active[kept] = j
                kept += 1
        n_active = kept
        for a in range(n_active):
            j = active[a]
            if fill:
                indices[pos[i]] = j
                pos[i] += 1
                indices[pos[j]] = i
                pos[j] += 1
            else:
                indptr[i + 1] += 1
                indptr[j + 1] += 1
        active[n_active] = i
        n_active += 1


def time_conflicts(start, end) -> tuple[np.ndarray, np.ndarray]:
    """Buffers whose half-open live ranges ``[start, end)`` intersect.

    Args:
        start: ``int64 [N]``; end: ``int64 [N]``.

    Returns:
        ``(indptr int64 [N + 1], indices int32 [E2])``: the neighbours of buffer ``i`` are
        ``indices[indptr[i]:indptr[i + 1]]`` (each conflicting pair appears in both lists).
    """
    start = np.ascontiguousarray(start, dtype=np.int64)
    end = np.ascontiguousarray(end, dtype=np.int64)
    n = len(start)
    order = np.argsort(start, kind="stable").astype(np.int64)
    indptr = np.zeros(n + 1, dtype=np.int64)
    dummy = np.empty(0, dtype=np.int32)
    _sweep(start, end, order, False, indptr, dummy)
    np.cumsum(indptr, out=indptr)
    indices = np.empty(int(indptr[-1]), dtype=np.int32)
    _sweep(start, end, order, True, indptr, indices)
    return indptr, indices

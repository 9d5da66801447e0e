"""ARC: Adaptive Replacement Cache (Megiddo & Modha, FAST 2003)."""
from __future__ import annotations

import numpy as np
from numba import njit

from heurist.policies.paging._structures import dll_new, dll_push_front, dll_remove, dll_tail
from heurist.policies.paging.base import PagingPolicy, register_policy

__all__ = ["ARC"]

T1, T2, B1, B2 = 0, 1, 2, 3  # resident recency / frequency lists, then their ghosts


@njit(cache=True)
def _move(prev, nxt, where, sizes, n_ids, page, target):
    if where[page] >= 0:
        dll_remove(prev, nxt, page)
        sizes[where[page]] -= 1
    if target >= 0:
        dll_push_front(prev, nxt, n_ids + target, page)
        sizes[target] += 1
    where[page] = target


@njit(cache=True)
def _victim(prev, sizes, n_ids, in_b2, p):
    """REPLACE's choice: the LRU page of T1 or of T2 (it becomes a ghost)."""
    t1 = sizes[T1]
    take_t1 = t1 >= 1 and ((in_b2 and t1 == p) or t1 > p)
    if sizes[T2] == 0:
        take_t1 = True
    if take_t1:
        return dll_tail(prev, n_ids + T1), B1
    return dll_tail(prev, n_ids + T2), B2


@njit(cache=True)
def _arc_run(trace, n_ids, k, prev, nxt):
    T = trace.size
    where = np.full(n_ids, -1, dtype=np.int64)
    sizes = np.zeros(4, dtype=np.int64)
    miss = np.zeros(T, dtype=np.bool_)
    victims = np.full(T, -1, dtype=np.int64)
    c, p = k, 0.0
    for t in range(T):
        x = trace[t]
        w = where[x]
        if w == T1 or w == T2:
            _move(prev, nxt, where, sizes, n_ids, x, T2)
            continue
        miss[t] = True
        victim, ghost = -1, -1
        if w == B1:
            p = min(p + max(sizes[B2] / sizes[B1], 1.0), c)
            victim, ghost = _victim(prev, sizes, n_ids, False, p)
        elif w == B2:
            p = max(p - max(sizes[B1] / sizes[B2], 1.0), 0.0)
            victim, ghost = _victim(prev, sizes, n_ids, True, p)
        elif sizes[T1] + sizes[B1] == c:
            if sizes[T1] < c:
                _move(prev, nxt, where, sizes, n_ids, dll_tail(prev, n_ids + B1), -1)
                victim, ghost = _victim(prev, sizes, n_ids, False, p)
            else:
                victim = dll_tail(prev, n_ids + T1)  # leaves the directory entirely
        elif sizes[0] + sizes[1] + sizes[2] + sizes[3] >= c:
            if sizes[0] + sizes[1] + sizes[2] + sizes[3] == 2 * c:
                _move(prev, nxt, where, sizes, n_ids, dll_tail(prev, n_ids + B2), -1)
            victim, ghost = _victim(prev, sizes, n_ids, False, p)
        if victim >= 0:
            _move(prev, nxt, where, sizes, n_ids, victim, ghost)
            victims[t] = victim
        _move(prev, nxt, where, sizes, n_ids, x, T1 if w < 0 else T2)
    return miss, victims


@register_policy
class ARC(PagingPolicy):
    """ARC balances a recency list T1 and a frequency list T2, steering the target size ``p`` of T1
    with ghost hits (B1 grows it, B2 shrinks it); directory of 2k ids, k resident."""

    name = "ARC"

    def _run(self, trace, n_ids, k, predictions, seed):
        prev, nxt = dll_new(n_ids, 4)
        return _arc_run(trace, n_ids, k, prev, nxt)

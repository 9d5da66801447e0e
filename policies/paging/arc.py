"""ARC: Adaptive Replacement Cache (Megiddo & Modha, FAST 2003); hooks of the one simulator loop."""
from __future__ import annotations

import numpy as np
from numba import njit

from heurist.envs.paging.sim_loop import simulator_for
from heurist.policies.paging._structures import dll_new, dll_push_front, dll_remove, dll_tail
from heurist.policies.paging.base import PagingPolicy, register_policy

__all__ = ["ARC"]

T1, T2, B1, B2 = 0, 1, 2, 3  # resident recency / frequency lists, then their ghosts


# state = (prev, next, where [n_ids] (list or -1), sizes [4], p [1] (target size of T1),
#          ghost [1] (where the chosen victim goes: B1, B2 or -1 = out of the directory),
#          n_ids (list j's sentinel is n_ids + j), c = k)
@njit(cache=True, inline="always")
def _move(state, page, target):
    prev, nxt, where, sizes, _p, _ghost, n_ids, _c = state
    if where[page] >= 0:
        dll_remove(prev, nxt, page)
        sizes[where[page]] -= 1
    if target >= 0:
        dll_push_front(prev, nxt, n_ids + target, page)
        sizes[target] += 1
    where[page] = target


@njit(cache=True, inline="always")
def _replace(state, in_b2):
    """REPLACE's choice: the LRU page of T1 or of T2 (it becomes a ghost)."""
    prev, _nxt, _where, sizes, p, ghost, n_ids, _c = state
    t1 = sizes[T1]
    take_t1 = t1 >= 1 and ((in_b2 and t1 == p[0]) or t1 > p[0])
    if sizes[T2] == 0:
        take_t1 = True
    ghost[0] = B1 if take_t1 else B2
    return dll_tail(prev, n_ids + (T1 if take_t1 else T2))


@njit(cache=True, inline="always")
def _find(state, page, t):
    w = state[2][page]
    if w != T1 and w != T2:
        return False
    _move(state, page, T2)
    return True


@njit(cache=True, inline="always")
def _to_evict(state, page, t):
    """The case analysis of a miss with a full cache: adapts ``p`` on a ghost hit and trims the
    ghost lists, then chooses the victim (the directory holds at most 2k ids)."""
    prev, _nxt, where, sizes, p, ghost, n_ids, c = state
    w = where[page]
    if w == B1:
        p[0] = min(p[0] + max(sizes[B2] / sizes[B1], 1.0), c)
        return _replace(state, False)
    if w == B2:
        p[0] = max(p[0] - max(sizes[B1] / sizes[B2], 1.0), 0.0)
        return _replace(state, True)
    if sizes[T1] + sizes[B1] == c:
        if sizes[T1] < c:
            _move(state, dll_tail(prev, n_ids + B1), -1)
            return _replace(state, False)
        ghost[0] = -1  # T1 alone fills L1: its LRU page leaves the directory entirely
        return dll_tail(prev, n_ids + T1)
    if sizes[0] + sizes[1] + sizes[2] + sizes[3] == 2 * c:
        _move(state, dll_tail(prev, n_ids + B2), -1)
    return _replace(state, False)


@njit(cache=True, inline="always")
def _evict(state, victim, t):
    _move(state, victim, state[5][0])


@njit(cache=True, inline="always")
def _insert(state, page, t):
    w = state[2][page]
    _move(state, page, T1 if w < 0 else T2)  # a ghost hit enters the frequency list


_simulate = simulator_for(globals())


@register_policy
class ARC(PagingPolicy):
    """ARC balances a recency list T1 and a frequency list T2, steering the target size ``p`` of T1
    with ghost hits (B1 grows it, B2 shrinks it); directory of 2k ids, k resident."""

    name = "ARC"

    def _state(self, trace, n_ids, k, predictions, seed):
        prev, nxt = dll_new(n_ids, 4)
        return _simulate, (prev, nxt, np.full(n_ids, -1, dtype=np.int64),
                           np.zeros(4, dtype=np.int64), np.zeros(1, dtype=np.float64),
                           np.full(1, -1, dtype=np.int64), n_ids, k)

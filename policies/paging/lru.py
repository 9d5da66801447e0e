"""LRU: evict the least recently used page (hooks of the one simulator loop)."""
from __future__ import annotations

import numpy as np
from numba import njit

from heurist.envs.paging.sim_loop import simulator_for
from heurist.policies.paging._structures import dll_new, dll_push_front, dll_remove, dll_tail
from heurist.policies.paging.base import PagingPolicy, register_policy

__all__ = ["LRU"]


# state = (prev, next, cached [n_ids], head): one list, most recent first, sentinel ``head``
@njit(cache=True, inline="always")
def _find(state, page, t):
    prev, nxt, cached, head = state
    if not cached[page]:
        return False
    dll_remove(prev, nxt, page)
    dll_push_front(prev, nxt, head, page)  # now the most recent
    return True


@njit(cache=True, inline="always")
def _to_evict(state, page, t):
    return dll_tail(state[0], state[3])  # the least recently used page


@njit(cache=True, inline="always")
def _evict(state, victim, t):
    prev, nxt, cached, _head = state
    dll_remove(prev, nxt, victim)
    cached[victim] = False


@njit(cache=True, inline="always")
def _insert(state, page, t):
    prev, nxt, cached, head = state
    cached[page] = True
    dll_push_front(prev, nxt, head, page)


_simulate = simulator_for(globals())


@register_policy
class LRU(PagingPolicy):
    """Least recently used: k-competitive, a marking algorithm."""

    name = "LRU"

    def _state(self, trace, n_ids, k, predictions, seed):
        prev, nxt = dll_new(n_ids, 1)
        return _simulate, (prev, nxt, np.zeros(n_ids, dtype=np.bool_), n_ids)

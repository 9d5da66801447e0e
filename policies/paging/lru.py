"""LRU: evict the least recently used page."""
from __future__ import annotations

import numpy as np
from numba import njit

from heurist.policies.paging._structures import dll_new, dll_push_front, dll_remove, dll_tail
from heurist.policies.paging.base import PagingPolicy, register_policy

__all__ = ["LRU"]


@njit(cache=True)
def _victim(prev, head):
    return dll_tail(prev, head)  # the least recently used page


@njit(cache=True)
def _evict(prev, nxt, cached, victim):
    dll_remove(prev, nxt, victim)
    cached[victim] = False


@njit(cache=True)
def _lru_run(trace, n_ids, k, prev, nxt):
    T = trace.size
    head = n_ids  # sentinel: next = most recent, prev = least recent
    cached = np.zeros(n_ids, dtype=np.bool_)
    miss = np.zeros(T, dtype=np.bool_)
    victims = np.full(T, -1, dtype=np.int64)
    occupancy = 0
    for t in range(T):
        page = trace[t]
        if cached[page]:
            dll_remove(prev, nxt, page)  # hit: unlink, re-inserted at the front below
        else:
            miss[t] = True
            if occupancy == k:
                victim = _victim(prev, head)
                _evict(prev, nxt, cached, victim)
                victims[t] = victim
            else:
                occupancy += 1
            cached[page] = True
        dll_push_front(prev, nxt, head, page)  # insert as the most recent
    return miss, victims


@register_policy
class LRU(PagingPolicy):
    """Least recently used: k-competitive, a marking algorithm."""

    name = "LRU"

    def _run(self, trace, n_ids, k, predictions, seed):
        prev, nxt = dll_new(n_ids, 1)
        return _lru_run(trace, n_ids, k, prev, nxt)

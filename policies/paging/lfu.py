"""LFU: evict the cached page with the fewest requests since it was loaded (ties: least recent)."""
from __future__ import annotations

import numpy as np
from numba import njit

from heurist.policies.paging._structures import heap_pop, heap_push
from heurist.policies.paging.base import PagingPolicy, register_policy

__all__ = ["LFU"]


@njit(cache=True)
def _victim(keys, vals, size, cached, current):
    """Pops heap entries until a live one (its page cached, key current): the LFU page."""
    while True:
        victim, vkey = vals[0], keys[0]
        size = heap_pop(keys, vals, size)
        if cached[victim] and current[victim] == vkey:
            return victim, size


@njit(cache=True)
def _lfu_run(trace, n_ids, k):
    T = trace.size
    # Max-heap on -(freq * (T + 1) + last request): the top is the least frequent, then least recent.
    keys = np.empty(T + 1, dtype=np.int64)
    vals = np.empty(T + 1, dtype=np.int64)
    size = 0
    freq = np.zeros(n_ids, dtype=np.int64)
    current = np.zeros(n_ids, dtype=np.int64)
    cached = np.zeros(n_ids, dtype=np.bool_)
    miss = np.zeros(T, dtype=np.bool_)
    victims = np.full(T, -1, dtype=np.int64)
    occupancy = 0
    for t in range(T):
        page = trace[t]
        if cached[page]:
            freq[page] += 1
        else:
            miss[t] = True
            if occupancy == k:
                victim, size = _victim(keys, vals, size, cached, current)
                cached[victim] = False  # evict
                victims[t] = victim
            else:
                occupancy += 1
            cached[page] = True
            freq[page] = 1  # frequency counts requests since the page was (re)loaded
        key = -(freq[page] * (T + 1) + t)
        current[page] = key
        size = heap_push(keys, vals, size, key, page)
    return miss, victims


@register_policy
class LFU(PagingPolicy):
    """In-cache LFU (frequencies reset on eviction), least-recently-used among equals."""

    name = "LFU"

    def _run(self, trace, n_ids, k, predictions, seed):
        return _lfu_run(trace, n_ids, k)

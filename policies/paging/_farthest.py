"""The kernel shared by every "evict the cached page with the largest key" policy whose key changes
only when the page is requested (Belady with true next arrivals, BlindOracle with predicted ones)."""
from __future__ import annotations

import numpy as np
from heurist.policies.paging._structures import heap_pop, heap_push
from numba import njit

__all__ = ["farthest_key_run"]


@njit(cache=True)
def _victim(keys, vals, size, cached, current):
    # Lazy deletion: an entry is live iff its page is cached and the key is still the page's key.
    while True:
        page, key = vals[0], keys[0]
        size = heap_pop(keys, vals, size)
        if cached[page] and current[page] == key:
            return page, size


@njit(cache=True)
def farthest_key_run(trace, request_keys, n_ids, k):
    """``request_keys [T]``: the key page ``trace[t]`` carries after request ``t``. Returns
    ``(miss [T], victims [T])``."""
    T = trace.size
    keys = np.empty(T + 1, dtype=np.float64)
    vals = np.empty(T + 1, dtype=np.int64)
    size = 0
    cached = np.zeros(n_ids, dtype=np.bool_)
    current = np.full(n_ids, np.nan)
    miss = np.zeros(T, dtype=np.bool_)
    victims = np.full(T, -1, dtype=np.int64)
    occupancy = 0
    for t in range(T):
        page = trace[t]
        if not cached[page]:
            miss[t] = True
            if occupancy == k:
                victim, size = _victim(keys, vals, size, cached, current)
                cached[victim] = False  # evict
                victims[t] = victim
            else:
                occupancy += 1
            cached[page] = True  # insert
        current[page] = request_keys[t]
        size = heap_push(keys, vals, size, request_keys[t], page)
    return miss, victims

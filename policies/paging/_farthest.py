"""The kernel shared by every "evict the cached page with the largest key" policy whose key changes
only when the page is requested (Belady with true next arrivals, BlindOracle with predicted ones).

An indexed binary max-heap holds exactly the cached pages (``pos[page]`` is the page's slot), so it
stays k entries long and a hit updates its entry in place instead of pushing a new one."""
from __future__ import annotations

import numpy as np
from numba import njit

__all__ = ["farthest_key_run"]


@njit(cache=True, inline="always")
def _swap(keys, pages, pos, i, j):
    keys[i], keys[j] = keys[j], keys[i]
    pages[i], pages[j] = pages[j], pages[i]
    pos[pages[i]] = i
    pos[pages[j]] = j


@njit(cache=True)
def _sift_up(keys, pages, pos, i):
    while i > 0:
        parent = (i - 1) >> 1
        if keys[parent] >= keys[i]:
            return i
        _swap(keys, pages, pos, i, parent)
        i = parent
    return i


@njit(cache=True)
def _sift_down(keys, pages, pos, i, size):
    while True:
        child = 2 * i + 1
        if child >= size:
            return
        if child + 1 < size and keys[child + 1] > keys[child]:
            child += 1
        if keys[i] >= keys[child]:
            return
        _swap(keys, pages, pos, i, child)
        i = child


@njit(cache=True)
def farthest_key_run(trace, request_keys, n_ids, k):
    """``request_keys [T]``: the key page ``trace[t]`` carries after request ``t`` (any numeric
    dtype). Returns ``(miss [T], victims [T])``."""
    T = trace.size
    keys = np.empty(k, dtype=request_keys.dtype)
    pages = np.empty(k, dtype=np.int64)
    pos = np.full(n_ids, -1, dtype=np.int64)
    miss = np.zeros(T, dtype=np.bool_)
    victims = np.full(T, -1, dtype=np.int64)
    size = 0
    for t in range(T):
        page = trace[t]
        key = request_keys[t]
        i = pos[page]
        if i >= 0:  # hit: re-key in place
            keys[i] = key
            if _sift_up(keys, pages, pos, i) == i:
                _sift_down(keys, pages, pos, i, size)
            continue
        miss[t] = True
        if size == k:
            victim = pages[0]  # choose: the largest key
            pos[victim] = -1  # evict
            victims[t] = victim
            keys[0] = key  # insert into the freed root slot
            pages[0] = page
            pos[page] = 0
            _sift_down(keys, pages, pos, 0, size)
        else:
            keys[size] = key
            pages[size] = page
            pos[page] = size
            size += 1
            _sift_up(keys, pages, pos, size - 1)
    return miss, victims

"""Belady's rule, the single copy: evict the cached page with the largest key, where a page's key
changes only when it is requested. With keys = true next request (:func:`belady_keys`) it is the
offline optimum (OPT, used for the discard bits); with predicted next arrivals it is BlindOracle.

Simulator hooks (see :mod:`heurist.envs.paging.sim_loop`) over an indexed binary max-heap holding
exactly the cached pages (``pos[page]`` is the page's heap slot), so it stays k entries long and a
hit re-keys its entry in place. Eviction leaves a hole at the root that the insertion fills, so a
miss costs one sift, as a combined replace would.
"""
from __future__ import annotations

import numpy as np
from numba import njit

from heurist.envs.paging.sim_loop import simulator_for

__all__ = ["belady_keys", "farthest_key_run", "farthest_state"]


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


# ---------------------------------------------------------------------------- simulator hooks
# state = (request_keys [T], keys [k], pages [k], pos [n_ids], reg [2]: heap size, hole or -1)
@njit(cache=True, inline="always")
def _find(state, page, t):
    request_keys, keys, pages, pos, reg = state
    i = pos[page]
    if i < 0:
        return False
    keys[i] = request_keys[t]  # a hit re-keys the page in place
    if _sift_up(keys, pages, pos, i) == i:
        _sift_down(keys, pages, pos, i, reg[0])
    return True


@njit(cache=True, inline="always")
def _to_evict(state, page, t):
    return state[2][0]  # the root: the largest key


@njit(cache=True, inline="always")
def _evict(state, victim, t):
    pos, reg = state[3], state[4]
    reg[1] = pos[victim]  # the hole the insertion fills
    pos[victim] = -1


@njit(cache=True, inline="always")
def _insert(state, page, t):
    request_keys, keys, pages, pos, reg = state
    i = reg[1]
    if i < 0:
        i = reg[0]
        reg[0] += 1
    reg[1] = -1
    keys[i] = request_keys[t]
    pages[i] = page
    pos[page] = i
    if _sift_up(keys, pages, pos, i) == i:
        _sift_down(keys, pages, pos, i, reg[0])


_simulate = simulator_for(globals())


def farthest_state(request_keys, n_ids: int, k: int):
    """``(simulator, state)`` of the farthest-key rule; ``request_keys [T]`` is the key page
    ``trace[t]`` carries after request ``t`` (any numeric dtype)."""
    request_keys = np.ascontiguousarray(request_keys)
    return _simulate, (request_keys, np.empty(k, dtype=request_keys.dtype),
                       np.empty(k, dtype=np.int64), np.full(n_ids, -1, dtype=np.int64),
                       np.array([0, -1], dtype=np.int64))


def farthest_key_run(trace, request_keys, n_ids: int, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Replays dense ``trace [T]`` (ids ``< n_ids``) evicting the largest key (see
    :func:`farthest_state`). Returns ``(miss [T] bool, victims [T] int64, -1 = none)``."""
    T = trace.size
    _, state = farthest_state(request_keys, n_ids, k)
    miss = np.zeros(T, dtype=np.bool_)
    victims = np.full(T, -1, dtype=np.int64)
    _simulate(trace, k, state, miss, victims, 0)
    return miss, victims


def belady_keys(trace, n_ids: int) -> np.ndarray:
    """Belady's keys ``[T]`` int64 of dense ``trace`` ``[T]``: the index of the page's next
    request, or ``T + page`` for "never" (after every real request, and distinct, so ties never
    depend on heap order)."""
    from heurist.envs.paging.predictions import next_arrivals_dense

    nxt = next_arrivals_dense(trace, n_ids)
    return np.where(nxt >= 0, nxt, trace.size + trace)

"""LFU: evict the cached page with the fewest requests since it was loaded (ties: least recent);
hooks of the one simulator loop."""
from __future__ import annotations

import numpy as np
from numba import njit

from heurist.envs.paging.sim_loop import simulator_for
from heurist.policies.paging._structures import heap_pop, heap_push
from heurist.policies.paging.base import PagingPolicy, register_policy

__all__ = ["LFU"]


# state = (keys [T+1], vals [T+1], freq, current, cached [n_ids], reg [1]: heap size). A max-heap
# on -(freq * (T + 1) + last request), with lazy deletion: an entry is live iff its page is cached
# and its key is the page's current one. The top live entry is the least frequent, least recent.
@njit(cache=True, inline="always")
def _touch(state, page, t):
    keys, vals, freq, current, _cached, reg = state
    key = -(freq[page] * keys.size + t)
    current[page] = key
    reg[0] = heap_push(keys, vals, reg[0], key, page)


@njit(cache=True, inline="always")
def _find(state, page, t):
    if not state[4][page]:
        return False
    state[2][page] += 1
    _touch(state, page, t)
    return True


@njit(cache=True, inline="always")
def _to_evict(state, page, t):
    keys, vals, _freq, current, cached, reg = state
    while True:  # pop until a live entry
        victim, vkey = vals[0], keys[0]
        reg[0] = heap_pop(keys, vals, reg[0])
        if cached[victim] and current[victim] == vkey:
            return victim


@njit(cache=True, inline="always")
def _evict(state, victim, t):
    state[4][victim] = False


@njit(cache=True, inline="always")
def _insert(state, page, t):
    state[4][page] = True
    state[2][page] = 1  # frequency counts requests since the page was (re)loaded
    _touch(state, page, t)


_simulate = simulator_for(globals())


@register_policy
class LFU(PagingPolicy):
    """In-cache LFU (frequencies reset on eviction), least-recently-used among equals."""

    name = "LFU"

    def _state(self, trace, n_ids, k, predictions, seed):
        T = trace.size
        return _simulate, (np.empty(T + 1, dtype=np.int64), np.empty(T + 1, dtype=np.int64),
                           np.zeros(n_ids, dtype=np.int64), np.zeros(n_ids, dtype=np.int64),
                           np.zeros(n_ids, dtype=np.bool_), np.zeros(1, dtype=np.int64))

"""FIFO: evict the page loaded earliest (hooks of the one simulator loop)."""
from __future__ import annotations

import numpy as np
from numba import njit

from heurist.envs.paging.sim_loop import simulator_for
from heurist.policies.paging.base import PagingPolicy, register_policy

__all__ = ["FIFO"]


# state = (ring [k] in load order, cached [n_ids], reg [2]: oldest position, count)
@njit(cache=True, inline="always")
def _find(state, page, t):
    return state[1][page]  # a hit changes nothing


@njit(cache=True, inline="always")
def _to_evict(state, page, t):
    return state[0][state[2][0]]  # the page loaded earliest


@njit(cache=True, inline="always")
def _evict(state, victim, t):
    ring, cached, reg = state
    cached[victim] = False
    reg[0] = (reg[0] + 1) % ring.size
    reg[1] -= 1


@njit(cache=True, inline="always")
def _insert(state, page, t):
    ring, cached, reg = state
    ring[(reg[0] + reg[1]) % ring.size] = page
    reg[1] += 1
    cached[page] = True


_simulate = simulator_for(globals())


@register_policy
class FIFO(PagingPolicy):
    """First in, first out: k-competitive, ignores hits."""

    name = "FIFO"

    def _state(self, trace, n_ids, k, predictions, seed):
        return _simulate, (np.empty(k, dtype=np.int64), np.zeros(n_ids, dtype=np.bool_),
                           np.zeros(2, dtype=np.int64))

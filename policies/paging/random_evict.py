"""Random: evict a uniformly random cached page."""
from __future__ import annotations

import numpy as np
from numba import njit

from heurist.policies.paging.base import PagingPolicy, register_policy

__all__ = ["RandomEviction"]


@njit(cache=True, inline="always")
def _victim_slot(k):
    return np.random.randint(0, k)  # a uniformly random occupied slot


@njit(cache=True)
def _random_run(trace, n_ids, k, seed):
    np.random.seed(seed)
    T = trace.size
    slots = np.empty(k, dtype=np.int64)
    cached = np.zeros(n_ids, dtype=np.bool_)
    miss = np.zeros(T, dtype=np.bool_)
    victims = np.full(T, -1, dtype=np.int64)
    occupancy = 0
    for t in range(T):
        page = trace[t]
        if cached[page]:
            continue
        miss[t] = True
        if occupancy == k:
            slot = _victim_slot(k)
            victim = slots[slot]
            cached[victim] = False  # evict; the new page takes the slot
            victims[t] = victim
            slots[slot] = page
        else:
            slots[occupancy] = page
            occupancy += 1
        cached[page] = True
    return miss, victims


@register_policy
class RandomEviction(PagingPolicy):
    """Uniformly random victim (k-competitive against an oblivious adversary); seeded."""

    name = "Random"
    aliases = ("rand",)
    randomized = True

    def _run(self, trace, n_ids, k, predictions, seed):
        return _random_run(trace, n_ids, k, seed)

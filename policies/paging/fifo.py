"""FIFO: evict the page loaded earliest."""
from __future__ import annotations

import numpy as np
from numba import njit

from heurist.policies.paging.base import PagingPolicy, register_policy

__all__ = ["FIFO"]


@njit(cache=True, inline="always")
def _victim(ring, hand):
    return ring[hand]  # the page loaded earliest


@njit(cache=True)
def _fifo_run(trace, n_ids, k):
    T = trace.size
    ring = np.empty(k, dtype=np.int64)  # slots in load order, ``hand`` = oldest
    cached = np.zeros(n_ids, dtype=np.bool_)
    miss = np.zeros(T, dtype=np.bool_)
    victims = np.full(T, -1, dtype=np.int64)
    occupancy, hand = 0, 0
    for t in range(T):
        page = trace[t]
        if cached[page]:
            continue
        miss[t] = True
        if occupancy == k:
            victim = _victim(ring, hand)
            cached[victim] = False  # evict; the new page takes its ring slot
            victims[t] = victim
            ring[hand] = page
            hand = (hand + 1) % k
        else:
            ring[occupancy] = page
            occupancy += 1
        cached[page] = True
    return miss, victims


@register_policy
class FIFO(PagingPolicy):
    """First in, first out: k-competitive, ignores hits."""

    name = "FIFO"

    def _run(self, trace, n_ids, k, predictions, seed):
        return _fifo_run(trace, n_ids, k)

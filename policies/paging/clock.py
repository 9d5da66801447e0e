"""CLOCK (second chance): FIFO that spares pages referenced since the hand last passed them."""
from __future__ import annotations

import numpy as np
from numba import njit

from heurist.policies.paging.base import PagingPolicy, register_policy

__all__ = ["CLOCK"]


@njit(cache=True, inline="always")
def _victim_slot(referenced, hand, k):
    while referenced[hand]:  # second chance: clear the bit and move on
        referenced[hand] = False
        hand = (hand + 1) % k
    return hand


@njit(cache=True)
def _clock_run(trace, n_ids, k):
    T = trace.size
    ring = np.empty(k, dtype=np.int64)
    slot_of = np.full(n_ids, -1, dtype=np.int64)
    referenced = np.zeros(k, dtype=np.bool_)
    miss = np.zeros(T, dtype=np.bool_)
    victims = np.full(T, -1, dtype=np.int64)
    occupancy, hand = 0, 0
    for t in range(T):
        page = trace[t]
        slot = slot_of[page]
        if slot >= 0:
            referenced[slot] = True
            continue
        miss[t] = True
        if occupancy == k:
            hand = _victim_slot(referenced, hand, k)
            victim = ring[hand]
            slot_of[victim] = -1  # evict
            victims[t] = victim
            slot = hand
            hand = (hand + 1) % k
        else:
            slot = occupancy
            occupancy += 1
        ring[slot] = page
        slot_of[page] = slot
        referenced[slot] = False  # a new page gets no second chance until it is hit
    return miss, victims


@register_policy
class CLOCK(PagingPolicy):
    """One-bit CLOCK; pages are inserted with the reference bit clear (as in libCacheSim)."""

    name = "CLOCK"
    aliases = ("second_chance",)

    def _run(self, trace, n_ids, k, predictions, seed):
        return _clock_run(trace, n_ids, k)

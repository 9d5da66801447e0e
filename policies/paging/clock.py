"""CLOCK (second chance): FIFO that spares pages referenced since the hand last passed them
(hooks of the one simulator loop)."""
from __future__ import annotations

import numpy as np
from numba import njit

from heurist.envs.paging.sim_loop import simulator_for
from heurist.policies.paging.base import PagingPolicy, register_policy

__all__ = ["CLOCK"]


# state = (ring [k], slot_of [n_ids], referenced [k], reg [3]: hand, slots used, freed slot or -1)
@njit(cache=True, inline="always")
def _find(state, page, t):
    slot = state[1][page]
    if slot < 0:
        return False
    state[2][slot] = True
    return True


@njit(cache=True, inline="always")
def _to_evict(state, page, t):
    ring, _slot_of, referenced, reg = state
    hand, k = reg[0], ring.size
    while referenced[hand]:  # second chance: clear the bit and move on
        referenced[hand] = False
        hand = (hand + 1) % k
    reg[0] = hand
    return ring[hand]


@njit(cache=True, inline="always")
def _evict(state, victim, t):
    ring, slot_of, _referenced, reg = state
    reg[2] = slot_of[victim]  # the hand's slot; the new page takes it
    reg[0] = (reg[0] + 1) % ring.size
    slot_of[victim] = -1


@njit(cache=True, inline="always")
def _insert(state, page, t):
    ring, slot_of, referenced, reg = state
    slot = reg[2]
    if slot < 0:
        slot = reg[1]
        reg[1] += 1
    reg[2] = -1
    ring[slot] = page
    slot_of[page] = slot
    referenced[slot] = False  # a new page gets no second chance until it is hit


_simulate = simulator_for(globals())


@register_policy
class CLOCK(PagingPolicy):
    """One-bit CLOCK; pages are inserted with the reference bit clear (as in libCacheSim)."""

    name = "CLOCK"
    aliases = ("second_chance",)

    def _state(self, trace, n_ids, k, predictions, seed):
        return _simulate, (np.empty(k, dtype=np.int64), np.full(n_ids, -1, dtype=np.int64),
                           np.zeros(k, dtype=np.bool_), np.array([0, 0, -1], dtype=np.int64))

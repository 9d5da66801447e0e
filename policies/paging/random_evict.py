"""Random: evict a uniformly random cached page (hooks of the one simulator loop)."""
from __future__ import annotations

import numpy as np
from numba import njit

from heurist.envs.paging.sim_loop import simulator_for
from heurist.policies.paging.base import PagingPolicy, register_policy, seed_numba

__all__ = ["RandomEviction"]


# state = (slots [k], slot_of [n_ids], reg [2]: slots used, freed slot or -1)
@njit(cache=True, inline="always")
def _find(state, page, t):
    return state[1][page] >= 0


@njit(cache=True, inline="always")
def _to_evict(state, page, t):
    slots = state[0]
    return slots[np.random.randint(0, slots.size)]  # a uniformly random occupied slot


@njit(cache=True, inline="always")
def _evict(state, victim, t):
    _slots, slot_of, reg = state
    reg[1] = slot_of[victim]  # the new page takes the slot
    slot_of[victim] = -1


@njit(cache=True, inline="always")
def _insert(state, page, t):
    slots, slot_of, reg = state
    slot = reg[1]
    if slot < 0:
        slot = reg[0]
        reg[0] += 1
    reg[1] = -1
    slots[slot] = page
    slot_of[page] = slot


_simulate = simulator_for(globals())


@register_policy
class RandomEviction(PagingPolicy):
    """Uniformly random victim (k-competitive against an oblivious adversary); seeded."""

    name = "Random"
    aliases = ("rand",)
    randomized = True

    def _state(self, trace, n_ids, k, predictions, seed):
        seed_numba(seed)
        return _simulate, (np.empty(k, dtype=np.int64), np.full(n_ids, -1, dtype=np.int64),
                           np.array([0, -1], dtype=np.int64))

"""S3-FIFO (Yang et al., SOSP 2023): a small probationary FIFO, a main FIFO with lazy reinsertion,
and a ghost FIFO of recently evicted ids; hooks of the one simulator loop."""
from __future__ import annotations

import numpy as np
from numba import njit

from heurist.envs.paging.sim_loop import simulator_for
from heurist.policies.paging._structures import dll_new, dll_push_front, dll_remove, dll_tail
from heurist.policies.paging.base import PagingPolicy, register_policy

__all__ = ["S3FIFO"]

SMALL, MAIN = 0, 1


# state = (prev, next, where [n_ids] (queue or -1), freq [n_ids], ghost_stamp [n_ids], sizes [2],
#          reg [2]: ghost sequence number, 1 if the chosen victim enters the ghost queue,
#          n_ids (queue j's sentinel is n_ids + j), k, k_small, threshold). The ghost queue holds
#          the last ``k - k_small`` ids that left the small queue.
@njit(cache=True, inline="always")
def _find(state, page, t):
    freq = state[3]
    if state[2][page] < 0:
        return False
    freq[page] = min(freq[page] + 1, 3)
    return True


@njit(cache=True, inline="always")
def _to_evict(state, page, t):
    """Chooses (and unlinks) the next page to leave the cache; promotes or demotes on the way."""
    prev, nxt, where, freq, _ghost_stamp, sizes, reg, n_ids, _k, k_small, threshold = state
    if sizes[SMALL] >= k_small or sizes[MAIN] == 0:
        while sizes[SMALL] > 0:
            tail = dll_tail(prev, n_ids + SMALL)
            dll_remove(prev, nxt, tail)
            sizes[SMALL] -= 1
            if freq[tail] >= threshold:  # re-used while on probation: promote to main
                freq[tail] = 0
                dll_push_front(prev, nxt, n_ids + MAIN, tail)
                sizes[MAIN] += 1
                where[tail] = MAIN
            else:
                reg[1] = 1
                return tail
    while True:
        tail = dll_tail(prev, n_ids + MAIN)
        dll_remove(prev, nxt, tail)
        if freq[tail] > 0:  # lazy promotion: reinsert with one less credit
            freq[tail] -= 1
            dll_push_front(prev, nxt, n_ids + MAIN, tail)
        else:
            sizes[MAIN] -= 1
            reg[1] = 0
            return tail


@njit(cache=True, inline="always")
def _evict(state, victim, t):
    where, ghost_stamp, reg = state[2], state[4], state[6]
    where[victim] = -1  # already unlinked by the choice
    if reg[1]:
        ghost_stamp[victim] = reg[0]
        reg[0] += 1


@njit(cache=True, inline="always")
def _insert(state, page, t):
    prev, nxt, where, freq, ghost_stamp, sizes, reg, n_ids, k, k_small, _threshold = state
    ghost_cap = max(k - k_small, 1)
    in_ghost = ghost_stamp[page] >= 0 and reg[0] - ghost_stamp[page] <= ghost_cap
    target = MAIN if in_ghost else SMALL
    ghost_stamp[page] = -1
    freq[page] = 0
    dll_push_front(prev, nxt, n_ids + target, page)
    sizes[target] += 1
    where[page] = target


_simulate = simulator_for(globals())


@register_policy
class S3FIFO(PagingPolicy):
    """S3-FIFO with a small queue of ``small_fraction`` of the cache (at least one page). A page
    leaving the small queue moves to main if it was requested ``move_threshold`` times while there,
    otherwise its id enters the ghost queue (as many entries as main holds); a miss on a ghost id
    goes straight to main. Main is FIFO with 2-bit frequency credits. Exactly one page leaves per
    miss, as in libCacheSim."""

    name = "S3-FIFO"
    aliases = ("s3fifo",)

    def __init__(self, *, small_fraction: float = 0.1, move_threshold: int = 1) -> None:
        if not 0.0 < small_fraction < 1.0:
            raise ValueError(f"S3-FIFO: small_fraction must lie in (0, 1), got {small_fraction}")
        if int(move_threshold) < 1:
            raise ValueError(f"S3-FIFO: move_threshold must be >= 1, got {move_threshold}")
        self.small_fraction = float(small_fraction)
        self.move_threshold = int(move_threshold)

    def _state(self, trace, n_ids, k, predictions, seed):
        k_small = max(1, round(self.small_fraction * k))
        prev, nxt = dll_new(n_ids, 2)
        return _simulate, (prev, nxt, np.full(n_ids, -1, dtype=np.int64),
                           np.zeros(n_ids, dtype=np.int64), np.full(n_ids, -1, dtype=np.int64),
                           np.zeros(2, dtype=np.int64), np.zeros(2, dtype=np.int64), n_ids, k,
                           k_small, self.move_threshold)

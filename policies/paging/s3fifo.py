"""S3-FIFO (Yang et al., SOSP 2023): a small probationary FIFO, a main FIFO with lazy reinsertion,
and a ghost FIFO of recently evicted ids."""
from __future__ import annotations

import numpy as np
from numba import njit

from heurist.policies.paging._structures import dll_new, dll_push_front, dll_remove, dll_tail
from heurist.policies.paging.base import PagingPolicy, register_policy

__all__ = ["S3FIFO"]

SMALL, MAIN = 0, 1


@njit(cache=True)
def _victim(prev, nxt, where, freq, sizes, n_ids, k_small, threshold):
    """Chooses (and unlinks) the next page to leave the cache; promotes or demotes on the way."""
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
                return tail, True
    while True:
        tail = dll_tail(prev, n_ids + MAIN)
        dll_remove(prev, nxt, tail)
        if freq[tail] > 0:  # lazy promotion: reinsert with one less credit
            freq[tail] -= 1
            dll_push_front(prev, nxt, n_ids + MAIN, tail)
        else:
            sizes[MAIN] -= 1
            return tail, False


@njit(cache=True)
def _s3fifo_run(trace, n_ids, k, k_small, threshold, prev, nxt):
    T = trace.size
    ghost_cap = max(k - k_small, 1)
    where = np.full(n_ids, -1, dtype=np.int64)
    freq = np.zeros(n_ids, dtype=np.int64)
    ghost_stamp = np.full(n_ids, -1, dtype=np.int64)  # ghost holds the last ``ghost_cap`` entries
    ghost_seq = 0
    sizes = np.zeros(2, dtype=np.int64)
    miss = np.zeros(T, dtype=np.bool_)
    victims = np.full(T, -1, dtype=np.int64)
    for t in range(T):
        x = trace[t]
        if where[x] >= 0:
            freq[x] = min(freq[x] + 1, 3)
            continue
        miss[t] = True
        if sizes[SMALL] + sizes[MAIN] == k:
            victim, to_ghost = _victim(prev, nxt, where, freq, sizes, n_ids, k_small, threshold)
            where[victim] = -1
            victims[t] = victim
            if to_ghost:
                ghost_stamp[victim] = ghost_seq
                ghost_seq += 1
        in_ghost = ghost_stamp[x] >= 0 and ghost_seq - ghost_stamp[x] <= ghost_cap
        target = MAIN if in_ghost else SMALL
        ghost_stamp[x] = -1
        freq[x] = 0
        dll_push_front(prev, nxt, n_ids + target, x)
        sizes[target] += 1
        where[x] = target
    return miss, victims


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

    def _run(self, trace, n_ids, k, predictions, seed):
        k_small = max(1, round(self.small_fraction * k))
        prev, nxt = dll_new(n_ids, 2)
        return _s3fifo_run(trace, n_ids, k, k_small, self.move_threshold, prev, nxt)

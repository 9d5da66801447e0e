"""A robust combiner: follow a prediction-based policy, but whenever it has missed more than a robust
one (simulated in parallel on the same requests) follow the robust one instead, and back.

This is the "follow the leader with lazy switching" combination of Fiat et al. that Antoniadis et
al. (ICML 2020) and Wei (APPROX 2020, "RobustFtP": BlindOracle + Marker) use: on a fault the
combiner evicts the page the leader just evicted if it holds it, else its least recently used page
that is absent from the leader's cache (one always exists: the leader holds the requested page).
Its miss count is at most the leader's plus the pages in which the caches differ after a switch.
"""
from __future__ import annotations

import numpy as np
from numba import njit

from heurist.policies.paging._structures import dll_new, dll_push_front, dll_remove, dll_tail
from heurist.policies.paging.base import PagingPolicy, get_policy, register_policy

__all__ = ["Robust", "combine_run"]


@njit(cache=True)
def _advance(in_cache, miss, victims, t, page):
    if miss[t]:
        if victims[t] >= 0:
            in_cache[victims[t]] = False
        in_cache[page] = True
        return 1
    return 0


@njit(cache=True)
def combine_run(trace, n_ids, k, miss_a, victims_a, miss_b, victims_b, prev, nxt):
    """Follows the policy (a or b, from their logs ``[T]``) with fewer misses so far (a on ties,
    switching only when the current leader is strictly behind). Returns ``(miss [T], victims [T])``."""
    T = trace.size
    head = n_ids
    in_a = np.zeros(n_ids, dtype=np.bool_)
    in_b = np.zeros(n_ids, dtype=np.bool_)
    cached = np.zeros(n_ids, dtype=np.bool_)
    miss = np.zeros(T, dtype=np.bool_)
    victims = np.full(T, -1, dtype=np.int64)
    cost_a, cost_b, leader, occupancy = 0, 0, 0, 0
    for t in range(T):
        page = trace[t]
        cost_a += _advance(in_a, miss_a, victims_a, t, page)
        cost_b += _advance(in_b, miss_b, victims_b, t, page)
        if leader == 0 and cost_a > cost_b:
            leader = 1
        elif leader == 1 and cost_b > cost_a:
            leader = 0
        if cached[page]:
            dll_remove(prev, nxt, page)
        else:
            miss[t] = True
            if occupancy == k:
                lead_victim = victims_a[t] if leader == 0 else victims_b[t]
                if lead_victim >= 0 and cached[lead_victim]:
                    victim = lead_victim
                else:
                    victim = dll_tail(prev, head)
                    while (in_a[victim] if leader == 0 else in_b[victim]):
                        victim = prev[victim]
                dll_remove(prev, nxt, victim)
                cached[victim] = False
                victims[t] = victim
            else:
                occupancy += 1
            cached[page] = True
        dll_push_front(prev, nxt, head, page)
    return miss, victims


@register_policy
class Robust(PagingPolicy):
    """Follows ``follow`` (default BlindOracle) and switches to ``fallback`` (default the randomized
    Marker) whenever it falls behind, and back. Reads what ``follow`` and ``fallback`` read."""

    name = "Robust"
    aliases = ("robust_ftp", "combiner")
    needs = ("next_arrival",)
    randomized = True

    def __init__(self, *, follow="BlindOracle", fallback="RandomizedMarker") -> None:
        self.follow = get_policy(follow)
        self.fallback = get_policy(fallback)
        self.needs = tuple(dict.fromkeys(self.follow.needs + self.fallback.needs))

    def _run(self, trace, n_ids, k, predictions, seed):
        miss_a, victims_a = self.follow._run(trace, n_ids, k, predictions, seed)
        miss_b, victims_b = self.fallback._run(trace, n_ids, k, predictions, seed + 1)
        prev, nxt = dll_new(n_ids, 1)
        return combine_run(trace, n_ids, k, miss_a, victims_a, miss_b, victims_b, prev, nxt)

    def __repr__(self) -> str:
        return f"Robust(follow={self.follow.name!r}, fallback={self.fallback.name!r})"

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

from heurist.envs.paging.sim_loop import simulator_for
from heurist.policies.paging._structures import dll_new, dll_push_front, dll_remove, dll_tail
from heurist.policies.paging.base import PagingPolicy, get_policy, register_policy

__all__ = ["Robust", "combine_state"]


# state = (prev, next, cached [n_ids], in_a, in_b [n_ids] (the two shadow caches), miss_a,
#          victims_a, miss_b, victims_b [T] (their logs), reg [3]: cost_a, cost_b, leader, head)
@njit(cache=True, inline="always")
def _shadow(in_cache, miss, victims, t, page):
    if miss[t]:
        if victims[t] >= 0:
            in_cache[victims[t]] = False
        in_cache[page] = True
        return 1
    return 0


@njit(cache=True, inline="always")
def _find(state, page, t):
    prev, nxt, cached, in_a, in_b, miss_a, victims_a, miss_b, victims_b, reg, head = state
    reg[0] += _shadow(in_a, miss_a, victims_a, t, page)
    reg[1] += _shadow(in_b, miss_b, victims_b, t, page)
    if reg[2] == 0 and reg[0] > reg[1]:  # switch only when the leader is strictly behind
        reg[2] = 1
    elif reg[2] == 1 and reg[1] > reg[0]:
        reg[2] = 0
    if not cached[page]:
        return False
    dll_remove(prev, nxt, page)
    dll_push_front(prev, nxt, head, page)
    return True


@njit(cache=True, inline="always")
def _to_evict(state, page, t):
    """The page the leader just evicted if we hold it, else our least recently used page that
    the leader does not hold."""
    prev, _nxt, cached, in_a, in_b, _miss_a, victims_a, _miss_b, victims_b, reg, head = state
    lead_victim = victims_a[t] if reg[2] == 0 else victims_b[t]
    if lead_victim >= 0 and cached[lead_victim]:
        return lead_victim
    victim = dll_tail(prev, head)
    while in_a[victim] if reg[2] == 0 else in_b[victim]:
        victim = prev[victim]
    return victim


@njit(cache=True, inline="always")
def _evict(state, victim, t):
    dll_remove(state[0], state[1], victim)
    state[2][victim] = False


@njit(cache=True, inline="always")
def _insert(state, page, t):
    state[2][page] = True
    dll_push_front(state[0], state[1], state[10], page)


_simulate = simulator_for(globals())


def combine_state(n_ids, miss_a, victims_a, miss_b, victims_b):
    """``(simulator, state)`` following policy a or b from their logs ``[T]``: the one with
    fewer misses so far, a on ties."""
    prev, nxt = dll_new(n_ids, 1)
    return _simulate, (prev, nxt, np.zeros(n_ids, dtype=np.bool_), np.zeros(n_ids, dtype=np.bool_),
                       np.zeros(n_ids, dtype=np.bool_), miss_a, victims_a, miss_b, victims_b,
                       np.zeros(3, dtype=np.int64), n_ids)


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

    def _state(self, trace, n_ids, k, predictions, seed):
        miss_a, victims_a = self.follow._run(trace, n_ids, k, predictions, seed)
        miss_b, victims_b = self.fallback._run(trace, n_ids, k, predictions, seed + 1)
        return combine_state(n_ids, miss_a, victims_a, miss_b, victims_b)

    def __repr__(self) -> str:
        return f"Robust(follow={self.follow.name!r}, fallback={self.fallback.name!r})"

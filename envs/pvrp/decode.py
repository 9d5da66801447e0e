"""Action log -> routes, replayed without the env's step code (used by the env oracles).

Both decoders follow the MDP rules written in ``envs/pvrp/README.md`` in plain Python, so the
oracles in :mod:`heurist.policies.pvrp.oracle` judge what the log *means*, independently of the
batched tensor code that produced it. Decoding does not check legality (a log that revisits a
client or breaks a zone or a capacity decodes to routes that the oracle then rejects); it only
needs to know who moved (the conflict rule) and when the episode ended (steps after are ignored).

Routes: per vehicle a list of trips, a trip a list of 1-based client ids (depot implicit at both
ends). ``finished`` tells whether the log reached the end of the episode (all clients served, all
vehicles back at the depot).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["Decoded", "conflict_winners", "decode_parallel", "decode_sequential"]


@dataclass(frozen=True)
class Decoded:
    """Routes of one row and whether its log reached the end of the episode."""

    routes: list[list[list[int]]]
    finished: bool
    steps: int  # decisions taken until the end (or the log's length if unfinished)


def _check_range(actions: np.ndarray, n_clients: int) -> None:
    if actions.size and (actions.min() < 0 or actions.max() > n_clients):
        raise ValueError(f"actions must lie in 0..{n_clients}, got range "
                         f"[{actions.min()}, {actions.max()}]")


def conflict_winners(targets: list[int], priority: list[float] | None) -> list[bool]:
    """Who moves among ``M`` vehicles choosing ``targets`` at one step: a depot choice always
    moves; of the vehicles choosing one client, the highest ``priority`` wins, ties (and the
    default, ``priority=None``) going to the lowest vehicle index."""
    won = [True] * len(targets)
    best: dict[int, int] = {}
    for k, j in enumerate(targets):
        if j == 0:
            continue
        if j not in best:
            best[j] = k
            continue
        b = best[j]
        if priority is not None and priority[k] > priority[b]:
            won[b], best[j] = False, k
        else:
            won[k] = False
    return won


def decode_parallel(actions, n_clients: int, priorities=None) -> Decoded:
    """Decodes one row of the parallel env: ``actions`` [T, M] ints, ``priorities`` [T, M] or None."""
    actions = np.asarray(actions, dtype=np.int64)
    if actions.ndim != 2:
        raise ValueError(f"parallel actions must be [T, M], got shape {list(actions.shape)}")
    _check_range(actions, n_clients)
    T, M = actions.shape
    if priorities is not None:
        priorities = np.asarray(priorities, dtype=np.float64)
        if priorities.shape != (T, M):
            raise ValueError(f"priorities must be [T={T}, M={M}], got {list(priorities.shape)}")
    routes: list[list[list[int]]] = [[] for _ in range(M)]
    trip: list[list[int]] = [[] for _ in range(M)]
    pos = [0] * M
    served: set[int] = set()
    for t in range(T):
        targets = [int(a) for a in actions[t]]
        won = conflict_winners(targets, None if priorities is None else list(priorities[t]))
        for k, j in enumerate(targets):
            if not won[k]:
                continue
            _move(routes, trip, k, j)
            if j:
                served.add(j)
            pos[k] = j
        if len(served) == n_clients and all(p == 0 for p in pos):
            return Decoded(routes, True, t + 1)
    for k in range(M):  # an unfinished log: close open trips so the oracle can still read them
        if trip[k]:
            routes[k].append(trip[k])
    return Decoded(routes, False, T)


def _move(routes: list, trip: list, k: int, j: int) -> None:
    """Vehicle ``k`` goes to node ``j``: the depot closes its open trip, a client extends it."""
    if j == 0:
        if trip[k]:
            routes[k].append(trip[k])
            trip[k] = []
    else:
        trip[k].append(j)


def decode_sequential(actions, demand, capacity, allowed) -> Decoded:
    """Decodes one row of the sequential env: ``actions`` [T] ints; ``demand`` [N] ints,
    ``capacity`` [M], ``allowed`` [M, N] bool. The acting vehicle is recomputed by the round-robin
    rule: the next vehicle after the last one to act (cyclically, starting with vehicle 0) that
    is away from the depot or, at the depot, has an unserved, allowed client that fits its
    capacity. No such vehicle: the episode is over."""
    actions = np.asarray(actions, dtype=np.int64).reshape(-1)
    demand = np.asarray(demand, dtype=np.int64)
    cap = np.floor(np.asarray(capacity, dtype=np.float64)).astype(np.int64)
    allowed = np.asarray(allowed, dtype=bool)
    N, M = demand.shape[0], cap.shape[0]
    _check_range(actions, N)
    routes: list[list[list[int]]] = [[] for _ in range(M)]
    trip: list[list[int]] = [[] for _ in range(M)]
    pos = [0] * M
    unserved = np.ones(N, dtype=bool)

    def active(k: int) -> bool:
        return pos[k] != 0 or bool((unserved & allowed[k] & (demand <= cap[k])).any())

    def next_vehicle(last: int) -> int | None:
        for i in range(1, M + 1):
            k = (last + i) % M
            if active(k):
                return k
        return None

    k = next_vehicle(-1)
    for t in range(actions.shape[0]):
        if k is None:
            return Decoded(routes, True, t)
        j = int(actions[t])
        _move(routes, trip, k, j)
        if j:
            unserved[j - 1] = False
        pos[k] = j
        k = next_vehicle(k)
    if k is None:
        return Decoded(routes, True, actions.shape[0])
    for v in range(M):
        if trip[v]:
            routes[v].append(trip[v])
    return Decoded(routes, False, actions.shape[0])

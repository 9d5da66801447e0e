"""Action log -> routes, state and legal moves, replayed in plain Python (the oracles' half).

Both replays follow the MDP rules written in ``envs/pvrp/README.md`` with plain numpy on one row,
so the oracles in :mod:`heurist.envs.pvrp.oracle` judge what a log *means* independently of the
batched step code and of its mask (``masks.py``): they share no code with either. A replay tracks
each vehicle's node and load left, the unserved clients and, for the sequential env, who acts;
at every step it recomputes the legal moves from that state and records the first illegal action,
but keeps going, so an illegal log still decodes to routes that the route oracle then judges.
Steps after the end of the episode are ignored.

Routes: per vehicle a list of trips, a trip a list of 1-based client ids (depot implicit at both
ends). ``finished`` tells whether the log reached the end of the episode (all clients served, all
vehicles back at the depot).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["Decoded", "conflict_winners", "decode_parallel", "decode_sequential", "parallel_log",
           "sequential_log"]


@dataclass(frozen=True)
class Decoded:
    """The replay of one row's log."""

    routes: list[list[list[int]]]
    finished: bool
    steps: int  # decisions taken until the end (or the log's length if unfinished)
    illegal: int  # the first step with an illegal action, -1 if none
    legal: np.ndarray  # bool [M, N + 1]: each vehicle's legal moves after the log
    current: int  # sequential: the vehicle that acts next (the last to act once finished); else -1


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


class _Replay:
    """One row's state: node and load left per vehicle, unserved clients, routes so far."""

    def __init__(self, demand, capacity, allowed, retire: bool = False) -> None:
        self.demand = np.asarray(demand, dtype=np.int64).reshape(-1)  # [N]
        # demands are integers, so floor(capacity) is the usable load (as in the env)
        self.capacity = np.floor(np.asarray(capacity, dtype=np.float64)).reshape(-1)  # [M]
        N, M = self.demand.shape[0], self.capacity.shape[0]
        self.allowed = np.asarray(allowed, dtype=bool).reshape(M, N)
        self.pos = np.zeros(M, dtype=np.int64)
        self.load = self.capacity.copy()
        self.unserved = np.ones(N, dtype=bool)
        self.routes: list[list[list[int]]] = [[] for _ in range(M)]
        self.trip: list[list[int]] = [[] for _ in range(M)]
        self.retire = retire  # PVRPEnv(retire=True): a vehicle may stay home for good
        self.retired = np.zeros(M, dtype=bool)

    def legal(self) -> np.ndarray:
        """bool [M, N + 1]: a client that is unserved, in the zone and fits the load left; the
        depot from a client, or from the depot when no client is feasible (no deadlock)."""
        client = (self.allowed & self.unserved[None, :] & ~self.retired[:, None]
                  & (self.demand[None, :] <= self.load[:, None]))
        depot = (self.pos != 0) | ~client.any(1)
        if self.retire:
            depot |= self.may_retire(self.retired)
        return np.concatenate([depot[:, None], client], axis=1)

    def may_retire(self, retired: np.ndarray) -> np.ndarray:
        """bool [M]: whether each vehicle could retire with ``retired`` [M] already home for good:
        every open client it could serve in one trip has another server that has not retired."""
        can_serve = (self.allowed & self.unserved[None, :] & ~retired[:, None]
                     & (self.demand[None, :] <= self.capacity[:, None]))
        others = can_serve.sum(0)[None, :] - can_serve
        return ~(can_serve & (others == 0)).any(1)

    def active(self) -> np.ndarray:
        """bool [M]: away from the depot, or at the depot with a feasible client."""
        return self.legal()[:, 1:].any(1) | (self.pos != 0)

    def next_active(self, last: int) -> int:
        """The sequential env's round robin: the first active vehicle after ``last`` (-1: before
        the first decision), cyclically; -1 when none is active."""
        active = self.active()
        M = active.shape[0]
        for i in range(1, M + 1):
            if active[(last + i) % M]:
                return (last + i) % M
        return -1

    def finished(self) -> bool:
        return not self.unserved.any() and not self.pos.any()

    def move(self, k: int, j: int) -> None:
        """Vehicle ``k`` goes to node ``j``: the depot closes its trip and refills it; a client
        extends the trip and is served."""
        if j == 0:
            if self.trip[k]:
                self.routes[k].append(self.trip[k])
                self.trip[k] = []
            self.load[k] = self.capacity[k]
        else:
            self.trip[k].append(j)
            self.load[k] -= self.demand[j - 1]
            self.unserved[j - 1] = False
        self.pos[k] = j

    def decoded(self, finished: bool, steps: int, illegal: int, current: int) -> Decoded:
        routes = [list(r) for r in self.routes]
        for k, trip in enumerate(self.trip):  # an unfinished log: close open trips for the oracle
            if trip:
                routes[k].append(list(trip))
        return Decoded(routes, finished, steps, illegal, self.legal(), current)


def parallel_log(routes, length: int | None = None) -> np.ndarray:
    """The inverse of :func:`decode_parallel` for conflict-free routes: each vehicle drives its
    trips back to back (a depot return closing each) and then chooses the depot -> int64
    [T, M], ``T`` the longest vehicle's steps (or ``length``, padding with the depot). A vehicle
    with no trip asks to retire at once, so the log is legal for ``PVRPEnv(retire=True)``."""
    seqs = [[j for trip in trips for j in (*map(int, trip), 0)] for trips in routes]
    T = max([len(s) for s in seqs] + [1]) if length is None else int(length)
    log = np.zeros((T, len(seqs)), dtype=np.int64)
    for k, s in enumerate(seqs):
        if len(s) > T:
            raise ValueError(f"vehicle {k} needs {len(s)} steps > length {T}")
        log[:len(s), k] = s
    return log


def _actions(actions, ndim: int, n_clients: int) -> np.ndarray:
    actions = np.asarray(actions, dtype=np.int64)
    if actions.ndim != ndim:
        raise ValueError(f"actions must have {ndim} dimensions, got shape {list(actions.shape)}")
    if actions.size and (actions.min() < 0 or actions.max() > n_clients):
        raise ValueError(f"actions must lie in 0..{n_clients}, got range "
                         f"[{actions.min()}, {actions.max()}]")
    return actions


def decode_parallel(actions, demand, capacity, allowed, priorities=None, *,
                    retire: bool = False) -> Decoded:
    """Replays one row of the parallel env: ``actions`` [T, M] ints; ``demand`` [N] ints,
    ``capacity`` [M], ``allowed`` [M, N] bool; ``priorities`` [T, M] (the recorded ``priority``
    inputs) or None (the default conflict rule); ``retire`` the env's retire rule (a vehicle at
    the depot that chooses the depot with a feasible client retires, in vehicle order, if that
    strands no client; else it just stays this step)."""
    r = _Replay(demand, capacity, allowed, retire)
    actions = _actions(actions, 2, r.demand.shape[0])
    T, M = actions.shape
    if M != r.capacity.shape[0]:
        raise ValueError(f"actions must be [T, M={r.capacity.shape[0]}], got {list(actions.shape)}")
    if priorities is not None:
        priorities = np.asarray(priorities, dtype=np.float64)
        if priorities.shape != (T, M):
            raise ValueError(f"priorities must be [T={T}, M={M}], got {list(priorities.shape)}")
    illegal = -1
    for t in range(T):
        targets = [int(a) for a in actions[t]]
        if illegal < 0 and not r.legal()[np.arange(M), targets].all():
            illegal = t
        won = conflict_winners(targets, None if priorities is None else list(priorities[t]))
        if retire:
            has_client = r.legal()[:, 1:].any(1)
            for k, j in enumerate(targets):
                if j == 0 and r.pos[k] == 0 and has_client[k] and r.may_retire(r.retired)[k]:
                    r.retired[k] = True
        for k, j in enumerate(targets):
            if won[k]:
                r.move(k, j)
        if r.finished():
            return r.decoded(True, t + 1, illegal, -1)
    return r.decoded(False, T, illegal, -1)


def decode_sequential(actions, demand, capacity, allowed, *, retire: bool = False) -> Decoded:
    """Replays one row of the sequential env: ``actions`` [T] ints; ``demand`` [N] ints,
    ``capacity`` [M], ``allowed`` [M, N] bool. The acting vehicle follows the round-robin rule:
    the next vehicle after the last one to act (cyclically, vehicle 0 first) that is active
    (away from the depot, or at the depot with a feasible client). None active: the episode is
    over. ``retire``: ``PVRPSequentialEnv(retire=True)``'s rule, the parallel one for the acting
    vehicle alone (at the depot with a feasible client, the depot retires it for good where
    :meth:`_Replay.may_retire` allows; a retired vehicle has no client, so it is never active)."""
    r = _Replay(demand, capacity, allowed, retire)
    actions = _actions(np.asarray(actions).reshape(-1), 1, r.demand.shape[0])
    k, last, illegal = r.next_active(-1), -1, -1
    for t in range(actions.shape[0]):
        if k < 0:
            return r.decoded(True, t, illegal, last)
        j = int(actions[t])
        legal = r.legal()
        if illegal < 0 and not legal[k, j]:
            illegal = t
        if retire and j == 0 and r.pos[k] == 0 and legal[k, 1:].any() \
                and r.may_retire(r.retired)[k]:
            r.retired[k] = True
        r.move(k, j)
        last, k = k, r.next_active(k)
    if k < 0:
        return r.decoded(True, actions.shape[0], illegal, last)
    return r.decoded(False, actions.shape[0], illegal, k)


def sequential_log(routes, demand, capacity, allowed, *, retire: bool = True) -> np.ndarray:
    """The inverse of :func:`decode_sequential` for valid ``routes`` of one instance (``demand``
    [N], ``capacity`` [M], ``allowed`` [M, N] as there) -> int64 [T]: the round robin is replayed
    and each acting vehicle takes the next node of its trips back to back (a depot return closing
    each); a vehicle done with its trips that is still active chooses the depot, to retire, which
    is legal then (every open client is on the trips of a vehicle not yet done). Without
    ``retire`` such a vehicle has no legal move in the routes: ``ValueError``."""
    r = _Replay(demand, capacity, allowed, retire)
    M = r.capacity.shape[0]
    if len(routes) != M:
        raise ValueError(f"routes must list {M} vehicles, got {len(routes)}")
    seqs = [[j for trip in trips for j in (*map(int, trip), 0)] for trips in routes]
    nxt = [0] * M
    log: list[int] = []

    k = r.next_active(-1)
    while k >= 0:
        if nxt[k] < len(seqs[k]):
            j = seqs[k][nxt[k]]
            nxt[k] += 1
        elif r.pos[k] == 0 and retire:
            j = 0
        else:
            raise ValueError(f"vehicle {k} is done with its trips but still has a feasible client "
                             "(legal as a retirement only: retire=True)")
        legal = r.legal()
        if not legal[k, j]:
            raise ValueError(f"the routes are not a legal sequential log: vehicle {k} -> {j} at "
                             f"step {len(log)}")
        if retire and j == 0 and r.pos[k] == 0 and legal[k, 1:].any():
            r.retired[k] = True
        r.move(k, j)
        log.append(j)
        k = r.next_active(k)
    if r.unserved.any() or any(n < len(s) for n, s in zip(nxt, seqs)):
        raise ValueError("the routes are not a legal sequential log: the episode ended first")
    return np.asarray(log, dtype=np.int64)

"""Parallel nearest neighbour: the vehicle with the least elapsed time moves next.

The moving vehicle goes to the cheapest reachable unserved client under its own shifted arc cost
(time plus the preference shift, see :mod:`~heurist.policies.pvrp.costs`), among the clients its zone
allows and its remaining load can carry; when none fits it returns to the depot to refill. A vehicle
with nothing left it may serve stops. Deterministic (ties go to the lower index).
"""
from __future__ import annotations

import numpy as np

from heurist.envs.pvrp.instance import PVRPInstances, Weights
from heurist.policies.pvrp.costs import arc_costs

__all__ = ["solve_nearest", "usable_mask"]


def usable_mask(inst_one: PVRPInstances) -> np.ndarray:
    """Whether vehicle ``k`` may serve client ``j`` (zone allows and capacity suffices): bool [M, N]."""
    return inst_one.allowed_or_all()[0] & (inst_one.demand[0][None, :] <= inst_one.capacity[0][:, None])


def solve_nearest(inst_one: PVRPInstances, *, time_limit: float = 0.0, weights: Weights | None = None,
                  seed: int = 0) -> list[list[list[int]]]:
    """Routes for one instance; ``time_limit`` and ``seed`` are unused (constructive, deterministic)."""
    del time_limit, seed
    weights = weights or Weights()
    N, M = inst_one.N, inst_one.M
    cost = arc_costs(inst_one, weights)  # [M, N+1, N+1]
    dist = inst_one.distances(0)
    speed, cap, demand = inst_one.speed[0], inst_one.capacity[0], inst_one.demand[0]
    usable = usable_mask(inst_one)
    unserved = np.ones(N, dtype=bool)
    pos = np.zeros(M, dtype=np.int64)
    room = cap.astype(np.float64).copy()
    clock = np.zeros(M)
    routes: list[list[list[int]]] = [[] for _ in range(M)]
    trip: list[list[int]] = [[] for _ in range(M)]
    while unserved.any():
        active = (usable & unserved[None, :]).any(axis=1)
        k = int(np.flatnonzero(active)[np.argmin(clock[active])])
        reachable = usable[k] & unserved & (demand <= room[k])
        if not reachable.any():  # nothing fits: refill at the depot
            clock[k] += dist[pos[k], 0] / speed[k]
            routes[k].append(trip[k])
            trip[k], pos[k], room[k] = [], 0, cap[k]
            continue
        candidates = np.flatnonzero(reachable)
        j = int(candidates[np.argmin(cost[k, pos[k], candidates + 1])])
        clock[k] += dist[pos[k], j + 1] / speed[k]
        trip[k].append(j + 1)
        pos[k], room[k] = j + 1, room[k] - demand[j]
        unserved[j] = False
    for k in range(M):
        if trip[k]:
            routes[k].append(trip[k])
    return routes

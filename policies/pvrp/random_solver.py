"""Random construction: a baseline that only respects the constraints.

Clients are taken in a random order; each goes to a random vehicle among those its zone allows and
whose capacity can carry it, appended to that vehicle's current trip, or starting a new trip when the
load would exceed the capacity. Same seed, same routes.
"""
from __future__ import annotations

import numpy as np

from heurist.envs.pvrp.instance import PVRPInstances, Weights
from heurist.policies.pvrp.nearest import usable_mask

__all__ = ["solve_random"]


def solve_random(inst_one: PVRPInstances, *, time_limit: float = 0.0, weights: Weights | None = None,
                 seed: int = 0) -> list[list[list[int]]]:
    """Routes for one instance; ``time_limit`` and ``weights`` are unused."""
    del time_limit, weights
    rng = np.random.default_rng(seed)
    usable = usable_mask(inst_one)
    cap, demand = inst_one.capacity[0], inst_one.demand[0]
    routes: list[list[list[int]]] = [[] for _ in range(inst_one.M)]
    load = np.zeros(inst_one.M)
    for j in rng.permutation(inst_one.N):
        k = int(rng.choice(np.flatnonzero(usable[:, j])))
        if not routes[k] or load[k] + demand[j] > cap[k]:
            routes[k].append([])
            load[k] = 0
        routes[k][-1].append(int(j) + 1)
        load[k] += demand[j]
    return routes

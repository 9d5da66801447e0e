"""Cheapest insertion: repeatedly insert the (client, vehicle, position) of least objective increase.

A client may go between two consecutive stops of any trip of an allowed vehicle whose trip load
leaves room, or open a new trip (depot -> client -> depot). With the shifted arc costs the increase is
``w_time * dtime + w_pref * (P_max - pref[k, j])``. For the min-max objective the time part is the
growth of the makespan, with the vehicle's own time growth (times 1e-6) breaking ties.
Deterministic.
"""
from __future__ import annotations

import numpy as np

from heurist.envs.pvrp.instance import PVRPInstances, Weights
from heurist.policies.pvrp.costs import arc_costs
from heurist.policies.pvrp.nearest import usable_mask

__all__ = ["solve_insertion"]


def solve_insertion(inst_one: PVRPInstances, *, time_limit: float = 0.0,
                    weights: Weights | None = None, seed: int = 0) -> list[list[list[int]]]:
    """Routes for one instance; ``time_limit`` and ``seed`` are unused (constructive, deterministic)."""
    del time_limit, seed
    weights = weights or Weights()
    N, M = inst_one.N, inst_one.M
    cost = arc_costs(inst_one, weights)  # [M, N+1, N+1]
    time = inst_one.distances(0)[None] / inst_one.speed[0][:, None, None]  # [M, N+1, N+1]
    cap, demand = inst_one.capacity[0], inst_one.demand[0]
    usable = usable_mask(inst_one)
    routes: list[list[list[int]]] = [[] for _ in range(M)]
    loads: list[list[int]] = [[] for _ in range(M)]
    vtime = np.zeros(M)
    unserved = np.ones(N, dtype=bool)
    while unserved.any():
        best = (np.inf, -1, -1, -1, -1)  # score, client, vehicle, trip (-1 = new), position
        for k in range(M):
            cand = np.flatnonzero(usable[k] & unserved)
            if cand.size == 0:
                continue
            nodes = cand + 1
            options = []  # (delta_cost [C], delta_time [C], trip, position [C], fits [C])
            new_cost = cost[k, 0, nodes] + cost[k, nodes, 0]
            new_time = time[k, 0, nodes] + time[k, nodes, 0]
            options.append((new_cost, new_time, -1, np.zeros(cand.size, dtype=np.int64),
                            np.ones(cand.size, dtype=bool)))
            for t, trip in enumerate(routes[k]):
                seq = np.array([0, *trip, 0])
                a, b = seq[:-1], seq[1:]  # [L]
                d_cost = cost[k][a[None, :], nodes[:, None]] + cost[k][nodes[:, None], b[None, :]] \
                    - cost[k][a, b][None, :]  # [C, L]
                d_time = time[k][a[None, :], nodes[:, None]] + time[k][nodes[:, None], b[None, :]] \
                    - time[k][a, b][None, :]
                pos = d_cost.argmin(axis=1)
                rows = np.arange(cand.size)
                fits = loads[k][t] + demand[cand] <= cap[k]
                options.append((d_cost[rows, pos], d_time[rows, pos], t, pos, fits))
            others = np.delete(vtime, k).max() if M > 1 else 0.0
            for d_cost, d_time, t, pos, fits in options:
                score = d_cost.copy()
                if weights.minmax:
                    grow = np.maximum(vtime[k] + d_time, max(others, vtime[k])) \
                        - max(others, vtime[k])
                    score = score - weights.w_time * d_time + weights.w_time * grow + 1e-6 * d_time
                score[~fits] = np.inf
                i = int(np.argmin(score))
                if score[i] < best[0]:
                    best = (float(score[i]), int(cand[i]), k, t, int(pos[i]))
        _, j, k, t, p = best
        if t < 0:
            routes[k].append([j + 1])
            loads[k].append(int(demand[j]))
            vtime[k] += time[k, 0, j + 1] + time[k, j + 1, 0]
        else:
            seq = [0, *routes[k][t], 0]
            vtime[k] += time[k, seq[p], j + 1] + time[k, j + 1, seq[p + 1]] - time[k, seq[p], seq[p + 1]]
            routes[k][t].insert(p, j + 1)
            loads[k][t] += int(demand[j])
        unserved[j] = False
    return routes

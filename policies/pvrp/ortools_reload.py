"""OR-Tools PVRP model with depot-reload nodes: one OR-Tools vehicle per PVRP vehicle.

Multi-trip: optional reload nodes (copies of the depot location, ``AddDisjunction`` with penalty 0)
end a trip and start the next. The load dimension follows OR-Tools' reload pattern: a reload node
has demand ``-max_capacity`` and the dimension has slack up to ``max_capacity``, so the load may drop
to zero there and nowhere else matters (slack elsewhere only overstates the load). There are
``sum_k (trip_bound(k) - 1)`` reload nodes, enough for every vehicle's useful trips.

Because each PVRP vehicle is a single OR-Tools vehicle, its time is a dimension cumul, which makes
the min-max objective expressible: the time dimension (transits ``w_time * d / speed_k``, start fixed
at 0) gets a global span cost, and the arcs keep the preference shift plus a tie-break of
``TIE * w_time * time`` (a sum-of-times term that steers the search; it makes the min-max optimum
approximate within ``TIE * w_time * sum_k time_k``).
"""
from __future__ import annotations

import numpy as np
from ortools.constraint_solver import pywrapcp

from heurist.envs.pvrp.instance import PVRPInstances, Weights
from heurist.policies.pvrp.costs import SCALE, arc_costs, integer_capacities, integer_costs
from heurist.policies.pvrp.trip_bound import trip_bound

__all__ = ["TIE", "build_reload_model"]

#: weight of the sum-of-times tie-break on the arcs of the min-max model
TIE = 1e-3


def build_reload_model(inst_one: PVRPInstances, weights: Weights):
    """``(manager, routing, node_kind)`` of the reload model; ``node_kind`` is int [nodes]:
    0 depot, 1 client, 2 reload."""
    N, M = inst_one.N, inst_one.M
    R = int((trip_bound(inst_one) - 1).sum())
    loc = np.concatenate([np.arange(N + 1), np.zeros(R, dtype=np.int64)])  # node -> location
    kind = np.concatenate([[0], np.ones(N, dtype=np.int64), np.full(R, 2)])
    time = inst_one.distances(0)[None] / inst_one.speed[0][:, None, None]  # [M, N+1, N+1]
    if weights.minmax:
        pref_part = arc_costs(inst_one, weights) - weights.w_time * time
        costs = np.rint((pref_part + TIE * weights.w_time * time) * SCALE).astype(np.int64)
    else:
        costs = integer_costs(inst_one, weights)
    costs = costs[:, loc][:, :, loc]  # [M, nodes, nodes]
    manager = pywrapcp.RoutingIndexManager(len(loc), M, 0)
    routing = pywrapcp.RoutingModel(manager)
    for k in range(M):
        routing.SetArcCostEvaluatorOfVehicle(routing.RegisterTransitMatrix(costs[k].tolist()), k)
    caps = integer_capacities(inst_one)
    max_cap = max(caps)
    demand = [0, *map(int, inst_one.demand[0]), *([-max_cap] * R)]
    load = routing.RegisterUnaryTransitVector(demand)
    routing.AddDimensionWithVehicleCapacity(load, max_cap, caps, True, "load")
    for r in range(N + 1, N + 1 + R):
        routing.AddDisjunction([manager.NodeToIndex(r)], 0)
    if weights.minmax:
        transit = np.rint(weights.w_time * time * SCALE).astype(np.int64)[:, loc][:, :, loc]
        evaluators = [routing.RegisterTransitMatrix(transit[k].tolist()) for k in range(M)]
        horizon = int(transit.max()) * (len(loc) + 1) + 1
        routing.AddDimensionWithVehicleTransits(evaluators, 0, horizon, True, "time")
        routing.GetDimensionOrDie("time").SetGlobalSpanCostCoefficient(1)
    if inst_one.is_zc:
        allowed = inst_one.allowed[0]
        for j in range(N):
            vehicles = [int(k) for k in np.flatnonzero(allowed[:, j])]
            routing.VehicleVar(manager.NodeToIndex(j + 1)).SetValues([-1, *vehicles])
    return manager, routing, kind

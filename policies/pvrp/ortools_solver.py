"""PVRP with OR-Tools routing (guided local search) over the shifted per-vehicle arc costs.

Multi-trip by duplicated vehicles: vehicle ``k`` becomes :func:`trip_bound` ``(k)`` OR-Tools
vehicles (its trips), each with ``k``'s capacity and ``k``'s arc-cost matrix
(``SetArcCostEvaluatorOfVehicle`` on a registered transit matrix, evaluated in C++). The bound is
exact (see :mod:`~heurist.policies.pvrp.trip_bound`). Zones restrict each client's vehicle variable,
``VehicleVar(index).SetValues([-1] + allowed)`` (``SetAllowedVehiclesForIndex`` is broken in the
9.15 Python binding). The search has no seed: with only a time limit, the result depends on how far
the search got; ``solution_limit`` makes it reproducible. Min-max is refused (the makespan of a vehicle
sums several OR-Tools routes, which no span cost expresses).
"""
from __future__ import annotations

import numpy as np
from heurist.envs.pvrp.instance import PVRPInstances, Weights
from heurist.policies.pvrp.costs import integer_costs
from heurist.policies.pvrp.trip_bound import trip_bound
from ortools.constraint_solver import pywrapcp, routing_enums_pb2

__all__ = ["solve_ortools"]

_FIRST = routing_enums_pb2.FirstSolutionStrategy
_GLS = routing_enums_pb2.LocalSearchMetaheuristic.GUIDED_LOCAL_SEARCH


def _params(first: int, time_limit: float, solution_limit: int | None):
    params = pywrapcp.DefaultRoutingSearchParameters()
    params.first_solution_strategy = first
    params.local_search_metaheuristic = _GLS
    params.time_limit.FromMilliseconds(max(1, round(time_limit * 1000)))
    if solution_limit is not None:
        params.solution_limit = int(solution_limit)
    return params


def solve_ortools(inst_one: PVRPInstances, *, time_limit: float = 1.0,
                  weights: Weights | None = None, seed: int = 0,
                  solution_limit: int | None = None) -> list[list[list[int]]]:
    """Routes for one instance (list over vehicles of trips of 1-based clients); ``seed`` is unused."""
    del seed  # OR-Tools routing search is not randomised
    weights = weights or Weights()
    if weights.minmax:
        raise ValueError("ortools: the min-max objective is not supported (use a heuristic)")
    if time_limit <= 0:
        raise ValueError(f"ortools: time_limit must be > 0, got {time_limit}")
    N, M = inst_one.N, inst_one.M
    costs = integer_costs(inst_one, weights)
    bound = trip_bound(inst_one)
    owner = np.repeat(np.arange(M), bound)  # OR-Tools vehicle -> PVRP vehicle
    manager = pywrapcp.RoutingIndexManager(N + 1, len(owner), 0)
    routing = pywrapcp.RoutingModel(manager)
    evaluators = [routing.RegisterTransitMatrix(costs[k].tolist()) for k in range(M)]
    for v, k in enumerate(owner):
        routing.SetArcCostEvaluatorOfVehicle(evaluators[k], v)
    demand = [0, *map(int, inst_one.demand[0])]
    load = routing.RegisterUnaryTransitVector(demand)
    caps = [int(np.floor(inst_one.capacity[0, k])) for k in owner]
    routing.AddDimensionWithVehicleCapacity(load, 0, caps, True, "load")
    if inst_one.is_zc:
        allowed = inst_one.allowed[0]
        for j in range(N):
            vehicles = [int(v) for v in np.flatnonzero(allowed[owner, j])]
            routing.VehicleVar(manager.NodeToIndex(j + 1)).SetValues([-1, *vehicles])
    solution = None
    for first in (_FIRST.PATH_CHEAPEST_ARC, _FIRST.PARALLEL_CHEAPEST_INSERTION):
        solution = routing.SolveWithParameters(_params(first, time_limit, solution_limit))
        if solution is not None:
            break
    if solution is None:
        raise ValueError("ortools: no feasible solution found within the limit")
    routes: list[list[list[int]]] = [[] for _ in range(M)]
    for v, k in enumerate(owner):
        index = routing.Start(v)
        trip = []
        while not routing.IsEnd(index):
            node = manager.IndexToNode(index)
            if node != 0:
                trip.append(int(node))
            index = solution.Value(routing.NextVar(index))
        if trip:
            routes[k].append(trip)
    return routes

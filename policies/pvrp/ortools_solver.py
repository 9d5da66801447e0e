"""PVRP with OR-Tools routing (guided local search) over the shifted per-vehicle arc costs.

Two multi-trip encodings:

* ``multi_trip="copies"`` (default for the sum objective): vehicle ``k`` becomes
  :func:`trip_bound` ``(k)`` OR-Tools vehicles (its trips), each with ``k``'s capacity and ``k``'s
  arc-cost matrix (``SetArcCostEvaluatorOfVehicle`` on a registered transit matrix, evaluated in
  C++). The bound is exact (see :mod:`~heurist.policies.pvrp.trip_bound`). A vehicle's makespan sums
  several OR-Tools routes, which no span cost expresses, so min-max is refused here.
* ``multi_trip="reload"`` (always used for min-max): one OR-Tools vehicle per PVRP vehicle with
  depot-reload nodes (see :mod:`~heurist.policies.pvrp.ortools_reload`).

Zones restrict each client's vehicle variable, ``VehicleVar(index).SetValues([-1] + allowed)``
(``SetAllowedVehiclesForIndex`` is broken in the 9.15 Python binding). The search has no seed: with
only a time limit the result depends on how far the search got; ``solution_limit`` makes it
reproducible.
"""
from __future__ import annotations

import time

import numpy as np
from ortools.constraint_solver import pywrapcp, routing_enums_pb2

from heurist.envs.pvrp.instance import PVRPInstances, Weights
from heurist.policies.pvrp.costs import integer_capacities, integer_costs
from heurist.policies.pvrp.insertion import solve_insertion
from heurist.policies.pvrp.ortools_reload import build_reload_model
from heurist.policies.pvrp.trip_bound import trip_bound

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


def _search(routing, time_limit: float, solution_limit: int | None):
    for first in (_FIRST.PATH_CHEAPEST_ARC, _FIRST.PARALLEL_CHEAPEST_INSERTION):
        solution = routing.SolveWithParameters(_params(first, time_limit, solution_limit))
        if solution is not None:
            return solution
    raise ValueError("ortools: no feasible solution found within the limit")


def _reload_start(inst_one, weights, manager, routing, kind):
    routes = solve_insertion(inst_one, weights=weights)
    spare = [int(r) for r in np.flatnonzero(kind == 2)]
    if sum(max(len(trips) - 1, 0) for trips in routes) > len(spare):
        return None
    indices = []
    for trips in routes:
        nodes: list[int] = []
        for t, trip in enumerate(trips):
            if t:
                nodes.append(spare.pop())
            nodes += trip
        indices.append([manager.NodeToIndex(n) for n in nodes])
    return routing.ReadAssignmentFromRoutes(indices, True)


def _solve_reload(inst_one: PVRPInstances, weights: Weights, time_limit: float,
                  solution_limit: int | None) -> list[list[list[int]]]:
    began = time.perf_counter()
    manager, routing, kind = build_reload_model(inst_one, weights)
    # first-solution strategies stall on the reload slack (none found in 1 s at N = 60), so the
    # search starts from cheapest insertion, which is min-max aware
    start = _reload_start(inst_one, weights, manager, routing, kind)
    if start is None:
        solution = _search(routing, time_limit, solution_limit)
    else:
        # the warm start counts against the limit
        left = max(0.01, time_limit - (time.perf_counter() - began))
        params = _params(_FIRST.AUTOMATIC, left, solution_limit)
        solution = routing.SolveFromAssignmentWithParameters(start, params) or start
    routes: list[list[list[int]]] = [[] for _ in range(inst_one.M)]
    for k in range(inst_one.M):
        index = solution.Value(routing.NextVar(routing.Start(k)))
        trip: list[int] = []
        while True:
            node = manager.IndexToNode(index)
            if routing.IsEnd(index) or kind[node] == 2:  # the depot or a reload ends a trip
                if trip:
                    routes[k].append(trip)
                trip = []
                if routing.IsEnd(index):
                    break
            else:
                trip.append(int(node))
            index = solution.Value(routing.NextVar(index))
    return routes


def solve_ortools(inst_one: PVRPInstances, *, time_limit: float = 1.0,
                  weights: Weights | None = None, seed: int = 0,
                  solution_limit: int | None = None,
                  multi_trip: str | None = None) -> list[list[list[int]]]:
    """Routes for one instance (list over vehicles of trips of 1-based clients); ``seed`` is unused.

    ``multi_trip`` is ``"copies"`` or ``"reload"``; ``None`` picks copies for the sum objective and
    reload (the only one that can) for min-max.
    """
    del seed  # OR-Tools routing search is not randomised
    weights = weights or Weights()
    if time_limit <= 0:
        raise ValueError(f"ortools: time_limit must be > 0, got {time_limit}")
    if multi_trip is None:
        multi_trip = "reload" if weights.minmax else "copies"
    if multi_trip not in ("copies", "reload"):
        raise ValueError(f"ortools: multi_trip must be 'copies' or 'reload', got {multi_trip!r}")
    if weights.minmax and multi_trip == "copies":
        raise ValueError("ortools: the min-max objective needs multi_trip='reload'")
    if multi_trip == "reload":
        return _solve_reload(inst_one, weights, time_limit, solution_limit)
    return _solve_copies(inst_one, weights, time_limit, solution_limit)


def _solve_copies(inst_one: PVRPInstances, weights: Weights, time_limit: float,
                  solution_limit: int | None) -> list[list[list[int]]]:
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
    usable = integer_capacities(inst_one)
    caps = [usable[k] for k in owner]
    routing.AddDimensionWithVehicleCapacity(load, 0, caps, True, "load")
    if inst_one.is_zc:
        allowed = inst_one.allowed[0]
        for j in range(N):
            vehicles = [int(v) for v in np.flatnonzero(allowed[owner, j])]
            routing.VehicleVar(manager.NodeToIndex(j + 1)).SetValues([-1, *vehicles])
    solution = _search(routing, time_limit, solution_limit)
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

"""PVRP with PyVRP 0.14 (iterated local search over the shifted per-vehicle arc costs).

Each PVRP vehicle ``k`` is one PyVRP vehicle type with its own routing profile (distance matrix =
:func:`~heurist.policies.pvrp.costs.integer_costs` of ``k``). Multi-trip has two exact encodings:

* ``multi_trip="routes"`` (default): ``num_available`` = :func:`trip_bound` of ``k``; each route of
  type ``k`` is one trip of vehicle ``k``.
* ``multi_trip="reload"``: one vehicle of type ``k`` that may reload at the depot (PyVRP >= 0.11
  supports reload depots natively); each PyVRP trip is a PVRP trip.

Zones (ZC) are prohibitive arc costs into and out of forbidden clients in ``k``'s profile; the result
is checked afterwards. PyVRP has no min-max objective, so ``weights.minmax`` is refused.

PyVRP 0.14 API notes: ``Route`` has no ``visits()``; routes are read from ``route.schedule()``, whose
client activities carry ``idx`` counted from 0 among the clients (not location indices) and the
``trip`` they belong to. The integer costs are ``round(cost * SCALE)``; objectives are recomputed by
the float oracle.
"""
from __future__ import annotations

import numpy as np
import pyvrp
from pyvrp import ActivityType, Client, Depot, Location, ProblemData, VehicleType
from pyvrp.stop import MaxIterations, MaxRuntime, MultipleCriteria

from heurist.envs.pvrp.instance import PVRPInstances, Weights
from heurist.policies.pvrp.costs import integer_capacities, integer_costs
from heurist.policies.pvrp.trip_bound import trip_bound

__all__ = ["build_pyvrp_data", "solve_pyvrp"]

MULTI_TRIP = ("routes", "reload")


def _prohibitive(costs: np.ndarray, N: int) -> int:
    # any solution using one forbidden arc costs more than serving every client by its own trip
    return int(max(costs.max(), 1) * (2 * N + 2) * 4)


def build_pyvrp_data(inst_one: PVRPInstances, weights: Weights, *,
                     multi_trip: str = "routes") -> ProblemData:
    """The PyVRP ``ProblemData`` of one instance (location 0 = depot, ``j`` = client ``j``)."""
    if multi_trip not in MULTI_TRIP:
        raise ValueError(f"pyvrp: multi_trip must be one of {MULTI_TRIP}, got {multi_trip!r}")
    N, M = inst_one.N, inst_one.M
    costs = integer_costs(inst_one, weights)  # [M, N+1, N+1]
    if inst_one.is_zc:
        big = _prohibitive(costs, N)
        forbidden = ~inst_one.allowed[0]  # [M, N]
        for k in range(M):
            costs[k, :, 1:][:, forbidden[k]] = big
            costs[k, 1:, :][forbidden[k], :] = big
    for k in range(M):
        np.fill_diagonal(costs[k], 0)
    xy = inst_one.coords(0)
    locations = [Location(x=float(x), y=float(y)) for x, y in xy]
    clients = [Client(location=j + 1, delivery=[int(inst_one.demand[0, j])]) for j in range(N)]
    depots = [Depot(location=0)]
    bound = trip_bound(inst_one)
    vehicle_types = []
    usable = integer_capacities(inst_one)
    for k in range(M):
        cap = usable[k]
        if multi_trip == "routes":
            vt = VehicleType(num_available=int(bound[k]), capacity=[cap], profile=k, name=f"v{k}")
        else:
            vt = VehicleType(num_available=1, capacity=[cap], profile=k, reload_depots=[0],
                             name=f"v{k}")
        vehicle_types.append(vt)
    zeros = np.zeros((N + 1, N + 1), dtype=np.int64)
    return ProblemData(locations=locations, clients=clients, depots=depots,
                       vehicle_types=vehicle_types, distance_matrices=list(costs),
                       duration_matrices=[zeros] * M)


def solve_pyvrp(inst_one: PVRPInstances, *, time_limit: float = 1.0, weights: Weights | None = None,
                seed: int = 0, max_iterations: int | None = None,
                multi_trip: str = "routes") -> list[list[list[int]]]:
    """Routes for one instance (list over vehicles of trips of 1-based clients).

    Stops after ``time_limit`` seconds or ``max_iterations`` iterations, whichever comes first (an
    iteration limit alone makes the result reproducible for a seed).
    """
    weights = weights or Weights()
    if weights.minmax:
        raise ValueError("pyvrp: the min-max objective is not supported (use a heuristic)")
    if time_limit <= 0:
        raise ValueError(f"pyvrp: time_limit must be > 0, got {time_limit}")
    data = build_pyvrp_data(inst_one, weights, multi_trip=multi_trip)
    stop = MaxRuntime(float(time_limit))
    if max_iterations is not None:
        stop = MultipleCriteria([stop, MaxIterations(int(max_iterations))])
    result = pyvrp.solve(data, stop=stop, seed=int(seed), collect_stats=False, display=False)
    if not result.best.is_feasible():
        raise ValueError("pyvrp: no feasible solution found within the limit")
    routes: list[list[list[int]]] = [[] for _ in range(inst_one.M)]
    for route in result.best.routes():
        k = route.vehicle_type()
        trips: dict[int, list[int]] = {}
        for activity in route.schedule():
            if activity.type == ActivityType.CLIENT:
                # activity.idx counts among clients from 0; PVRP clients are 1-based
                trips.setdefault(activity.trip, []).append(int(activity.idx) + 1)
        routes[k].extend(trips[t] for t in sorted(trips))
    return routes

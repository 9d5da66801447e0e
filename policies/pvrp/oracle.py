"""Independent PVRP oracles: validity and objective recomputed from the routes alone.

Routes of one instance: a list over vehicles ``k`` of a list of trips; a trip is a list of 1-based
client indices, the depot implicit at both ends. Every client is served exactly once, every trip's
demand fits the vehicle's capacity and, for PVRP-ZC, every client is served by an allowed vehicle.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from numbers import Integral

import numpy as np

from heurist.envs.pvrp.instance import PVRPInstances, Weights

__all__ = [
    "CheckResult",
    "Routes",
    "check_solution",
    "evaluate",
    "preference_collected",
    "vehicle_times",
]

Routes = list[list[list[int]]]


@dataclass(frozen=True)
class CheckResult:
    """Outcome of :func:`check_solution`; ``objective`` is set when the solution is valid."""

    ok: bool
    violations: list[str] = field(default_factory=list)
    objective: float | None = None

    def __bool__(self) -> bool:
        return self.ok


def _one(inst: PVRPInstances) -> PVRPInstances:
    if not isinstance(inst, PVRPInstances):
        raise TypeError(f"expected PVRPInstances, got {type(inst).__name__}")
    if inst.S != 1:
        raise ValueError(f"expected a batch of one instance, got S={inst.S} (use inst[s])")
    return inst


def check_solution(inst_one: PVRPInstances, routes, *, weights: Weights | None = None) -> CheckResult:
    """Validates ``routes`` for ``inst_one`` (S == 1); never raises on a bad solution.

    Detects: wrong number of vehicles, malformed trips, bad client indices, missing and duplicate
    clients, a trip over capacity, a zone violation (ZC). When valid, ``objective`` is
    ``evaluate(inst_one, routes, weights=weights or Weights())``.
    """
    inst = _one(inst_one)
    violations = _violations(inst, routes)
    if violations:
        return CheckResult(False, violations)
    return CheckResult(True, [], _objective(inst, routes, weights or Weights()))


def _violations(inst: PVRPInstances, routes) -> list[str]:
    N, M = inst.N, inst.M
    violations: list[str] = []
    if not isinstance(routes, (list, tuple)):
        return [f"routes must be a list over {M} vehicles, got {type(routes).__name__}"]
    if len(routes) != M:
        violations.append(f"expected {M} vehicles, got {len(routes)}")
    seen = np.zeros(N, dtype=np.int64)
    allowed = inst.allowed_or_all()[0]
    for k, trips in enumerate(routes[:M]):
        if not isinstance(trips, (list, tuple)):
            violations.append(f"vehicle {k}: trips must be a list, got {type(trips).__name__}")
            continue
        for t, trip in enumerate(trips):
            if not isinstance(trip, (list, tuple)):
                violations.append(f"vehicle {k} trip {t}: must be a list of clients")
                continue
            load = 0
            for c in trip:
                if isinstance(c, bool) or not isinstance(c, Integral) or not 1 <= c <= N:
                    violations.append(f"vehicle {k} trip {t}: bad client index {c!r} (valid 1..{N})")
                    continue
                c = int(c)
                seen[c - 1] += 1
                load += int(inst.demand[0, c - 1])
                if not allowed[k, c - 1]:
                    violations.append(f"vehicle {k} trip {t}: client {c} is outside its zone")
            if load > inst.capacity[0, k]:
                violations.append(f"vehicle {k} trip {t}: load {load} exceeds capacity "
                                  f"{inst.capacity[0, k]}")
    for j in np.flatnonzero(seen == 0):
        violations.append(f"client {j + 1} is not served")
    for j in np.flatnonzero(seen > 1):
        violations.append(f"client {j + 1} is served {seen[j]} times")
    return violations


def vehicle_times(inst_one: PVRPInstances, routes) -> np.ndarray:
    """Travel time of each vehicle: length of all its trips / its speed: float64 [M]."""
    inst = _one(inst_one)
    dist = inst.distances(0)
    times = np.zeros(inst.M)
    for k, trips in enumerate(routes):
        length = 0.0
        for trip in trips:
            if len(trip):
                path = [0, *map(int, trip), 0]
                length += float(dist[path[:-1], path[1:]].sum())
        times[k] = length / inst.speed[0, k]
    return times


def preference_collected(inst_one: PVRPInstances, routes) -> float:
    """Sum of ``preference[k, j]`` over the clients ``j`` served by vehicle ``k``."""
    inst = _one(inst_one)
    pref = inst.preference[0]
    return float(sum(pref[k, int(c) - 1] for k, trips in enumerate(routes)
                     for trip in trips for c in trip))


def evaluate(inst_one: PVRPInstances, routes, *, weights: Weights | None = None) -> float:
    """The objective (lower is better) of valid ``routes``; raises ``ValueError`` if invalid.

    P: ``w_time * T - w_pref * preference_collected``; ZC: ``w_time * T``; ``T`` is
    ``sum_k time_k`` or, with ``weights.minmax``, ``max_k time_k``. ``weights`` defaults to ``Weights()``.
    """
    inst = _one(inst_one)
    violations = _violations(inst, routes)
    if violations:
        raise ValueError("invalid PVRP solution: " + "; ".join(violations[:5]))
    return _objective(inst, routes, weights or Weights())


def _objective(inst: PVRPInstances, routes, weights: Weights) -> float:
    times = vehicle_times(inst, routes)
    time_term = float(times.max()) if weights.minmax else float(times.sum())
    value = weights.w_time * time_term
    if not inst.is_zc:
        value -= weights.w_pref * preference_collected(inst, routes)
    return value

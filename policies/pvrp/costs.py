"""Per-vehicle arc costs that turn the PVRP objective into a plain (heterogeneous) routing cost.

The preference reward is moved onto the arcs that enter a client with an exact shift: the arc
``i -> j`` of vehicle ``k`` costs ``w_time * d_ij / speed_k + w_pref * (P_max - pref[k, j])`` when
``j`` is a client and only ``w_time * d_ij / speed_k`` when it is the depot. Every client is entered
exactly once, so the summed arc cost is the objective plus the constant ``N * w_pref * P_max``; the
shift keeps every cost >= 0, which the solvers require. PVRP-ZC ignores preference (no shift).
"""
from __future__ import annotations

import numpy as np

from heurist.envs.pvrp.instance import PVRPInstances, Weights

__all__ = ["SCALE", "arc_costs", "cost_offset", "integer_capacities", "integer_costs"]

#: integer solvers see ``round(cost * SCALE)``; each arc then errs by at most ``0.5 / SCALE``
SCALE = 100_000


def _pref_shift(inst: PVRPInstances, weights: Weights) -> tuple[float, np.ndarray]:
    """``(P_max, pref[M, N])`` for P; ``(0, zeros)`` for ZC, whose objective ignores preference."""
    if inst.is_zc or weights.w_pref == 0:
        return 0.0, np.zeros((inst.M, inst.N))
    pref = inst.preference[0]
    return float(pref.max()), pref


def arc_costs(inst_one: PVRPInstances, weights: Weights) -> np.ndarray:
    """Shifted cost of arc ``i -> j`` for each vehicle (index 0 = depot): float64 [M, N + 1, N + 1]."""
    dist = inst_one.distances(0)
    time = dist[None] / inst_one.speed[0][:, None, None]
    costs = weights.w_time * time
    p_max, pref = _pref_shift(inst_one, weights)
    costs[:, :, 1:] += weights.w_pref * (p_max - pref)[:, None, :]
    return costs


def cost_offset(inst_one: PVRPInstances, weights: Weights) -> float:
    """The constant ``N * w_pref * P_max`` by which summed arc costs exceed the objective."""
    p_max, _ = _pref_shift(inst_one, weights)
    return inst_one.N * weights.w_pref * p_max


def integer_costs(inst_one: PVRPInstances, weights: Weights) -> np.ndarray:
    """:func:`arc_costs` scaled by :data:`SCALE` and rounded: int64 [M, N + 1, N + 1]."""
    return np.rint(arc_costs(inst_one, weights) * SCALE).astype(np.int64)


def integer_capacities(inst_one: PVRPInstances) -> list[int]:
    """Each vehicle's usable load as a Python int for the integer solvers: ``floor(capacity)``
    capped at the total demand, which no trip can exceed anyway; so a capacity of 1e300 stays
    within the solvers' 64-bit ints and means what it says."""
    total = int(inst_one.demand[0].sum())
    return [min(int(np.floor(c)), total) if np.isfinite(c) else total for c in inst_one.capacity[0]]

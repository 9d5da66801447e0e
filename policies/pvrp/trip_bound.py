"""How many trips a vehicle can usefully make, so multi-trip solvers can pre-size their fleets.

Two trips of one vehicle whose loads fit together can be merged without cost: by the triangle
inequality ``d(a, b) <= d(a, depot) + d(depot, b)``, and the preference term does not change. So some
optimal solution has no mergeable pair of trips per vehicle: at most one trip carries ``<= cap / 2``
and hence vehicle ``k`` makes at most ``floor(2 * D_k / cap_k) + 1`` trips, ``D_k`` being the demand
it may serve (and never more than the clients it may serve). Sizing with this bound is exact.
"""
from __future__ import annotations

import numpy as np

from heurist.envs.pvrp.instance import PVRPInstances

__all__ = ["trip_bound"]


def trip_bound(inst_one: PVRPInstances) -> np.ndarray:
    """Upper bound on the trips of each vehicle in some optimal solution: int64 [M] (>= 1)."""
    usable = inst_one.allowed_or_all()[0] & (inst_one.demand[0][None, :] <= inst_one.capacity[0][:, None])
    demand_k = (usable * inst_one.demand[0][None, :]).sum(axis=1)
    bound = np.floor(2 * demand_k / inst_one.capacity[0]).astype(np.int64) + 1
    return np.maximum(np.minimum(bound, usable.sum(axis=1)), 1)

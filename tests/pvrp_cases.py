"""Hand-computable PVRP instances shared by the retire tests of both envs."""
import numpy as np

from heurist.envs.pvrp import PVRPInstances


def two_vehicles(allowed=None) -> PVRPInstances:
    """Depot at the origin; clients c1 (0.3, 0.4) and c2 (0, 0.5), demand 1 each; two vehicles of
    capacity 10 (v1 twice as fast); preferences 0.5 / 0.2 (v0) and 0.1 / 0.1 (v1)."""
    return PVRPInstances(
        depot=np.array([[0.0, 0.0]]), locs=np.array([[[0.3, 0.4], [0.0, 0.5]]]),
        demand=np.array([[1, 1]]), capacity=np.array([[10, 10]]), speed=np.array([[1.0, 2.0]]),
        preference=np.array([[[0.5, 0.2], [0.1, 0.1]]]), allowed=allowed)

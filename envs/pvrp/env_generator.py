"""The env's instance generator: :func:`heurist.envs.pvrp.generator.generate` -> TensorDict [B].

The TensorDict keeps the instance keys and dtypes of :meth:`PVRPInstances.to_tensordict`
(``allowed`` only for PVRP-ZC), so the env oracles can rebuild the exact instance from it.
"""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from tensordict import TensorDict

from heurist.envs.pvrp.generator import PREFERENCES, VARIANTS, ZONES, generate

__all__ = ["PVRPGenerator"]


class PVRPGenerator:
    """Callable ``(batch_size, rng) -> TensorDict [B]`` of PVRP instances.

    Keys: ``depot`` [B, 2], ``locs`` [B, N, 2], ``demand`` [B, N], ``capacity`` [B, M],
    ``speed`` [B, M], ``preference`` [B, M, N] and, for ``variant="zc"``, ``allowed`` [B, M, N].
    """

    def __init__(self, *, n_clients: int = 20, n_vehicles: int = 3, variant: str = "p",
                 preference: str = "random", zones: str = "random",
                 capacity: float | Sequence[float] = 40, speed: float | Sequence[float] = 1.0) -> None:
        if int(n_clients) < 1 or int(n_vehicles) < 1:
            raise ValueError(f"PVRPGenerator: n_clients and n_vehicles must be >= 1, "
                             f"got {n_clients}, {n_vehicles}")
        if variant not in VARIANTS:
            raise ValueError(f"PVRPGenerator: variant must be one of {VARIANTS}, got {variant!r}")
        if preference not in PREFERENCES:
            raise ValueError(f"PVRPGenerator: preference must be one of {PREFERENCES}, "
                             f"got {preference!r}")
        if zones not in ZONES:
            raise ValueError(f"PVRPGenerator: zones must be one of {ZONES}, got {zones!r}")
        self.n_clients, self.n_vehicles = int(n_clients), int(n_vehicles)
        self.variant, self.preference, self.zones = variant, preference, zones
        self.capacity, self.speed = capacity, speed
        # fail at construction, not at the first reset, on a bad capacity/speed
        self(1, np.random.default_rng(0))

    def __call__(self, batch_size: int, rng: np.random.Generator) -> TensorDict:
        inst = generate(int(batch_size), n_clients=self.n_clients, n_vehicles=self.n_vehicles,
                        variant=self.variant, preference=self.preference, zones=self.zones,
                        capacity=self.capacity, speed=self.speed, rng=rng)
        return inst.to_tensordict()

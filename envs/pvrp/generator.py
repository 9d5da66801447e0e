"""Random PVRP instances (CAMP-style): uniform depot and clients, demands 1..9, vehicle profiles.

:func:`generate` draws a numpy :class:`PVRPInstances` batch; :class:`PVRPGenerator` is the envs'
injected generator, the same draw as an instance TensorDict [B].

Preference distributions ([S, M, N], PVRP-P):

* ``random``  -- U[0, 1) independently per (vehicle, client).
* ``angle``   -- 1 if the client lies in vehicle k's angular sector around the depot, else 0. The M
  sectors have equal width ``2*pi/M`` and start at a random per-instance rotation.
* ``cluster`` -- ``1 - dist(client, centre_k) / sqrt(2)``; each vehicle has a uniform random centre.
* ``block``   -- the unit square is cut into a ``g x g`` grid (``g = ceil(sqrt(M))``); the cells are
  dealt to vehicles in a random order (a random permutation of ``cell mod M``, so every vehicle owns
  at least one cell); preference is 1 for clients in a cell the vehicle owns, else 0.

Zones (``allowed`` [S, M, N], PVRP-ZC):

* ``random`` -- per instance ``r ~ U[0, 2/3)``; every client forbids ``int(r * M)`` random vehicles,
  never the one randomly chosen vehicle kept allowed among those able to carry its demand.
* ``sector`` -- the M equal angular sectors around the depot (random rotation); a client is allowed for
  its sector's vehicle and the next one (cyclically), plus the largest vehicle if neither can carry it.
"""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from heurist.envs.pvrp.instance import PVRPInstances

__all__ = ["PREFERENCES", "VARIANTS", "ZONES", "PVRPGenerator", "generate"]

PREFERENCES = ("random", "angle", "cluster", "block")
ZONES = ("random", "sector")
VARIANTS = ("p", "zc")


def _per_vehicle(value: float | Sequence[float], S: int, M: int, name: str) -> np.ndarray:
    arr = np.asarray(value)
    if arr.ndim == 0:
        arr = np.full(M, arr)
    if arr.shape != (M,):
        raise ValueError(f"generate: {name} must be a scalar or a sequence of M={M} values, "
                         f"got shape {list(arr.shape)}")
    if not np.all(np.isfinite(arr.astype(np.float64))) or np.any(arr <= 0):
        raise ValueError(f"generate: {name} must be finite and > 0, got {arr.tolist()}")
    return np.broadcast_to(arr, (S, M)).copy()


def _sector_of(depot: np.ndarray, locs: np.ndarray, rotation: np.ndarray, M: int) -> np.ndarray:
    """Index of the angular sector (0..M-1) of each client around the depot: int [S, N]."""
    d = locs - depot[:, None, :]
    theta = (np.arctan2(d[..., 1], d[..., 0]) - rotation[:, None]) % (2 * np.pi)
    return np.minimum((theta / (2 * np.pi / M)).astype(np.int64), M - 1)


def _preference(kind: str, depot, locs, M: int, rng: np.random.Generator) -> np.ndarray:
    S, N, _ = locs.shape
    if kind == "random":
        return rng.random((S, M, N))
    if kind == "angle":
        sector = _sector_of(depot, locs, rng.random(S) * 2 * np.pi, M)
        return (sector[:, None, :] == np.arange(M)[None, :, None]).astype(np.float64)
    if kind == "cluster":
        centres = rng.random((S, M, 2))
        dist = np.linalg.norm(locs[:, None, :, :] - centres[:, :, None, :], axis=-1)
        return 1.0 - dist / np.sqrt(2.0)
    if kind == "block":
        g = int(np.ceil(np.sqrt(M)))
        owner = np.stack([rng.permutation(np.arange(g * g) % M) for _ in range(S)])  # [S, g*g]
        cell_xy = np.minimum((locs * g).astype(np.int64), g - 1)
        cell = cell_xy[..., 0] * g + cell_xy[..., 1]  # [S, N]
        client_owner = np.take_along_axis(owner, cell, axis=1)
        return (client_owner[:, None, :] == np.arange(M)[None, :, None]).astype(np.float64)
    raise ValueError(f"generate: preference must be one of {PREFERENCES}, got {kind!r}")


def _zones(kind: str, depot, locs, demand, capacity, rng: np.random.Generator) -> np.ndarray:
    S, N, _ = locs.shape
    M = capacity.shape[1]
    can_carry = demand[:, None, :] <= capacity[:, :, None]  # [S, M, N]
    if kind == "random":
        n_forbid = np.minimum((rng.random(S) * (2.0 / 3.0) * M).astype(np.int64), M - 1)  # [S]
        keep_key = np.where(can_carry, rng.random((S, M, N)), -1.0)
        keep = keep_key.argmax(axis=1)  # [S, N]: a random vehicle able to carry the client
        key = rng.random((S, M, N))
        np.put_along_axis(key, keep[:, None, :], np.inf, axis=1)
        rank = key.argsort(axis=1).argsort(axis=1)  # a uniform random order of the other vehicles
        return rank >= n_forbid[:, None, None]
    if kind == "sector":
        sector = _sector_of(depot, locs, rng.random(S) * 2 * np.pi, M)
        k = np.arange(M)[None, :, None]
        allowed = (k == sector[:, None, :]) | (k == (sector[:, None, :] + 1) % M)
        stranded = ~(allowed & can_carry).any(axis=1)  # [S, N]
        biggest = capacity.argmax(axis=1)
        for s, j in np.argwhere(stranded):
            allowed[s, biggest[s], j] = True
        return allowed
    raise ValueError(f"generate: zones must be one of {ZONES}, got {kind!r}")


def generate(S: int, *, n_clients: int, n_vehicles: int, variant: str = "p",
             preference: str = "random", zones: str = "random",
             capacity: float | Sequence[float] = 40, speed: float | Sequence[float] = 1.0,
             rng: np.random.Generator | int | None = None) -> PVRPInstances:
    """Draws ``S`` instances with ``n_clients`` clients and ``n_vehicles`` vehicles.

    ``variant`` is ``"p"`` (preferences) or ``"zc"`` (zones; ``allowed`` is drawn, preferences too).
    ``capacity``/``speed`` are scalars or per-vehicle sequences. ``rng`` is a Generator or a seed
    (``None`` means seed 0: same seed, same instances).
    """
    if variant not in VARIANTS:
        raise ValueError(f"generate: variant must be one of {VARIANTS}, got {variant!r}")
    if preference not in PREFERENCES:
        raise ValueError(f"generate: preference must be one of {PREFERENCES}, got {preference!r}")
    if zones not in ZONES:
        raise ValueError(f"generate: zones must be one of {ZONES}, got {zones!r}")
    if S < 1 or n_clients < 1 or n_vehicles < 1:
        raise ValueError(f"generate: S, n_clients, n_vehicles must be >= 1, "
                         f"got {S}, {n_clients}, {n_vehicles}")
    if not isinstance(rng, np.random.Generator):
        rng = np.random.default_rng(0 if rng is None else rng)
    M, N = int(n_vehicles), int(n_clients)
    cap = _per_vehicle(capacity, S, M, "capacity")
    spd = _per_vehicle(speed, S, M, "speed").astype(np.float64)
    cap = cap.astype(np.int64) if np.all(cap == np.round(cap)) else cap.astype(np.float64)
    if cap.max() < 9:
        raise ValueError(f"generate: the largest capacity must be >= 9 (max demand), got {cap.max()}")
    depot = rng.random((S, 2))
    locs = rng.random((S, N, 2))
    demand = rng.integers(1, 10, size=(S, N)).astype(np.int64)
    pref = _preference(preference, depot, locs, M, rng)
    allowed = _zones(zones, depot, locs, demand, cap, rng) if variant == "zc" else None
    return PVRPInstances(depot=depot, locs=locs, demand=demand, capacity=cap, speed=spd,
                         preference=pref, allowed=allowed)


class PVRPGenerator:
    """Callable ``(batch_size, rng) -> TensorDict [B]`` of PVRP instances: :func:`generate` as
    :meth:`PVRPInstances.to_tensordict` (same keys and dtypes, so the env oracles rebuild the exact
    instance): ``depot`` [B, 2], ``locs`` [B, N, 2], ``demand`` [B, N], ``capacity`` [B, M],
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

    def __call__(self, batch_size: int, rng: np.random.Generator):
        inst = generate(int(batch_size), n_clients=self.n_clients, n_vehicles=self.n_vehicles,
                        variant=self.variant, preference=self.preference, zones=self.zones,
                        capacity=self.capacity, speed=self.speed, rng=rng)
        return inst.to_tensordict()

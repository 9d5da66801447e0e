"""The profiled vehicle routing problem (PVRP, CAMP): a validated batch of instances and weights.

A depot and ``N`` clients lie in the unit square; ``M`` heterogeneous vehicles each have a capacity,
a speed and a preference for every client (PVRP-P) or a zone mask saying which clients they may serve
(PVRP-ZC, ``allowed`` present). Vehicles may make several trips; a return to the depot refills them.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

__all__ = ["KEYS", "MAX_DEMAND", "PVRPInstances", "Weights", "validate_arrays"]

#: the array keys of a batch, in file order; ``allowed`` is optional (present = ZC variant)
KEYS = ("depot", "locs", "demand", "capacity", "speed", "preference", "allowed")


@dataclass(frozen=True)
class Weights:
    """Objective weights: ``w_time * time_term - w_pref * preference_collected`` (PVRP-P).

    ``time_term`` is ``sum_k time_k`` or, with ``minmax``, the makespan ``max_k time_k``.
    PVRP-ZC ignores preference: its objective is ``w_time * time_term``.
    """

    w_time: float = 0.9
    w_pref: float = 0.1
    minmax: bool = False

    def __post_init__(self) -> None:
        for name in ("w_time", "w_pref"):
            value = getattr(self, name)
            if not np.isfinite(value) or value < 0:
                raise ValueError(f"Weights: {name} must be finite and >= 0, got {value!r}")
        if self.w_time == 0 and self.w_pref == 0:
            raise ValueError("Weights: w_time and w_pref cannot both be 0")


#: the largest demand: loads are float32 in the envs, exact for integers up to 2^24
MAX_DEMAND = 2**24


def _fail(source: str, key: str, msg: str) -> None:
    raise ValueError(f"{source}: key '{key}': {msg}")


def _numeric(source: str, key: str, value: Any) -> np.ndarray:
    """``value`` as an array of integers, floats or bools; anything else (strings, complex
    numbers, objects) fails naming the key instead of raising from a dtype conversion."""
    try:
        arr = np.asarray(value)
    except (ValueError, TypeError) as exc:  # e.g. ragged nested lists
        _fail(source, key, f"not an array ({exc})")
    if arr.dtype.kind not in "biuf":
        _fail(source, key, f"must be numeric, got dtype {arr.dtype}")
    return arr


def _float(source: str, key: str, value: Any) -> np.ndarray:
    return _numeric(source, key, value).astype(np.float64)


def validate_arrays(arrays: dict[str, Any], *, source: str = "PVRPInstances") -> dict[str, np.ndarray]:
    """Checks and normalises the arrays of a batch; returns them with canonical dtypes.

    Raises ``ValueError`` naming ``source`` (a file name or class) and the offending key for a missing
    key, a bad shape or dtype, out-of-range values, or an infeasible instance (a client that no allowed
    vehicle can carry).
    """
    out: dict[str, np.ndarray] = {}
    for key in KEYS[:-1]:
        if key not in arrays or arrays[key] is None:
            _fail(source, key, "missing")
    depot = _float(source, "depot", arrays["depot"])
    if depot.ndim != 2 or depot.shape[1] != 2:
        _fail(source, "depot", f"expected shape [S, 2], got {list(depot.shape)}")
    S = depot.shape[0]
    if S < 1:
        _fail(source, "depot", "batch is empty (S = 0)")
    locs = _float(source, "locs", arrays["locs"])
    if locs.ndim != 3 or locs.shape[0] != S or locs.shape[2] != 2:
        _fail(source, "locs", f"expected shape [S={S}, N, 2], got {list(locs.shape)}")
    N = locs.shape[1]
    if N < 1:
        _fail(source, "locs", "needs at least one client (N >= 1)")
    for key, arr in (("depot", depot), ("locs", locs)):
        if not np.all(np.isfinite(arr)):
            _fail(source, key, "contains non-finite values")
    raw_demand = _numeric(source, "demand", arrays["demand"])
    if raw_demand.shape != (S, N):
        _fail(source, "demand", f"expected shape [S={S}, N={N}], got {list(raw_demand.shape)}")
    if raw_demand.dtype.kind not in "iuf" or not np.all(np.isfinite(raw_demand)) \
            or not np.all(raw_demand == np.round(raw_demand)):
        _fail(source, "demand", "must be integers")
    # range first, in the file's own dtype: a cast of 1e30 to int64 would wrap to a negative value
    if raw_demand.min() < 1:
        _fail(source, "demand", f"must be >= 1, got min {raw_demand.min()}")
    if raw_demand.max() > MAX_DEMAND:
        _fail(source, "demand", f"must be <= 2^24 = {MAX_DEMAND} (the envs' float32 loads are exact "
                                f"up to there), got max {raw_demand.max():g}")
    demand = raw_demand.astype(np.int64)

    capacity = _numeric(source, "capacity", arrays["capacity"])
    if capacity.ndim != 2 or capacity.shape[0] != S:
        _fail(source, "capacity", f"expected shape [S={S}, M], got {list(capacity.shape)}")
    M = capacity.shape[1]
    if M < 1:
        _fail(source, "capacity", "needs at least one vehicle (M >= 1)")
    if capacity.dtype.kind in "iub":
        if capacity.dtype.kind == "u" and capacity.size and capacity.max() > np.iinfo(np.int64).max:
            _fail(source, "capacity", f"too large for int64, got max {capacity.max()}")
        capacity = capacity.astype(np.int64)
    elif capacity.dtype.kind == "f":
        capacity = capacity.astype(np.float64)
    else:
        _fail(source, "capacity", f"must be numeric, got dtype {capacity.dtype}")
    if not np.all(np.isfinite(capacity)) or capacity.min() <= 0:
        _fail(source, "capacity", "must be finite and > 0")
    speed = _float(source, "speed", arrays["speed"])
    if speed.shape != (S, M):
        _fail(source, "speed", f"expected shape [S={S}, M={M}], got {list(speed.shape)}")
    if not np.all(np.isfinite(speed)) or speed.min() <= 0:
        _fail(source, "speed", "must be finite and > 0")
    preference = _float(source, "preference", arrays["preference"])
    if preference.shape != (S, M, N):
        _fail(source, "preference",
              f"expected shape [S={S}, M={M}, N={N}], got {list(preference.shape)}")
    if not np.all(np.isfinite(preference)):
        _fail(source, "preference", "contains non-finite values")

    allowed = arrays.get("allowed")
    if allowed is not None:
        allowed = _numeric(source, "allowed", allowed)
        if allowed.shape != (S, M, N):
            _fail(source, "allowed", f"expected shape [S={S}, M={M}, N={N}], got {list(allowed.shape)}")
        if allowed.dtype != np.bool_:
            if allowed.dtype.kind not in "iu" or not np.isin(allowed, (0, 1)).all():
                _fail(source, "allowed", f"must be boolean, got dtype {allowed.dtype}")
            allowed = allowed.astype(bool)
        usable = allowed & (demand[:, None, :] <= capacity[:, :, None])
        if not allowed.any(axis=1).all():
            s, j = np.argwhere(~allowed.any(axis=1))[0]
            _fail(source, "allowed", f"instance {s}: client {j + 1} has no allowed vehicle")
        if not usable.any(axis=1).all():
            s, j = np.argwhere(~usable.any(axis=1))[0]
            _fail(source, "demand", f"instance {s}: client {j + 1} (demand {demand[s, j]}) exceeds "
                                    "the capacity of every allowed vehicle")
    else:
        too_big = demand > capacity.max(axis=1, keepdims=True)
        if too_big.any():
            s, j = np.argwhere(too_big)[0]
            _fail(source, "demand", f"instance {s}: client {j + 1} (demand {demand[s, j]}) exceeds "
                                    "the capacity of every vehicle")
    out.update(depot=depot, locs=locs, demand=demand, capacity=capacity, speed=speed,
               preference=preference, allowed=allowed)
    return out


@dataclass(frozen=True, eq=False)  # arrays have no truth value: compare fields explicitly
class PVRPInstances:
    """A batch of ``S`` PVRP instances (numpy), validated on construction.

    Shapes: ``depot`` [S, 2], ``locs`` [S, N, 2], ``demand`` [S, N] (int), ``capacity`` [S, M],
    ``speed`` [S, M], ``preference`` [S, M, N], ``allowed`` [S, M, N] bool or ``None``.
    Clients are numbered 1..N in routes (0 is the depot); array column ``j`` is client ``j + 1``.
    """

    depot: np.ndarray
    locs: np.ndarray
    demand: np.ndarray
    capacity: np.ndarray
    speed: np.ndarray
    preference: np.ndarray
    allowed: np.ndarray | None = None
    source: str = field(default="PVRPInstances", compare=False, repr=False)

    def __post_init__(self) -> None:
        arrays = validate_arrays({k: getattr(self, k) for k in KEYS}, source=self.source)
        for key, value in arrays.items():
            object.__setattr__(self, key, value)

    # ------------------------------------------------------------------ sizes
    @property
    def S(self) -> int:
        """Number of instances in the batch."""
        return int(self.depot.shape[0])

    @property
    def N(self) -> int:
        """Number of clients per instance."""
        return int(self.locs.shape[1])

    @property
    def M(self) -> int:
        """Number of vehicles per instance."""
        return int(self.capacity.shape[1])

    @property
    def is_zc(self) -> bool:
        """True for the zone-constrained variant (``allowed`` present)."""
        return self.allowed is not None

    def __len__(self) -> int:
        return self.S

    # ------------------------------------------------------------------ views
    def arrays(self) -> dict[str, np.ndarray]:
        """The arrays by key (``allowed`` only when present)."""
        out = {k: getattr(self, k) for k in KEYS}
        if out["allowed"] is None:
            del out["allowed"]
        return out

    def __getitem__(self, index: int | slice | np.ndarray | list) -> PVRPInstances:
        """A sub-batch; an integer index gives a batch of one (``S == 1``)."""
        if isinstance(index, (int, np.integer)):
            if not -self.S <= index < self.S:
                raise IndexError(f"instance index {index} out of range for S={self.S}")
            index = [int(index) % self.S]
        sub = {k: v[index] for k, v in self.arrays().items()}
        return PVRPInstances(**sub, source=self.source)

    def select(self, i: int) -> PVRPInstances:
        """Instance ``i`` as a batch of one."""
        return self[int(i)]

    def coords(self, s: int = 0) -> np.ndarray:
        """Depot then clients of instance ``s``: float64 [N + 1, 2]."""
        return np.concatenate([self.depot[s][None], self.locs[s]], axis=0)

    def distances(self, s: int = 0) -> np.ndarray:
        """Euclidean distance matrix of instance ``s`` (index 0 = depot): float64 [N + 1, N + 1]."""
        xy = self.coords(s)
        return np.sqrt(((xy[:, None, :] - xy[None, :, :]) ** 2).sum(-1))

    def allowed_or_all(self) -> np.ndarray:
        """``allowed``, or all-True for PVRP-P: bool [S, M, N]."""
        if self.allowed is not None:
            return self.allowed
        return np.ones((self.S, self.M, self.N), dtype=bool)

    def to_tensordict(self):
        """The batch as a ``TensorDict`` of batch size [S] (same keys; ``allowed`` only for ZC)."""
        import torch
        from tensordict import TensorDict

        data = {k: torch.as_tensor(np.ascontiguousarray(v)) for k, v in self.arrays().items()}
        return TensorDict(data, batch_size=[self.S])

    @classmethod
    def from_tensordict(cls, td, *, source: str = "TensorDict") -> PVRPInstances:
        """Inverse of :meth:`to_tensordict` (accepts any mapping of tensors/arrays)."""
        arrays = {}
        for key in KEYS:
            if key in td:
                value = td[key]
                arrays[key] = value.detach().cpu().numpy() if hasattr(value, "detach") else value
        return cls(**arrays, source=source)

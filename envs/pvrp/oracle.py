"""Independent PVRP oracles: validity, objective and legal moves, recomputed without the env.

Two levels:

* **Routes** of one instance (what the solvers return): a list over vehicles ``k`` of a list of
  trips; a trip is a list of 1-based client indices, the depot implicit at both ends. Valid when
  every client is served exactly once, every trip's demand fits the vehicle's capacity and, for
  PVRP-ZC, every client is served by an allowed vehicle: :func:`check_routes`,
  :func:`evaluate_routes`.
* **Action logs** of the envs (the common env-oracle signature): ``actions`` [B, T, M] for
  ``PVRP`` or [B, T] for ``PVRPSequential`` (told apart by their number of dimensions), replayed
  by :mod:`heurist.envs.pvrp.decode` in plain numpy (:func:`legal_actions`, :func:`decode_log`)
  or, for a batch's verdicts, by the batched numba replay of :mod:`heurist.envs.pvrp.oracle_numba`
  (:func:`check_solution`, :func:`evaluate`), which equals the plain replay exactly. ``instance`` is the env's instance TensorDict [B] (or a
  :class:`PVRPInstances`).

The parallel env's conflicts are resolved by the ``priority`` inputs of its steps, which the log
alone does not hold: pass them as ``priorities`` [B, T, M] (``None`` = the default rule, lowest
vehicle index wins).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from numbers import Integral
from typing import TYPE_CHECKING

import numpy as np

from heurist.envs.pvrp.decode import Decoded, decode_parallel, decode_sequential
from heurist.envs.pvrp.instance import PVRPInstances, Weights

if TYPE_CHECKING:
    import torch

__all__ = [
    "CheckResult",
    "Routes",
    "check_routes",
    "check_solution",
    "decode_log",
    "evaluate",
    "evaluate_routes",
    "legal_actions",
    "preference_collected",
    "vehicle_times",
]

Routes = list[list[list[int]]]


# ---------------------------------------------------------------------------------------- routes
@dataclass(frozen=True)
class CheckResult:
    """Outcome of :func:`check_routes`; ``objective`` is set when the solution is valid."""

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


def check_routes(inst_one: PVRPInstances, routes, *, weights: Weights | None = None) -> CheckResult:
    """Validates ``routes`` for ``inst_one`` (S == 1); never raises on a bad solution.

    Detects: wrong number of vehicles, malformed trips, bad client indices, missing and duplicate
    clients, a trip over capacity, a zone violation (ZC). When valid, ``objective`` is
    ``evaluate_routes(inst_one, routes, weights=weights or Weights())``.
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


def evaluate_routes(inst_one: PVRPInstances, routes, *, weights: Weights | None = None) -> float:
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


# ------------------------------------------------------------------------------------ action logs
def _instances(instance) -> PVRPInstances:
    if isinstance(instance, PVRPInstances):
        return instance
    return PVRPInstances.from_tensordict(instance, source="PVRP oracle instance")


def _numpy(x) -> np.ndarray:
    """A tensor (any device) or array-like as numpy."""
    return x.detach().cpu().numpy() if hasattr(x, "detach") else np.asarray(x)


def _tensor(x: np.ndarray):
    # torch is imported on call: the route checks above serve the solvers, which need no torch
    import torch

    return torch.from_numpy(x)


def decode_log(instance, actions, *, priorities=None,
               retire: bool = False) -> tuple[PVRPInstances, list[Decoded]]:
    """Replays every row of the log ``actions`` ([B, T, M] parallel, [B, T] sequential) with
    ``priorities`` [B, T, M] or None -> (the
    validated instances, one :class:`Decoded` per row). ``retire``: the retire rule of the log's
    env (``PVRPEnv`` or ``PVRPSequentialEnv`` with ``retire=True``)."""
    inst = _instances(instance)
    acts = _numpy(actions)
    if acts.ndim not in (2, 3) or acts.shape[0] != inst.S or (acts.ndim == 3
                                                              and acts.shape[2] != inst.M):
        raise ValueError(f"actions must be [B={inst.S}, T, M={inst.M}] (PVRP) or [B={inst.S}, T] "
                         f"(PVRPSequential), got {list(acts.shape)}")
    allowed = inst.allowed_or_all()
    if acts.ndim == 2:
        if priorities is not None:
            raise ValueError("a sequential log has no conflicts: priorities must be None")
        return inst, [decode_sequential(acts[i], inst.demand[i], inst.capacity[i], allowed[i],
                                        retire=retire) for i in range(inst.S)]
    prios = None if priorities is None else _numpy(priorities)
    if prios is not None and prios.shape != acts.shape:
        raise ValueError(f"priorities must have the actions' shape {list(acts.shape)}, "
                         f"got {list(prios.shape)}")
    return inst, [decode_parallel(acts[i], inst.demand[i], inst.capacity[i], allowed[i],
                                  None if prios is None else prios[i], retire=retire)
                  for i in range(inst.S)]


def _log_arrays(instance, actions, priorities, retire: bool):
    """The validated instances and the log as canonical arrays -> (inst, actions int64 [B, T, M]
    or [B, T], priorities float64 [B, T, M] or None). Raises exactly as :func:`decode_log`."""
    inst = _instances(instance)
    acts = _numpy(actions)
    prios = None if priorities is None else _numpy(priorities)

    def refuse():  # the plain replay raises the reference's exact message
        decode_log(inst, acts, priorities=prios, retire=retire)
        raise AssertionError("decode_log accepted a log the batched oracle refuses")

    if acts.ndim not in (2, 3) or acts.shape[0] != inst.S or (acts.ndim == 3
                                                              and acts.shape[2] != inst.M):
        refuse()
    if acts.ndim == 2 and prios is not None:
        refuse()
    if prios is not None and prios.shape != acts.shape:
        refuse()
    acts = np.ascontiguousarray(acts, dtype=np.int64)
    if acts.size and (acts.min() < 0 or acts.max() > inst.N):
        refuse()
    if prios is not None:
        prios = np.ascontiguousarray(prios, dtype=np.float64)
    return inst, acts, prios


def _judge(instance, actions, priorities, weights: Weights | None,
           retire: bool = False) -> np.ndarray:
    """float64 [B]: minus the objective of each valid, finished row; NaN otherwise. The batched
    numba replay (:mod:`.oracle_numba`); :func:`_judge_reference` is the readable Python one it
    must equal exactly."""
    # numba is imported on call, as torch is: the route checks above serve the solvers
    from heurist.envs.pvrp.oracle_numba import judge_parallel, judge_sequential

    inst, acts, prios = _log_arrays(instance, actions, priorities, retire)
    w = weights or Weights()
    f64 = lambda a: np.ascontiguousarray(a, dtype=np.float64)
    common = (np.ascontiguousarray(inst.demand, dtype=np.int64), f64(inst.capacity),
              np.ascontiguousarray(inst.allowed_or_all(), dtype=np.bool_), f64(inst.depot),
              f64(inst.locs), f64(inst.speed), f64(inst.preference), float(w.w_time),
              float(w.w_pref), bool(w.minmax), bool(inst.is_zc))
    if acts.ndim == 2:
        return judge_sequential(acts, bool(retire), *common)
    has = prios is not None
    prios = prios if has else np.zeros((1, 1, 1), dtype=np.float64)
    return judge_parallel(acts, prios, has, bool(retire), *common)


def _judge_reference(instance, actions, priorities, weights: Weights | None,
                     retire: bool = False) -> np.ndarray:
    """float64 [B]: minus the objective of each valid, finished row; NaN otherwise: one Python
    replay (:mod:`.decode`) and :func:`check_routes` per row (the specification of
    :func:`_judge`)."""
    inst, rows = decode_log(instance, actions, priorities=priorities, retire=retire)
    out = np.full(inst.S, np.nan)
    for i, dec in enumerate(rows):
        res = check_routes(inst[i], dec.routes, weights=weights)
        if dec.finished and dec.illegal < 0 and res.ok:
            out[i] = -res.objective
    return out


def check_solution(instance, actions, *, weights: Weights | None = None,
                   priorities=None, retire: bool = False) -> torch.Tensor:
    """bool [B]: each row's log takes only legal actions, reaches the end of the episode, and its
    routes pass :func:`check_routes` (``retire``: the log of an env with ``retire=True``)."""
    return _tensor(~np.isnan(_judge(instance, actions, priorities, weights, retire)))


def evaluate(instance, actions, *, weights: Weights | None = None, priorities=None,
             retire: bool = False) -> torch.Tensor:
    """float64 [B]: the return of each row's log (minus the objective of its routes, = the summed
    step rewards); NaN for a row that :func:`check_solution` rejects."""
    return _tensor(_judge(instance, actions, priorities, weights, retire))


def legal_actions(instance, actions, *, priorities=None, retire: bool = False) -> torch.Tensor:
    """The legal moves after the log prefix ``actions`` ([B, t, M] or [B, t], ``t`` may be 0):
    bool [B, M, N + 1] (parallel) or [B, N + 1] for the vehicle that acts next (sequential).
    Recomputed from the instance and the log alone; raises ``ValueError`` when the prefix itself
    takes an illegal action (its state would mean nothing)."""
    inst, rows = decode_log(instance, actions, priorities=priorities, retire=retire)
    for i, dec in enumerate(rows):
        if dec.illegal >= 0:
            raise ValueError(f"row {i}: the action at step {dec.illegal} is illegal")
    legal = np.stack([dec.legal for dec in rows])  # [B, M, N + 1]
    if _numpy(actions).ndim == 2:
        legal = legal[np.arange(inst.S), [dec.current for dec in rows]]
    return _tensor(legal)

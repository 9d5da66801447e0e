"""The paging policy unit, its registry and the result of a simulation.

Every policy is a :class:`PagingPolicy` whose ``run`` replays a dense trace ``[T]`` through a cache of
``k`` pages and returns the per-request miss flags ``[T]`` and the eviction log ``[T]`` (the page
evicted at request ``t``, ``-1`` for none). Policies do not write a trace loop: each module defines
the libCacheSim-style hooks ``_find``/``_to_evict``/``_evict``/``_insert`` of
:mod:`heurist.envs.paging.sim_loop` (choosing the victim is kept apart from evicting it), and
``_state`` returns that module's compiled loop with the policy's initial state. Policies are demand
paging: they evict exactly one page on a miss with a full cache and never otherwise.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import ClassVar

import numpy as np
from numba import njit

from heurist.envs.paging.predictions import Predictions
from heurist.envs.paging.traces import dense_trace

__all__ = [
    "REGISTRY",
    "PagingPolicy",
    "SimResult",
    "canonical_name",
    "dense_trace",
    "get_policy",
    "list_policies",
    "register_policy",
    "seed_numba",
    "slots_needed",
]

REGISTRY: dict[str, type[PagingPolicy]] = {}


def slots_needed(cache_size: int, n_ids: int) -> int:
    """The cache size a simulation allocates: at most one slot per distinct page. A cache with at
    least as many slots as the trace has pages never evicts, so every policy (and every predictor
    that simulates a cache) behaves the same there as with exactly ``n_ids`` slots; allocating
    ``cache_size`` slots would only run out of memory for a huge ``--cache-size``."""
    return max(1, min(int(cache_size), int(n_ids)))


def canonical_name(name: str) -> str:
    """Lower-case with separators removed: ``"S3-FIFO"``, ``"s3_fifo"`` and ``"s3fifo"`` match."""
    return re.sub(r"[\s_\-&+.]", "", str(name).lower())


def register_policy(cls: type[PagingPolicy]) -> type[PagingPolicy]:
    """Class decorator adding a policy (under its ``name`` and ``aliases``) to :data:`REGISTRY`."""
    for name in (cls.name, *cls.aliases):
        key = canonical_name(name)
        if key in REGISTRY and REGISTRY[key] is not cls:
            raise ValueError(f"paging policy name {name!r} registered twice")
        REGISTRY[key] = cls
    return cls


def list_policies() -> list[str]:
    """Names of all registered policies, offline optimum first."""
    names = sorted({cls.name for cls in REGISTRY.values()}, key=str.lower)
    return sorted(names, key=lambda n: n != "OPT")


def get_policy(policy, **kwargs) -> PagingPolicy:
    """A policy object from a name (case-insensitive) or an instance (returned as is)."""
    if isinstance(policy, PagingPolicy):
        if kwargs:
            raise ValueError("keyword arguments only apply when the policy is given by name")
        return policy
    cls = REGISTRY.get(canonical_name(policy))
    if cls is None:
        raise ValueError(f"unknown paging policy {policy!r}; valid: {', '.join(list_policies())}")
    return cls(**kwargs)


@njit(cache=True)
def seed_numba(seed):
    """Seeds numba's random generator, which every compiled kernel of the process shares."""
    np.random.seed(seed)


@dataclass(frozen=True)
class SimResult:
    """Outcome of one simulation: ``miss_flags [T]`` and ``victims [T]`` (evicted page id per request,
    ``-1`` if none) in the trace's own ids."""

    policy: str
    cache_size: int
    miss_flags: np.ndarray
    victims: np.ndarray

    @property
    def requests(self) -> int:
        return int(self.miss_flags.size)

    @property
    def misses(self) -> int:
        return int(self.miss_flags.sum())

    @property
    def hits(self) -> int:
        return self.requests - self.misses

    @property
    def miss_ratio(self) -> float:
        return self.misses / self.requests if self.requests else 0.0


class PagingPolicy:
    """One paging policy. Subclasses set ``name`` (``aliases``), ``needs`` (the prediction fields
    they read: ``next_arrival``, ``discard``, ``phase``), ``offline`` and implement ``_state``
    (or ``_run``, for a policy that combines others)."""

    name: ClassVar[str] = ""
    aliases: ClassVar[tuple[str, ...]] = ()
    needs: ClassVar[tuple[str, ...]] = ()
    offline: ClassVar[bool] = False
    randomized: ClassVar[bool] = False

    def check_predictions(self, predictions: Predictions | None, length: int) -> None:
        """Raises ``ValueError`` unless every field this policy reads is present with ``length``."""
        if not self.needs:
            return
        missing = [f for f in self.needs if predictions is None or getattr(predictions, f) is None]
        if missing:
            raise ValueError(f"policy {self.name} needs predictions with {', '.join(missing)}; pass "
                             f"predictions= (e.g. --predictor "
                             f"{'exact' if 'next_arrival' in missing else missing[0] + ':0'})")
        predictions.check_length(length)

    def run(self, trace: np.ndarray, n_ids: int, cache_size: int,
            predictions: Predictions | None, seed: int) -> tuple[np.ndarray, np.ndarray]:
        """Replays dense ``trace [T]`` (ids ``< n_ids``); returns ``(miss [T] bool, victims [T])``."""
        if int(cache_size) < 1:
            raise ValueError(f"cache_size must be a positive integer, got {cache_size}")
        self.check_predictions(predictions, trace.size)
        return self._run(trace, n_ids, int(cache_size), predictions, int(seed))

    def _state(self, trace, n_ids, k, predictions, seed):  # pragma: no cover - abstract
        """``(simulator, state)``: the module's :func:`~heurist.envs.paging.sim_loop.simulator_for`
        loop and the initial state its hooks read."""
        raise NotImplementedError

    def _run(self, trace, n_ids, k, predictions, seed):
        simulate, state = self._state(trace, n_ids, k, predictions, seed)
        miss = np.zeros(trace.size, dtype=np.bool_)
        victims = np.full(trace.size, -1, dtype=np.int64)
        simulate(trace, k, state, miss, victims, 0)
        return miss, victims

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"

"""Predictions that learning-augmented paging algorithms receive alongside each request.

Conventions (per request ``t`` of a trace ``[T]``):

``next_arrival[t]``  float64: predicted index of the next request to ``trace[t]``'s page after ``t``;
                     ``inf`` (:data:`NEVER`) = never requested again.
``discard[t]``       bool: the "discard" bit of Antoniadis et al., *Paging with Succinct
                     Predictions* (ICML 2023): 1 = it is safe to evict this page before its next
                     request. The exact bit is derived from Belady's offline optimum (FitF): it is 1
                     iff Belady's cache does not hold the page at its next request (Belady evicts it
                     in between), or the page is never requested again.
``phase[t]``         bool: the "phase" bit of the same paper: 1 iff the page ``trace[t]`` is requested
                     in the *next* phase, phases being the k-phase partition of the trace (a phase is a
                     maximal run of requests to at most ``k`` distinct pages, started greedily from
                     the first request; it is the phase structure of every marking algorithm).

Predictors are callables ``(trace, *, cache_size, rng) -> Predictions``.
"""
from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

import numpy as np
from numba import njit

from heurist.envs.paging.traces import dense_trace

__all__ = [
    "NEVER",
    "CombinedPredictor",
    "DiscardBits",
    "ExactNextArrival",
    "LearnedPredictor",
    "NoisyNextArrival",
    "PhaseBits",
    "Predictions",
    "Predictor",
    "belady_miss_flags",
    "exact_discard_bits",
    "exact_phase_bits",
    "make_predictor",
    "next_arrival_indices",
    "next_arrivals",
    "next_arrivals_dense",
    "phase_ids",
]

#: ``next_arrival`` value meaning "never requested again".
NEVER = math.inf


@dataclass(frozen=True)
class Predictions:
    """Per-request predictions for one trace ``[T]``; see the module docstring for the meaning of
    each field. Arrays are converted to float64 / bool and must all have length ``T``."""

    next_arrival: np.ndarray | None
    discard: np.ndarray | None = None
    phase: np.ndarray | None = None

    def __post_init__(self) -> None:
        lengths = {}
        for name, dtype in (("next_arrival", np.float64), ("discard", np.bool_), ("phase", np.bool_)):
            value = getattr(self, name)
            if value is None:
                continue
            array = np.asarray(value)
            if array.ndim != 1:
                raise ValueError(f"Predictions.{name} must be 1-D, got shape {array.shape}")
            if dtype is np.float64 and np.isnan(array.astype(np.float64)).any():
                raise ValueError(f"Predictions.{name} contains NaN")
            object.__setattr__(self, name, np.ascontiguousarray(array, dtype=dtype))
            lengths[name] = array.size
        if len(set(lengths.values())) > 1:
            raise ValueError(f"Predictions fields differ in length: {lengths}")

    def __len__(self) -> int:
        for value in (self.next_arrival, self.discard, self.phase):
            if value is not None:
                return int(value.size)
        return 0

    def check_length(self, length: int) -> Predictions:
        """Raises ``ValueError`` unless every given field has ``length`` entries."""
        for name in ("next_arrival", "discard", "phase"):
            value = getattr(self, name)
            if value is not None and value.size != length:
                raise ValueError(f"Predictions.{name} has {value.size} entries, trace has {length}")
        return self


class Predictor(Protocol):
    """Anything that predicts for a whole trace ``[T]``."""

    def __call__(self, trace: np.ndarray, *, cache_size: int,
                 rng: np.random.Generator) -> Predictions: ...


# ---------------------------------------------------------------------------- exact quantities
@njit(cache=True)
def next_arrivals_dense(trace, n_ids):
    """Next-request index ``[T]`` of each request of a dense trace (ids < ``n_ids``); -1 = never."""
    T = trace.size
    out = np.empty(T, dtype=np.int64)
    seen = np.full(n_ids, -1, dtype=np.int64)
    for t in range(T - 1, -1, -1):
        page = trace[t]
        out[t] = seen[page]
        seen[page] = t
    return out


def next_arrival_indices(trace) -> np.ndarray:
    """Exact next-request index ``[T]`` (int64) of ``trace[t]``'s page after ``t``; ``-1`` = never."""
    dense, _, n_ids = dense_trace(trace)
    return next_arrivals_dense(dense, n_ids)


def next_arrivals(trace) -> np.ndarray:
    """Exact next-arrival times ``[T]`` (float64; :data:`NEVER` = ``inf`` when never requested
    again) of a 1-D integer trace."""
    idx = next_arrival_indices(trace).astype(np.float64)
    idx[idx < 0] = NEVER
    return idx


def belady_miss_flags(trace, cache_size: int) -> np.ndarray:
    """Per-request miss flags ``[T]`` (bool) of Belady's offline optimum (evict the page requested
    farthest in the future) with ``cache_size`` pages."""
    if int(cache_size) < 1:
        raise ValueError(f"cache_size must be >= 1, got {cache_size}")
    from heurist.envs.paging.belady import belady_keys, farthest_key_run

    dense, _, n_ids = dense_trace(trace)
    return farthest_key_run(dense, belady_keys(dense, n_ids), n_ids, int(cache_size))[0]


@njit(cache=True)
def _phase_ids(trace, n_ids, k):
    T = trace.size
    phase = np.empty(T, dtype=np.int64)
    stamp = np.full(n_ids, -1, dtype=np.int64)
    current, distinct = 0, 0
    for t in range(T):
        page = trace[t]
        if stamp[page] != current:
            if distinct == k:
                current += 1
                distinct = 0
            if stamp[page] != current:
                stamp[page] = current
                distinct += 1
        phase[t] = current
    return phase


def phase_ids(trace, cache_size: int) -> np.ndarray:
    """Phase index ``[T]`` (int64) of each request in the k-phase partition (k = ``cache_size``)."""
    if int(cache_size) < 1:
        raise ValueError(f"cache_size must be >= 1, got {cache_size}")
    dense, _, n_ids = dense_trace(trace)
    return _phase_ids(dense, n_ids, int(cache_size))


@njit(cache=True)
def _phase_bits(trace, phase, n_ids):
    T = trace.size
    bits = np.zeros(T, dtype=np.bool_)
    # Scanning backwards, ``near`` is the phase of the page's nearest future request and ``after``
    # the first phase beyond ``near`` in which it is requested (-1 = none).
    near = np.full(n_ids, -1, dtype=np.int64)
    after = np.full(n_ids, -1, dtype=np.int64)
    for t in range(T - 1, -1, -1):
        page, ph = trace[t], phase[t]
        following = after[page] if near[page] == ph else near[page]
        bits[t] = following == ph + 1
        if near[page] != ph:
            after[page] = near[page]
            near[page] = ph
    return bits


def exact_phase_bits(trace, cache_size: int) -> np.ndarray:
    """Exact phase bits ``[T]``: is ``trace[t]``'s page requested in the phase after ``t``'s?"""
    dense, _, n_ids = dense_trace(trace)
    return _phase_bits(dense, phase_ids(dense, cache_size), n_ids)


def exact_discard_bits(trace, cache_size: int) -> np.ndarray:
    """Exact discard bits ``[T]``: 1 iff Belady misses the page's next request or there is none."""
    nxt = next_arrival_indices(trace)
    miss = belady_miss_flags(trace, cache_size)
    return (nxt < 0) | miss[np.maximum(nxt, 0)]


def _flip(bits: np.ndarray, rate: float, rng: np.random.Generator) -> np.ndarray:
    return bits ^ (rng.random(bits.size) < rate)


def _check_rate(name: str, rate: float) -> float:
    rate = float(rate)
    if not 0.0 <= rate <= 1.0:
        raise ValueError(f"{name}: flip_rate must lie in [0, 1], got {rate}")
    return rate


# ---------------------------------------------------------------------------- predictors
class ExactNextArrival:
    """The perfect next-arrival predictor (with it, follow-the-prediction is Belady)."""

    def __call__(self, trace, *, cache_size: int, rng: np.random.Generator) -> Predictions:
        return Predictions(next_arrival=next_arrivals(trace))

    def __repr__(self) -> str:
        return "ExactNextArrival()"


class NoisyNextArrival:
    """Synthetic next-arrival predictor of Lykouris & Vassilvitskii (ICML 2018, section 7): the true
    next arrival plus noise drawn from a lognormal distribution whose underlying normal has mean 0 and
    standard deviation ``sigma``. A page never requested again has true arrival ``T`` (the trace
    length) before noise, so the prediction never reveals "never" exactly."""

    def __init__(self, *, sigma: float) -> None:
        if not float(sigma) >= 0:
            raise ValueError(f"NoisyNextArrival: sigma must be >= 0, got {sigma}")
        self.sigma = float(sigma)

    def __call__(self, trace, *, cache_size: int, rng: np.random.Generator) -> Predictions:
        nxt = next_arrival_indices(trace).astype(np.float64)
        nxt[nxt < 0] = nxt.size
        return Predictions(next_arrival=nxt + rng.lognormal(0.0, self.sigma, nxt.size))

    def __repr__(self) -> str:
        return f"NoisyNextArrival(sigma={self.sigma})"


class DiscardBits:
    """Discard bits (see the module docstring), each flipped independently with ``flip_rate``."""

    def __init__(self, *, flip_rate: float = 0.0) -> None:
        self.flip_rate = _check_rate("DiscardBits", flip_rate)

    def __call__(self, trace, *, cache_size: int, rng: np.random.Generator) -> Predictions:
        bits = exact_discard_bits(trace, cache_size)
        return Predictions(next_arrival=None, discard=_flip(bits, self.flip_rate, rng))

    def __repr__(self) -> str:
        return f"DiscardBits(flip_rate={self.flip_rate})"


class PhaseBits:
    """Phase bits (see the module docstring), each flipped independently with ``flip_rate``."""

    def __init__(self, *, flip_rate: float = 0.0) -> None:
        self.flip_rate = _check_rate("PhaseBits", flip_rate)

    def __call__(self, trace, *, cache_size: int, rng: np.random.Generator) -> Predictions:
        bits = exact_phase_bits(trace, cache_size)
        return Predictions(next_arrival=None, phase=_flip(bits, self.flip_rate, rng))

    def __repr__(self) -> str:
        return f"PhaseBits(flip_rate={self.flip_rate})"


class LearnedPredictor:
    """Hook for a learned model: ``fn(trace, cache_size)`` returns a :class:`Predictions`, a dict
    with any of its fields, or a bare next-arrival array ``[T]``."""

    def __init__(self, fn: Callable[[np.ndarray, int], object]) -> None:
        if not callable(fn):
            raise TypeError(f"LearnedPredictor needs a callable, got {type(fn).__name__}")
        self.fn = fn

    def __call__(self, trace, *, cache_size: int, rng: np.random.Generator) -> Predictions:
        out = self.fn(np.asarray(trace), int(cache_size))
        if isinstance(out, Predictions):
            pred = out
        elif isinstance(out, dict):
            unknown = set(out) - {"next_arrival", "discard", "phase"}
            if unknown:
                raise ValueError(f"LearnedPredictor: unknown prediction fields {sorted(unknown)}")
            pred = Predictions(next_arrival=out.get("next_arrival"), discard=out.get("discard"),
                               phase=out.get("phase"))
        else:
            pred = Predictions(next_arrival=np.asarray(out))
        return pred.check_length(len(trace))

    def __repr__(self) -> str:
        return f"LearnedPredictor({getattr(self.fn, '__name__', self.fn)!r})"


class CombinedPredictor:
    """Runs several predictors and merges their fields (a later predictor's field wins)."""

    def __init__(self, *predictors: Predictor) -> None:
        if not predictors:
            raise ValueError("CombinedPredictor needs at least one predictor")
        self.predictors = predictors

    def __call__(self, trace, *, cache_size: int, rng: np.random.Generator) -> Predictions:
        fields: dict[str, np.ndarray | None] = {"next_arrival": None, "discard": None, "phase": None}
        for predictor in self.predictors:
            pred = predictor(trace, cache_size=cache_size, rng=rng)
            for name in fields:
                if getattr(pred, name) is not None:
                    fields[name] = getattr(pred, name)
        return Predictions(**fields)

    def __repr__(self) -> str:
        return f"CombinedPredictor{self.predictors!r}"


def make_predictor(spec: str) -> Predictor:
    """Builds a predictor from ``exact``, ``noisy:SIGMA``, ``discard:FLIP``, ``phase:FLIP`` or a
    ``+``-joined combination (``noisy:2+discard:0.1``)."""
    parts = [part.strip() for part in str(spec).split("+")]
    built = []
    for part in parts:
        name, _, arg = part.partition(":")
        name = name.lower()
        try:
            if name == "exact" and not arg:
                built.append(ExactNextArrival())
            elif name == "noisy":
                built.append(NoisyNextArrival(sigma=float(arg)))
            elif name == "discard":
                built.append(DiscardBits(flip_rate=float(arg or 0)))
            elif name == "phase":
                built.append(PhaseBits(flip_rate=float(arg or 0)))
            else:
                raise ValueError
        except ValueError as exc:
            detail = f" ({exc})" if str(exc) else ""
            raise ValueError(f"bad predictor {part!r}{detail}; expected exact, noisy:SIGMA, "
                             f"discard:FLIP or phase:FLIP (joined by '+')") from None
    return built[0] if len(built) == 1 else CombinedPredictor(*built)

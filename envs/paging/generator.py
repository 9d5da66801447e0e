"""Instances of the paging env: traces plus predictions as an instance TensorDict.

Instance keys (batch ``[B]``, traces padded to a common ``T``):

``trace``         int64 [B, T]    dense page ids (padding past ``length`` is 0 and never read)
``length``        int64 [B]       number of real requests of each row
``cost``          float32 [B, T]  cost of a miss on each request (1 = plain paging; a weighted
                                  variant, e.g. KV-cache tokens, sets other costs)
``next_arrival``  float64 [B, T]  predicted next request time of ``trace[t]``'s page (``inf`` =
                                  never); absent when the instance carries no predictions
``discard``       bool [B, T]     1-bit "safe to evict" predictions (all False when absent)
``phase``         bool [B, T]     1-bit "requested in the next phase" predictions (idem)
"""
from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import torch
from tensordict import TensorDict, TensorDictBase

__all__ = [
    "DEFAULT_PREDICTOR",
    "PagingGenerator",
    "default_predictor",
    "instance_from_traces",
    "validate_instance",
]

#: The default predictor spec: Lykouris & Vassilvitskii's synthetic next-arrival predictions
#: (true next arrival plus lognormal noise, sigma = 10: on BrightKite at k = 10,
#: following them (BlindOracle) costs 1.22 x OPT, between OPT and LRU at 1.29 x OPT); see
#: ``heurist.envs.paging.predictions``.
DEFAULT_PREDICTOR = "noisy:10"


def default_predictor():
    """The predictor used when none is injected: ``make_predictor(DEFAULT_PREDICTOR)``."""
    from heurist.envs.paging.predictions import make_predictor

    return make_predictor(DEFAULT_PREDICTOR)


def _resolve_predictor(predictor):
    if predictor is None:
        return default_predictor()
    if predictor is False or predictor == "none":
        return None
    if isinstance(predictor, str):
        from heurist.envs.paging.predictions import make_predictor

        return make_predictor(predictor)
    if not callable(predictor):
        raise ValueError(  # noqa: TRY004 - the project reports bad input as ValueError
            f"predictor must be callable, a spec string or 'none', got {predictor!r}")
    return predictor


def instance_from_traces(traces: Sequence[np.ndarray], *, cache_size: int, predictor=None,
                         rng: np.random.Generator | None = None,
                         costs: Sequence[np.ndarray] | None = None) -> TensorDict:
    """One instance row per trace ``[T_i]`` (padded to the longest) -> TensorDict [B].

    ``predictor``: a callable ``(trace, *, cache_size, rng) -> Predictions``, a spec string for
    ``make_predictor`` (``"noisy:2"``), ``None`` (the default predictor) or ``"none"`` (no
    predictions). ``costs``: optional per-request miss costs ``[T_i]`` (default 1).
    """
    if len(traces) == 0:
        raise ValueError("instance_from_traces needs at least one trace")
    rng = np.random.default_rng(0) if rng is None else rng
    pred_fn = _resolve_predictor(predictor)
    B = len(traces)
    lengths = np.array([len(t) for t in traces], dtype=np.int64)
    if (lengths == 0).any():
        raise ValueError(f"trace {int(np.flatnonzero(lengths == 0)[0])} is empty")
    T = int(lengths.max())
    trace = np.zeros((B, T), dtype=np.int64)
    cost = np.ones((B, T), dtype=np.float32)
    nxt = np.full((B, T), np.inf)
    disc = np.zeros((B, T), dtype=bool)
    phase = np.zeros((B, T), dtype=bool)
    any_next = any_disc = any_phase = False
    for i, tr in enumerate(traces):
        tr = np.asarray(tr, dtype=np.int64)
        if tr.ndim != 1 or (tr < 0).any():
            raise ValueError(f"trace {i}: expected 1-D non-negative page ids")
        L = tr.size
        trace[i, :L] = tr
        if costs is not None:
            c = np.asarray(costs[i], dtype=np.float32)
            if c.shape != (L,) or not np.isfinite(c).all() or (c < 0).any():
                raise ValueError(f"costs[{i}]: expected {L} finite non-negative costs")
            cost[i, :L] = c
        if pred_fn is not None:
            p = pred_fn(tr, cache_size=int(cache_size), rng=rng)
            if p.next_arrival is not None:
                nxt[i, :L] = p.next_arrival
                any_next = True
            if p.discard is not None:
                disc[i, :L] = p.discard
                any_disc = True
            if p.phase is not None:
                phase[i, :L] = p.phase
                any_phase = True
    data = {"trace": trace, "length": lengths, "cost": cost}
    # Only the prediction kinds the predictor made go in: absent keys mean "no such prediction".
    if any_next:
        data["next_arrival"] = nxt
    if any_disc:
        data["discard"] = disc
    if any_phase:
        data["phase"] = phase
    return TensorDict({k: torch.as_tensor(v) for k, v in data.items()}, batch_size=[B])


def validate_instance(instance: TensorDictBase) -> dict[str, np.ndarray]:
    """Checks an instance TensorDict [B] and returns its numpy arrays (contiguous, filled
    defaults). Raises ``ValueError`` naming the offending field."""
    if "trace" not in instance:
        raise ValueError("paging instance: missing field 'trace' (int64 [B, T])")
    trace = np.ascontiguousarray(instance["trace"].cpu().numpy())
    if trace.ndim != 2 or not np.issubdtype(trace.dtype, np.integer):
        raise ValueError(f"paging instance: field 'trace' must be integer [B, T], got "
                         f"{trace.dtype} {trace.shape}")
    trace = trace.astype(np.int64, copy=False)
    B, T = trace.shape
    if "length" in instance:
        length = np.ascontiguousarray(instance["length"].cpu().numpy().astype(np.int64))
        if length.shape != (B,) or (length < 1).any() or (length > T).any():
            raise ValueError(f"paging instance: field 'length' must be int [B] in [1, {T}]")
    else:
        length = np.full(B, T, dtype=np.int64)
    valid = np.arange(T)[None, :] < length[:, None]
    if (trace[valid] < 0).any():
        raise ValueError("paging instance: field 'trace' has negative page ids")

    def field(name, dtype, default):
        if name not in instance:
            return np.full((B, T), default, dtype=dtype)
        a = instance[name].cpu().numpy()
        if a.shape != (B, T):
            raise ValueError(f"paging instance: field {name!r} must be [B, T] = {(B, T)}, got "
                             f"{a.shape}")
        return np.ascontiguousarray(a.astype(dtype))

    cost = field("cost", np.float64, 1.0)
    if not np.isfinite(cost[valid]).all() or (cost[valid] < 0).any():
        raise ValueError("paging instance: field 'cost' must be finite and non-negative")
    pred = field("next_arrival", np.float64, np.inf)
    if np.isnan(pred).any():
        raise ValueError("paging instance: field 'next_arrival' contains NaN")
    return {"trace": np.ascontiguousarray(trace), "length": length, "cost": cost, "pred": pred,
            "disc": field("discard", np.uint8, 0), "phase": field("phase", np.uint8, 0),
            "has_pred": "next_arrival" in instance}


class PagingGenerator:
    """Draws paging instances: ``generator(batch_size, rng) -> TensorDict [B]``.

    ``traces=None``: synthetic Zipf traces (``length`` requests over ``n_pages`` pages, exponent
    ``alpha``, from ``heurist.envs.paging.generators.zipf``). Otherwise ``traces`` is a list of
    real traces ``[T_i]``; each row picks one uniformly and crops a random window of ``length``
    requests (the whole trace when ``length`` is ``None`` or longer). ``predictor`` as in
    :func:`instance_from_traces`; predictions are made on the cropped window. ``cache_size`` is
    passed to the predictor (bits of the discard/phase kinds depend on it).
    """

    def __init__(self, *, traces: Sequence[np.ndarray] | None = None, length: int | None = 256,
                 n_pages: int = 64, alpha: float = 0.9, predictor=None, cache_size: int = 10,
                 trace_fn: Callable | None = None) -> None:
        if length is not None and int(length) < 1:
            raise ValueError(f"length must be >= 1, got {length}")
        if traces is None and length is None:
            raise ValueError("synthetic traces need a length")
        if int(n_pages) < 1:
            raise ValueError(f"n_pages must be >= 1, got {n_pages}")
        self.traces = None if traces is None else [np.asarray(t, dtype=np.int64) for t in traces]
        if self.traces is not None and not self.traces:
            raise ValueError("traces is empty")
        self.length = None if length is None else int(length)
        self.n_pages = int(n_pages)
        self.alpha = float(alpha)
        self.cache_size = int(cache_size)
        self.predictor = _resolve_predictor(predictor)
        self.trace_fn = trace_fn

    def draw_traces(self, batch_size: int, rng: np.random.Generator) -> list[np.ndarray]:
        """The raw traces ``[T]`` of one batch (before predictions)."""
        if self.traces is None:
            if self.trace_fn is not None:
                return [np.asarray(self.trace_fn(self.length, rng), dtype=np.int64)
                        for _ in range(batch_size)]
            from heurist.envs.paging.generators import zipf

            return [np.asarray(zipf(self.length, n_pages=self.n_pages, alpha=self.alpha, rng=rng),
                               dtype=np.int64) for _ in range(batch_size)]
        out = []
        for _ in range(batch_size):
            tr = self.traces[int(rng.integers(len(self.traces)))]
            if self.length is not None and tr.size > self.length:
                start = int(rng.integers(tr.size - self.length + 1))
                tr = tr[start:start + self.length]
            # Re-densify a window so page ids index small arrays.
            _, tr = np.unique(tr, return_inverse=True)
            out.append(tr.reshape(-1).astype(np.int64))
        return out

    def __call__(self, batch_size: int, rng: np.random.Generator) -> TensorDict:
        traces = self.draw_traces(int(batch_size), rng)
        return instance_from_traces(traces, cache_size=self.cache_size,
                                    predictor=self.predictor if self.predictor is not None
                                    else "none", rng=rng)

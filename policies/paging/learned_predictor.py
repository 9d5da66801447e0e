"""Learned predictions for paging with predictions: a small network over the causal request
features of :mod:`heurist.policies.paging.learned_features`, and the predictor that turns its
outputs into next arrivals, discard bits and phase bits for any cache size.

The network (:class:`PagingPredictorNet`) has no dependence on the cache size. For each request it
predicts two distributions over log2 buckets (bucket ``b`` holds ``x`` with ``floor(log2(1 + x))
== b``, the last class is "never requested again"):

* the **gap**: requests until the page's next request (gives ``next_arrival``);
* the **reuse distance**: distinct pages requested until then (its LRU stack distance at the
  next request; gives the bits for a cache of ``k`` pages: a page that meets ``k`` or more other
  pages before it is asked again is one a ``k``-page cache should drop).

:class:`LearnedPagingPredictor` applies the network to a whole trace (one batched forward pass;
row ``t`` reads only ``trace[:t + 1]``) and derives, with constants fixed at training time:

``next_arrival[t] = t + 2 ** E[log2 gap]``, "never" counted as ``2 ** never_log2``;
``discard[t]  = P(reuse distance >= k) >= discard_threshold``;
``phase[t]    = P(reuse distance < phase_scale * k) >= phase_threshold``.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from torch import nn

from heurist.envs.paging.predictions import Predictions
from heurist.policies.paging.learned_features import FEATURES, N_FEATURES, request_features

__all__ = ["ARTIFACT_NAME", "N_BUCKETS", "LearnedPagingPredictor", "PagingPredictorNet",
           "bucket_of", "load_predictor", "shipped_predictor_path"]

#: log2 buckets of gaps and distances; class ``N_BUCKETS`` is "never".
N_BUCKETS = 16
#: The folder of the shipped predictor under ``policies/artifacts``.
ARTIFACT_NAME = "paging_predictor"


def bucket_of(x: np.ndarray) -> np.ndarray:
    """Bucket ``[N]`` (int64) of non-negative counts ``x [N]``; negative = never (``N_BUCKETS``)."""
    x = np.asarray(x)
    b = np.minimum(np.floor(np.log2(1.0 + np.maximum(x, 0))), N_BUCKETS - 1).astype(np.int64)
    return np.where(x < 0, N_BUCKETS, b)


class PagingPredictorNet(nn.Module):
    """MLP over request features ``[N, F]`` -> ``(gap_logits, distance_logits)``, each
    ``[N, N_BUCKETS + 1]``. Input standardisation (``mean``/``std`` buffers, fitted on the
    training rows) and the derivation constants are part of the saved state/config."""

    def __init__(self, *, n_features: int = N_FEATURES, hidden: int = 64, n_layers: int = 2,
                 never_log2: float = 20.0, discard_threshold: float = 0.5,
                 phase_scale: float = 1.0, phase_threshold: float = 0.5) -> None:
        super().__init__()
        if n_features != N_FEATURES:
            raise ValueError(f"n_features must be {N_FEATURES} (the feature layout), got {n_features}")
        if hidden < 1 or n_layers < 1:
            raise ValueError(f"hidden and n_layers must be >= 1, got {hidden}, {n_layers}")
        for name, value in (("discard_threshold", discard_threshold),
                            ("phase_threshold", phase_threshold)):
            if not 0.0 < value < 1.0:
                raise ValueError(f"{name} must lie in (0, 1), got {value}")
        if not phase_scale > 0:
            raise ValueError(f"phase_scale must be > 0, got {phase_scale}")
        self.config = {"n_features": n_features, "hidden": hidden, "n_layers": n_layers,
                       "never_log2": float(never_log2), "discard_threshold": float(discard_threshold),
                       "phase_scale": float(phase_scale), "phase_threshold": float(phase_threshold)}
        self.register_buffer("mean", torch.zeros(n_features))
        self.register_buffer("std", torch.ones(n_features))
        layers: list[nn.Module] = []
        width = n_features
        for _ in range(n_layers):
            layers += [nn.Linear(width, hidden), nn.ReLU()]
            width = hidden
        self.body = nn.Sequential(*layers)
        self.heads = nn.Linear(hidden, 2 * (N_BUCKETS + 1))

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        h = self.body((x - self.mean) / self.std)
        out = self.heads(h)
        return out[:, :N_BUCKETS + 1], out[:, N_BUCKETS + 1:]


def _tail_prob(probs: np.ndarray, k: float) -> np.ndarray:
    """``P(x >= k) [N]`` from bucket probabilities ``[N, N_BUCKETS + 1]`` ("never" counts as
    beyond), linear in log2(1 + x) inside the bucket holding ``k``."""
    u = np.log2(1.0 + float(k))
    b = int(np.floor(u))
    if b >= N_BUCKETS:
        return probs[:, N_BUCKETS].copy()
    return probs[:, b + 1:].sum(1) + probs[:, b] * (b + 1 - u)


class LearnedPagingPredictor:
    """A predictor ``(trace, *, cache_size, rng) -> Predictions`` with all three fields, from a
    :class:`PagingPredictorNet`; deterministic (``rng`` is unused)."""

    def __init__(self, net: PagingPredictorNet, manifest: dict | None = None,
                 source: str = "") -> None:
        self.net = net.eval()
        self.manifest = manifest or {}
        self.source = source

    @torch.no_grad()
    def distributions(self, trace) -> tuple[np.ndarray, np.ndarray]:
        """``(gap_probs, distance_probs)``, each ``[T, N_BUCKETS + 1]`` float64."""
        x = torch.from_numpy(request_features(trace))
        gap, dist = self.net(x)
        return (torch.softmax(gap.double(), -1).numpy(), torch.softmax(dist.double(), -1).numpy())

    def predict(self, trace, cache_size: int) -> Predictions:
        if int(cache_size) < 1:
            raise ValueError(f"cache_size must be >= 1, got {cache_size}")
        cfg = self.net.config
        gap, dist = self.distributions(trace)
        centres = np.append(np.arange(N_BUCKETS) + 0.5, cfg["never_log2"])
        t = np.arange(gap.shape[0], dtype=np.float64)
        next_arrival = t + np.exp2(gap @ centres)
        discard = _tail_prob(dist, cache_size) >= cfg["discard_threshold"]
        phase = (1.0 - _tail_prob(dist, cfg["phase_scale"] * cache_size)) >= cfg["phase_threshold"]
        return Predictions(next_arrival=next_arrival, discard=discard, phase=phase)

    def __call__(self, trace, *, cache_size: int, rng: np.random.Generator | None = None
                 ) -> Predictions:
        return self.predict(np.asarray(trace), cache_size)

    def __repr__(self) -> str:
        return f"LearnedPagingPredictor({self.source or 'in memory'})"


def shipped_predictor_path() -> Path:
    """The folder of the predictor artifact shipped inside the package."""
    return Path(__file__).resolve().parents[1] / "artifacts" / ARTIFACT_NAME


def load_predictor(folder=None) -> LearnedPagingPredictor:
    """The predictor of artifact ``folder`` (default: the shipped one); every check of
    :func:`~heurist.policies.export.load_network` made, and the network must be a
    :class:`PagingPredictorNet`."""
    from heurist.policies.export.artifact import load_network

    folder = shipped_predictor_path() if folder is None else Path(folder)
    net, manifest = load_network(folder)
    if type(net).__name__ != "PagingPredictorNet":  # a wrong file, reported like the others
        raise ValueError(f"{folder}: network {type(net).__name__} is not a paging predictor "
                         f"(PagingPredictorNet)")
    return LearnedPagingPredictor(net, manifest, source=str(folder))


def feature_layout() -> dict[str, list[str]]:
    """The feature layout recorded in (and checked against) the artifact manifest."""
    return {"request_features": list(FEATURES)}

"""Training and held-out traces of the learned paging predictors, and their labels.

Families (each with a fixed train / held-out part):

``brightkite``   the shipped BrightKite users, split by :func:`heurist.agents.data.load_split`
                 (70 train users, 30 held out);
``zipf``, ``loop``, ``scan``, ``multi_tenant``, ``prefix_cache``
                 synthetic traces of :mod:`heurist.envs.paging.generators`, each trace drawing its
                 own parameters; the train part from seed ``seed``, the held-out part from seed
                 ``seed + 1_000_003``, so the two never share a trace.

Labels need the future (they are what is predicted); features never do
(:func:`heurist.policies.paging.learned_features.request_features`).
"""
from __future__ import annotations

import numpy as np

from heurist.envs.paging import generators as gen
from heurist.envs.paging.predictions import next_arrival_indices
from heurist.envs.paging.traces import dense_trace
from heurist.policies.paging.learned_features import stack_distances
from heurist.policies.paging.learned_predictor import bucket_of

__all__ = ["HELD_OUT_OFFSET", "SYNTHETIC", "family_traces", "labels", "synthetic_trace"]

SYNTHETIC = ("zipf", "loop", "scan", "multi_tenant", "prefix_cache")
HELD_OUT_OFFSET = 1_000_003


def synthetic_trace(family: str, length: int, rng: np.random.Generator) -> np.ndarray:
    """One trace ``[length]`` of ``family`` with parameters drawn from ``rng``."""
    if family == "zipf":
        return gen.zipf(length, n_pages=int(rng.integers(100, 1001)),
                        alpha=float(rng.uniform(0.6, 1.2)), rng=rng)
    if family == "loop":
        return gen.loop(length, n_pages=int(rng.integers(12, 151)),
                        noise=float(rng.uniform(0.0, 0.1)), rng=rng)
    if family == "scan":
        return gen.scan(length, n_hot=int(rng.integers(5, 61)),
                        scan_length=int(rng.integers(10, 101)),
                        scan_prob=float(rng.uniform(0.005, 0.03)), rng=rng)
    if family == "multi_tenant":
        tenants = [synthetic_trace(str(rng.choice(["zipf", "loop", "scan"])), length, rng)
                   for _ in range(int(rng.integers(2, 5)))]
        return gen.multi_tenant(length, tenants=tenants, rng=rng,
                                weights=rng.uniform(0.2, 1.0, len(tenants)))
    if family == "prefix_cache":
        return gen.prefix_cache_blocks(length, rng=rng, n_active=int(rng.integers(2, 17)))
    raise ValueError(f"unknown trace family {family!r}; known: brightkite, {', '.join(SYNTHETIC)}")


def family_traces(family: str, *, part: str, n_traces: int = 20, length: int = 2100,
                  seed: int = 0) -> list[np.ndarray]:
    """The ``part`` (``train`` or ``test``) traces of ``family``; BrightKite ignores ``n_traces``,
    ``length`` and ``seed`` (its split is fixed)."""
    if part not in ("train", "test"):
        raise ValueError(f"part must be 'train' or 'test', got {part!r}")
    if family == "brightkite":
        from heurist.agents.data import load_split

        return load_split(None)[part]
    rng = np.random.default_rng(seed + (HELD_OUT_OFFSET if part == "test" else 0)
                                + 7919 * (SYNTHETIC.index(family) if family in SYNTHETIC else 0))
    return [synthetic_trace(family, length, rng) for _ in range(int(n_traces))]


def labels(trace) -> tuple[np.ndarray, np.ndarray]:
    """``(gap_bucket [T], distance_bucket [T])`` int64: the log2 bucket of the requests until the
    page's next request and of the distinct pages requested until then (``N_BUCKETS`` = never)."""
    dense, _, n_ids = dense_trace(np.asarray(trace))
    nxt = next_arrival_indices(dense)
    t = np.arange(dense.size)
    gap = np.where(nxt >= 0, nxt - t, -1)
    stack = stack_distances(dense, n_ids)
    dist = np.where(nxt >= 0, stack[np.maximum(nxt, 0)], -1)
    return bucket_of(gap), bucket_of(dist)

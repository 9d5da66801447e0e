"""``simulate``: one trace through one paging policy."""
from __future__ import annotations

import numpy as np

from heurist.envs.paging.predictions import Predictions
from heurist.policies.paging.base import (
    PagingPolicy,
    SimResult,
    dense_trace,
    get_policy,
    slots_needed,
)

__all__ = ["simulate"]


def simulate(trace, cache_size: int, policy: str | PagingPolicy, predictions=None,
             seed: int = 0) -> SimResult:
    """Replays integer ``trace [T]`` through ``policy`` (a name, case-insensitive, or a policy
    object) with a cache of ``cache_size`` pages. ``predictions`` is a :class:`Predictions` for this
    trace or a predictor (called with ``np.random.default_rng(seed)``); policies that read predictions
    raise ``ValueError`` without them. Randomized policies draw from ``seed``."""
    if isinstance(cache_size, bool) or int(cache_size) != cache_size or int(cache_size) < 1:
        raise ValueError(f"cache_size must be a positive integer, got {cache_size!r}")
    policy = get_policy(policy)
    dense, ids, n_ids = dense_trace(trace)
    k = slots_needed(cache_size, n_ids)
    if predictions is not None and not isinstance(predictions, Predictions):
        if not callable(predictions):
            raise ValueError(f"predictions must be Predictions or a predictor, got "
                             f"{type(predictions).__name__}")
        predictions = predictions(np.asarray(trace), cache_size=k,
                                  rng=np.random.default_rng(seed))
    miss, victims = policy.run(dense, n_ids, k, predictions, int(seed))
    victims = np.where(victims >= 0, ids[np.maximum(victims, 0)], -1) if n_ids else victims
    return SimResult(policy=policy.name, cache_size=int(cache_size), miss_flags=miss,
                     victims=victims)

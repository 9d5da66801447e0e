"""Baseline eviction policies that act on the paging env's observation (td-policies).

Each is a callable ``policy(td) -> action int64 [B]`` reading only ``slot_features`` [B, k, F] and
``action_mask`` [B, k], so it runs inside any rollout loop of ``heurist.envs.paging.PagingEnv``
exactly where a learned policy would. :class:`BeladyEnvPolicy` is the exception: it asks the env
for the true future (a teacher, not a deployable policy).
"""
from __future__ import annotations

import torch
from tensordict import TensorDictBase

from heurist.envs.paging.env import SLOT_FEATURES

__all__ = [
    "ENV_POLICIES",
    "BeladyEnvPolicy",
    "blind_oracle_policy",
    "lfu_policy",
    "lru_policy",
    "score_policy",
]

_IDX = {name: i for i, name in enumerate(SLOT_FEATURES)}


def _argmax_masked(score: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    # torch.argmax returns the first maximal index, so ties go to the lowest slot.
    return score.masked_fill(~mask, float("-inf")).argmax(-1)


def score_policy(td: TensorDictBase, *features: str) -> torch.Tensor:
    """Evicts the slot that is lexicographically largest on ``features`` (ranks in [0, 1])."""
    x = td["slot_features"].to(torch.float64)
    score = torch.zeros(x.shape[:-1], dtype=torch.float64)
    # Ranks are multiples of 1/(k-1); a factor 4k separates the levels of the ordering.
    scale = 1.0
    for name in features:
        score = score + x[..., _IDX[name]] * scale
        scale /= 4.0 * x.shape[-2]
    return _argmax_masked(score, td["action_mask"])


def lru_policy(td: TensorDictBase) -> torch.Tensor:
    """LRU: evict the least recently used slot -> int64 [B]."""
    return score_policy(td, "recency_rank")


def lfu_policy(td: TensorDictBase) -> torch.Tensor:
    """In-cache LFU (requests since load), least recent among equals -> int64 [B]."""
    return score_policy(td, "rarity_rank", "recency_rank")


def blind_oracle_policy(td: TensorDictBase) -> torch.Tensor:
    """Follow the prediction: evict the farthest predicted next arrival (then LRU) -> int64 [B]."""
    return score_policy(td, "pred_rank", "recency_rank")


class BeladyEnvPolicy:
    """Belady's choice read from the env's true future (``env.opt_action()``) -> int64 [B]."""

    def __init__(self, env) -> None:
        self.env = env

    def __call__(self, td: TensorDictBase) -> torch.Tensor:
        return self.env.opt_action()


#: Observation-only baselines by name.
ENV_POLICIES = {"LRU": lru_policy, "LFU": lfu_policy, "BlindOracle": blind_oracle_policy}

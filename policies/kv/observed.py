"""Observed attention (kvpress ``ObservedAttentionPress``, H2O-like): the mean attention an entry
received from every query that could see it.

Prefill: per query head ``attn.sum(queries) / (T - position)`` (the number of causal queries that
see the key), averaged over the GQA group -- kvpress's definition, op for op. Decode: running sum
and count of the attention each cached entry receives.
"""
from __future__ import annotations

import torch

from heurist.policies.kv.base import KVPolicy
from heurist.policies.kv.observation import group_mean

__all__ = ["ObservedAttention", "observed_scores"]


def observed_scores(attn: torch.Tensor, n_kv_heads: int) -> torch.Tensor:
    """kvpress's ObservedAttentionPress.score on ``[Hq, T, T]`` -> ``[Hkv, T]`` (same op order)."""
    a = attn.unsqueeze(0)  # [1, Hq, T, T], kvpress's batched layout
    scores = a.sum(2)
    t = a.shape[-1]
    n_tokens_in_sum = torch.arange(t, 0, -1).to(a.device, a.dtype)
    scores = scores / n_tokens_in_sum
    return scores.view(1, n_kv_heads, -1, t).mean(2)[0]


class ObservedAttention(KVPolicy):
    name = "observed"

    def prefill_scores(self, obs, n_kept):
        return observed_scores(obs.attn, obs.n_kv_heads)

    def prefill_stats(self, obs):
        t = obs.n_tokens
        total = group_mean(obs.attn.sum(1), obs.n_kv_heads)  # [Hkv, T]
        seen = torch.arange(t, 0, -1, dtype=total.dtype).expand_as(total).clone()
        return {"total": total, "seen": seen}

    def observe(self, stats, step):
        stats["total"] += group_mean(step.attn, step.n_kv_heads)
        stats["seen"] += 1.0

    def decode_scores(self, stats, step):
        return stats["total"] / stats["seen"].clamp(min=1.0)

"""H2O, Heavy-Hitter Oracle (Zhang et al. 2023): keep the entries with the largest ACCUMULATED
attention (heavy hitters) plus the most recent ones.

Definition here (the paper's): the kept set is the ``recent_ratio * n_kept`` newest entries plus
the heavy hitters by accumulated (un-normalised) attention, averaged over the GQA group. kvpress has
no H2O press; its nearest, ``ObservedAttentionPress``, normalises by how many queries saw each key
and keeps no recent window. ``parity="kvpress"`` scores exactly as that press.
"""
from __future__ import annotations

import torch

from heurist.policies.kv.base import KVPolicy, recency
from heurist.policies.kv.observation import group_mean
from heurist.policies.kv.observed import observed_scores

__all__ = ["H2O"]


class H2O(KVPolicy):
    name = "h2o"

    def __init__(self, *, recent_ratio: float = 0.5, parity: str = "heurist") -> None:
        super().__init__(parity=parity)
        if not 0.0 <= recent_ratio <= 1.0:
            raise ValueError(f"recent_ratio must be in [0, 1], got {recent_ratio}")
        self.recent_ratio = recent_ratio

    def _protect_recent(self, scores, positions, capacity):
        n_recent = int(capacity * self.recent_ratio)
        if n_recent == 0:
            return scores
        # The n_recent newest positions of each head get a score above any attention sum.
        newest = positions.topk(min(n_recent, positions.shape[-1]), dim=-1).indices
        bonus = torch.zeros_like(scores).scatter_(-1, newest, 1e9)
        return scores + bonus + 1e-12 * recency(positions).to(scores.dtype) * (bonus > 0)

    def prefill_scores(self, obs, n_kept):
        if self.parity == "kvpress":
            return observed_scores(obs.attn, obs.n_kv_heads)
        acc = group_mean(obs.attn.sum(1), obs.n_kv_heads).to(torch.float64)
        pos = torch.arange(obs.n_tokens).expand(obs.n_kv_heads, -1)
        return self._protect_recent(acc, pos, n_kept)

    def prefill_stats(self, obs):
        return {"acc": group_mean(obs.attn.sum(1), obs.n_kv_heads).to(torch.float64)}

    def observe(self, stats, step):
        stats["acc"] += group_mean(step.attn, step.n_kv_heads).to(torch.float64)

    def decode_scores(self, stats, step):
        return self._protect_recent(stats["acc"].clone(), step.positions, step.capacity)

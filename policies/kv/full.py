"""The full cache: never evicts (the reference every fidelity metric is measured against)."""
from __future__ import annotations

import torch

from heurist.policies.kv.base import KVPolicy, recency

__all__ = ["FullCache"]


class FullCache(KVPolicy):
    name = "full"
    evicts = False

    def prefill_scores(self, obs, n_kept):
        return recency(torch.arange(obs.n_tokens)).expand(obs.n_kv_heads, -1).clone()

    def decode_scores(self, stats, step):
        return recency(step.positions)

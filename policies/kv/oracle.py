"""The offline oracle (Belady-like upper reference): keep the entries that the FUTURE queries
attend to most; evict the one with the least future attention mass.

It reads the attention of the full-cache run over the continuation, so it is not deployable; on the
prefill form it maximises the attention-recall proxy among all policies of the same budget
(recall is linear in the kept set). Per KV head: mean over the GQA group.
"""
from __future__ import annotations

import torch

from heurist.policies.kv.base import KVPolicy, recency
from heurist.policies.kv.observation import group_mean

__all__ = ["FutureOracle"]


class FutureOracle(KVPolicy):
    name = "oracle"
    offline = True

    def prefill_scores(self, obs, n_kept):
        if obs.future is None:
            raise ValueError("the oracle needs the continuation's attention (obs.future)")
        mass = group_mean(obs.future.sum(1), obs.n_kv_heads).to(torch.float64)  # [Hkv, T]
        # Tie-break (entries no future query reads) by recency, far below any mass difference.
        return mass + 1e-15 * recency(torch.arange(obs.n_tokens))

    def decode_scores(self, stats, step):
        if step.future is None:  # past the known text: fall back to recency
            return recency(step.positions)
        mass = group_mean(step.future, step.n_kv_heads).to(torch.float64)  # [Hkv, P]
        return mass.gather(1, step.positions) + 1e-15 * recency(step.positions)

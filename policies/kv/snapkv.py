"""SnapKV (Li et al. 2024): the last ``window_size`` context queries (the observation window) vote
for the earlier entries; votes are smoothed by 1-D average pooling; the window itself is kept.

``parity="kvpress"`` is kvpress's ``SnapKVPress`` op for op (window 64, kernel 5, zero-padded
``avg_pool1d`` that counts the padding, mean over the GQA group, window padded with ``max + 1``).
Default differs in one place: when ``n_kept`` is smaller than twice the window, the window shrinks
to ``n_kept // 2`` -- otherwise kvpress keeps only window entries, tied at ``max + 1``, i.e. an
arbitrary part of a recent window (at 10 % of 512 tokens, 51 of the 64). Window entries rank
newest-first.

Decode form: the same vote over the last ``window_size`` decode queries, pooled along the cache.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

from heurist.policies.kv.base import KVPolicy, recency
from heurist.policies.kv.observation import group_mean

__all__ = ["SnapKV"]


class SnapKV(KVPolicy):
    name = "snapkv"

    def __init__(self, *, window_size: int = 64, kernel_size: int = 5,
                 parity: str = "heurist") -> None:
        super().__init__(parity=parity)
        if window_size < 1 or kernel_size < 1 or kernel_size % 2 == 0:
            raise ValueError(f"need window_size >= 1 and an odd kernel_size >= 1, got "
                             f"{window_size}, {kernel_size}")
        self.window_size = window_size
        self.kernel_size = kernel_size

    def _pool(self, scores: torch.Tensor) -> torch.Tensor:
        k = self.kernel_size
        return F.avg_pool1d(scores, kernel_size=k, padding=k // 2, stride=1)

    def prefill_scores(self, obs, n_kept):
        t, hkv = obs.n_tokens, obs.n_kv_heads
        w = self.window_size if self.parity == "kvpress" else min(self.window_size,
                                                                  max(1, n_kept // 2))
        if t <= w:
            raise ValueError(f"SnapKV needs more context tokens ({t}) than its window ({w})")
        a = obs.attn.unsqueeze(0)  # [1, Hq, T, T], kvpress's layout
        scores = a[..., -w:, :-w].mean(dim=-2)
        scores = self._pool(scores)
        scores = scores.view(1, hkv, -1, t - w).mean(2)
        if self.parity == "kvpress":
            return F.pad(scores, (0, w), value=scores.max().item() + 1)[0]
        top = scores.max().item() + 1
        window = top + recency(torch.arange(w)).to(scores.dtype).expand(1, hkv, w)
        return torch.cat([scores, window], dim=-1)[0]

    def prefill_stats(self, obs):
        w = min(self.window_size, obs.n_tokens)
        rows = group_mean(obs.attn[:, -w:, :], obs.n_kv_heads)  # [Hkv, w, T]
        return {"votes": rows.permute(1, 0, 2).contiguous()}  # [w, Hkv, T]

    def observe(self, stats, step):
        votes = stats["votes"]
        slot = step.step % votes.shape[0]  # ring buffer over the last window_size queries
        votes[slot] = group_mean(step.attn, step.n_kv_heads)

    def decode_scores(self, stats, step):
        scores = self._pool(stats["votes"].sum(0)[None])[0]
        scores[:, -1] = scores.max() + 1  # the newest entry has had no vote yet
        return scores

"""Scissorhands (Liu et al. 2023): persistence of importance over a history window.

Over the last ``history`` queries an entry counts as important for a query when its attention is
at least the uniform level ``1 / (visible keys)``; the score is the fraction of (query, group head)
pairs in the window that found it important, among those that could see it (newer entries are seen
by fewer queries). Ties -- common, many entries are never important -- are broken by the mean
attention mass, scaled small enough never to override a rate difference. kvpress has no
Scissorhands press (no parity mode).
"""
from __future__ import annotations

import torch

from heurist.policies.kv.base import KVPolicy

__all__ = ["Scissorhands"]

_TIE = 1e-6  # rate differences are >= 1/(3*history)^2 >> _TIE for history <= 128


class Scissorhands(KVPolicy):
    name = "scissorhands"

    def __init__(self, *, history: int = 32, parity: str = "heurist") -> None:
        super().__init__(parity=parity)
        if history < 1:
            raise ValueError(f"history must be >= 1, got {history}")
        self.history = history

    @staticmethod
    def _votes(attn: torch.Tensor, visible: torch.Tensor, n_kv_heads: int):
        """``attn [Hq, q, Tk]``, ``visible [q, Tk]`` bool -> (hits, seen, mass) each ``[q, Hkv, Tk]``."""
        hq = attn.shape[0]
        n_vis = visible.sum(-1, keepdim=True).clamp(min=1)  # [q, 1]
        hit = (attn >= 1.0 / n_vis) & visible  # [Hq, q, Tk]
        g = hq // n_kv_heads
        hit = hit.reshape(n_kv_heads, g, *hit.shape[1:]).float().sum(1)  # [Hkv, q, Tk]
        mass = attn.reshape(n_kv_heads, g, *attn.shape[1:]).sum(1)
        seen = visible.float().expand(n_kv_heads, -1, -1) * g
        return (hit.permute(1, 0, 2).contiguous(), seen.permute(1, 0, 2).contiguous(),
                mass.permute(1, 0, 2).contiguous())

    @staticmethod
    def _score(hits, seen, mass):
        s = seen.sum(0).clamp(min=1.0)
        return hits.sum(0) / s + _TIE * mass.sum(0) / s

    def prefill_stats(self, obs):
        t = obs.n_tokens
        w = min(self.history, t)
        q = torch.arange(t - w, t)
        visible = torch.arange(t)[None, :] <= q[:, None]  # [w, T] causal
        hits, seen, mass = self._votes(obs.attn[:, -w:, :], visible, obs.n_kv_heads)
        return {"hits": hits, "seen": seen, "mass": mass}

    def prefill_scores(self, obs, n_kept):
        st = self.prefill_stats(obs)
        return self._score(st["hits"], st["seen"], st["mass"])

    def observe(self, stats, step):
        slot = step.step % stats["hits"].shape[0]  # ring buffer over the last `history` queries
        visible = torch.ones(1, step.attn.shape[-1], dtype=torch.bool)
        hits, seen, mass = self._votes(step.attn[:, None, :], visible, step.n_kv_heads)
        stats["hits"][slot], stats["seen"][slot], stats["mass"][slot] = hits[0], seen[0], mass[0]

    def decode_scores(self, stats, step):
        return self._score(stats["hits"], stats["seen"], stats["mass"])

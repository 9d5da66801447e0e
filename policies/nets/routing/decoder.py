"""The pointer decoder shared by AM, POMO, SymNCO and CAMP.

One glimpse of multi-head attention from the context query over the node keys, then single-head
compatibilities clipped by ``C * tanh`` (Bello et al.; ``C = 10`` in AM) and masked: an illegal
action gets ``-inf``, so neither argmax nor sampling can ever pick it. Leading dims broadcast:
AM's query is ``[B, H]`` against keys ``[B, N + 1, H]``; CAMP's is ``[B, M, H]`` against per-vehicle
keys ``[B, M, N + 1, H]``.
"""
from __future__ import annotations

import math

import torch
from torch import nn

__all__ = ["PointerDecoder", "masked_logits"]


def masked_logits(logits: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """``-inf`` where ``mask`` is False (``[..., n]`` both)."""
    return logits.masked_fill(~mask, float("-inf"))


class PointerDecoder(nn.Module):
    """Keys from node embeddings once per episode (:meth:`precompute`), logits per step."""

    def __init__(self, *, dim: int, n_heads: int = 8, clip: float = 10.0) -> None:
        super().__init__()
        if dim % n_heads:
            raise ValueError(f"PointerDecoder: dim {dim} must be divisible by n_heads {n_heads}")
        if not clip > 0:
            raise ValueError(f"PointerDecoder: clip must be > 0, got {clip}")
        self.n_heads, self.clip = n_heads, float(clip)
        self.keys = nn.Linear(dim, 3 * dim, bias=False)  # glimpse key, glimpse value, logit key
        self.out = nn.Linear(dim, dim, bias=False)

    def precompute(self, nodes: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """``nodes`` [..., n, H] -> (glimpse key, glimpse value, logit key), each [..., n, H]."""
        gk, gv, lk = self.keys(nodes).chunk(3, -1)
        return gk, gv, lk

    def forward(self, query: torch.Tensor, gk: torch.Tensor, gv: torch.Tensor, lk: torch.Tensor,
                mask: torch.Tensor) -> torch.Tensor:
        """``query`` [..., H], keys [..., n, H], ``mask`` [..., n] -> masked logits [..., n]."""
        H = query.shape[-1]
        h, d = self.n_heads, H // self.n_heads
        q = query.unflatten(-1, (h, d))  # [..., h, d]
        k, v = gk.unflatten(-1, (h, d)), gv.unflatten(-1, (h, d))  # [..., n, h, d]
        compat = torch.einsum("...hd,...nhd->...hn", q, k) / math.sqrt(d)
        compat = masked_logits(compat, mask.unsqueeze(-2))
        glimpse = torch.einsum("...hn,...nhd->...hd", compat.softmax(-1), v).flatten(-2)
        logits = torch.einsum("...H,...nH->...n", self.out(glimpse), lk) / math.sqrt(H)
        return masked_logits(self.clip * torch.tanh(logits), mask)

"""A pointer-style attention scorer over cache slots: the eviction policy's network."""
from __future__ import annotations

import math

import torch
from torch import nn

__all__ = ["SlotAttentionPolicy"]


class SlotAttentionPolicy(nn.Module):
    """Scores every cache slot for eviction.

    Slots and the request are embedded as tokens, mixed by a small transformer encoder (the
    request token attends to every slot and back), then a pointer head scores each slot against
    the request/context query: ``logit_j = clip * tanh(q . k_j / sqrt(d))``. Illegal slots get
    ``-inf``. The network has no dependence on k: it runs at any cache size.

    Keyword-only: ``slot_dim`` F, ``request_dim`` F2, ``embed_dim`` d, ``n_heads``, ``n_layers``,
    ``ff_dim``, ``clip`` (tanh clipping of the pointer logits).
    """

    def __init__(self, *, slot_dim: int, request_dim: int, embed_dim: int = 32, n_heads: int = 4,
                 n_layers: int = 1, ff_dim: int = 64, clip: float = 10.0) -> None:
        super().__init__()
        if embed_dim % n_heads:
            raise ValueError(f"embed_dim {embed_dim} is not divisible by n_heads {n_heads}")
        self.config = {"slot_dim": int(slot_dim), "request_dim": int(request_dim),
                           "embed_dim": int(embed_dim), "n_heads": int(n_heads), "n_layers": int(n_layers),
                           "ff_dim": int(ff_dim), "clip": float(clip)}
        self.slot_in = nn.Linear(slot_dim, embed_dim)
        self.request_in = nn.Linear(request_dim, embed_dim)
        layer = nn.TransformerEncoderLayer(embed_dim, n_heads, ff_dim, dropout=0.0,
                                           batch_first=True, norm_first=True)
        self.encoder = nn.TransformerEncoder(layer, n_layers, enable_nested_tensor=False)
        self.query = nn.Linear(embed_dim, embed_dim, bias=False)
        self.key = nn.Linear(embed_dim, embed_dim, bias=False)
        self.clip = float(clip)

    def forward(self, slot_features: torch.Tensor, request_features: torch.Tensor,
                action_mask: torch.Tensor) -> torch.Tensor:
        """``slot_features`` [B, k, F], ``request_features`` [B, F2], ``action_mask`` [B, k]
        -> masked logits [B, k]."""
        tokens = torch.cat([self.request_in(request_features).unsqueeze(1),
                            self.slot_in(slot_features)], dim=1)
        # Empty slots are hidden from attention; the request token is always visible.
        pad = torch.cat([torch.zeros_like(action_mask[:, :1]), ~action_mask], dim=1)
        h = self.encoder(tokens, src_key_padding_mask=pad)
        q = self.query(h[:, 0])
        keys = self.key(h[:, 1:])
        scores = torch.einsum("bd,bkd->bk", q, keys) / math.sqrt(keys.shape[-1])
        logits = self.clip * torch.tanh(scores)
        return logits.masked_fill(~action_mask, float("-inf"))

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
    ``ff_dim``, ``clip`` (tanh clipping of the pointer logits), ``members`` (default 1: one
    scorer; M > 1: M independently trained scorers of that shape whose logits are averaged, an
    ensemble that ships as one network; ``config`` records ``members`` only when M > 1, so
    single-scorer artifacts are unchanged); ``skip_channel`` c and ``skip_weight`` w (default:
    none): ``w * slot_features[..., c]`` is added to the (averaged) logits, a fixed blend with
    one input score (e.g. the learned predictor's expected log gap, LearnedFTP's score), also
    recorded only when set.
    """

    def __init__(self, *, slot_dim: int, request_dim: int, embed_dim: int = 32, n_heads: int = 4,
                 n_layers: int = 1, ff_dim: int = 64, clip: float = 10.0, members: int = 1,
                 skip_channel: int | None = None, skip_weight: float = 0.0) -> None:
        super().__init__()
        if embed_dim % n_heads:
            raise ValueError(f"embed_dim {embed_dim} is not divisible by n_heads {n_heads}")
        if int(members) < 1:
            raise ValueError(f"members {members} must be at least 1")
        self.config = {"slot_dim": int(slot_dim), "request_dim": int(request_dim),
                           "embed_dim": int(embed_dim), "n_heads": int(n_heads), "n_layers": int(n_layers),
                           "ff_dim": int(ff_dim), "clip": float(clip)}
        if skip_channel is not None and not 0 <= int(skip_channel) < int(slot_dim):
            raise ValueError(f"skip_channel {skip_channel} outside [0, {slot_dim})")
        single = dict(self.config)
        self.skip = None
        if skip_channel is not None:
            self.skip = (int(skip_channel), float(skip_weight))
            self.config.update(skip_channel=int(skip_channel), skip_weight=float(skip_weight))
        if int(members) > 1:
            self.config["members"] = int(members)
            self.members = nn.ModuleList(SlotAttentionPolicy(**single) for _ in range(int(members)))
            return
        self.members = None
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
        if self.members is not None:
            logits = torch.stack([m(slot_features, request_features, action_mask)
                                  for m in self.members]).masked_fill(~action_mask, 0.0).mean(0)
        else:
            logits = self._scores(slot_features, request_features, action_mask)
        if self.skip is not None:
            logits = logits + self.skip[1] * slot_features[..., self.skip[0]]
        return logits.masked_fill(~action_mask, float("-inf"))

    def _scores(self, slot_features, request_features, action_mask):
        """One scorer's clipped pointer logits [B, k] (illegal slots not yet masked)."""
        tokens = torch.cat([self.request_in(request_features).unsqueeze(1),
                            self.slot_in(slot_features)], dim=1)
        # Empty slots are hidden from attention; the request token is always visible.
        pad = torch.cat([torch.zeros_like(action_mask[:, :1]), ~action_mask], dim=1)
        h = self.encoder(tokens, src_key_padding_mask=pad)
        q = self.query(h[:, 0])
        keys = self.key(h[:, 1:])
        scores = torch.einsum("bd,bkd->bk", q, keys) / math.sqrt(keys.shape[-1])
        return self.clip * torch.tanh(scores)

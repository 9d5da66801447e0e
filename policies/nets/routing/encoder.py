"""The shared multi-head attention encoder (Kool et al. 2019): ``[B, N, H] -> [B, N, H]``."""
from __future__ import annotations

import torch
from torch import nn

__all__ = ["NORMS", "MHAEncoder", "MHALayer", "Norm"]

NORMS = ("batch", "instance", "layer")


class Norm(nn.Module):
    """Batch, instance or layer normalisation over the feature dim of ``[B, N, H]``."""

    def __init__(self, *, dim: int, kind: str = "batch") -> None:
        super().__init__()
        if kind not in NORMS:
            raise ValueError(f"Norm: kind must be one of {NORMS}, got {kind!r}")
        self.kind = kind
        if kind == "batch":
            self.norm: nn.Module = nn.BatchNorm1d(dim, affine=True)
        elif kind == "instance":
            self.norm = nn.InstanceNorm1d(dim, affine=True)
        else:
            self.norm = nn.LayerNorm(dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.kind == "batch":
            return self.norm(x.reshape(-1, x.shape[-1])).reshape(x.shape)
        if self.kind == "instance":  # normalise each feature over the nodes of one instance
            return self.norm(x.transpose(1, 2)).transpose(1, 2)
        return self.norm(x)


class MHALayer(nn.Module):
    """Self-attention + skip + norm, then feed-forward + skip + norm."""

    def __init__(self, *, dim: int, n_heads: int, ff_dim: int, norm: str) -> None:
        super().__init__()
        if dim % n_heads:
            raise ValueError(f"MHALayer: dim {dim} must be divisible by n_heads {n_heads}")
        self.attn = nn.MultiheadAttention(dim, n_heads, batch_first=True)
        self.norm1, self.norm2 = Norm(dim=dim, kind=norm), Norm(dim=dim, kind=norm)
        self.ff = nn.Sequential(nn.Linear(dim, ff_dim), nn.ReLU(), nn.Linear(ff_dim, dim))

    def forward(self, x: torch.Tensor, key_padding_mask: torch.Tensor | None = None) -> torch.Tensor:
        h = self.norm1(x + self.attn(x, x, x, key_padding_mask=key_padding_mask,
                                     need_weights=False)[0])
        return self.norm2(h + self.ff(h))


class MHAEncoder(nn.Module):
    """``n_layers`` :class:`MHALayer` s over node embeddings ``[B, N, H]``."""

    def __init__(self, *, dim: int = 128, n_heads: int = 8, n_layers: int = 3,
                 ff_dim: int = 512, norm: str = "batch") -> None:
        super().__init__()
        if n_layers < 0:
            raise ValueError(f"MHAEncoder: n_layers must be >= 0, got {n_layers}")
        self.layers = nn.ModuleList(MHALayer(dim=dim, n_heads=n_heads, ff_dim=ff_dim, norm=norm)
                                    for _ in range(n_layers))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for layer in self.layers:
            x = layer(x)
        return x

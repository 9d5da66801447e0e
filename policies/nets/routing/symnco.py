"""SymNCO (Kim, Park & Park 2022): AM trained on symmetric copies with an invariance loss.

Two extra terms over REINFORCE: the *problem-symmetric* loss, REINFORCE with the baseline shared
across the x8 dihedral copies and the starts (:func:`~.pomo.shared_baseline_loss` on ``[B, K]``),
and the *invariance* loss on projected node embeddings of the copies. The latter must pull the
copies together: it is minus their cosine similarity (rl4co once added ``+cos``, pushing them
apart; :func:`invariance_loss` is the corrected sign, tested).
"""
from __future__ import annotations

import torch
from tensordict import TensorDictBase
from torch import nn

from heurist.policies.nets.routing.attention_model import AttentionModel

__all__ = ["SymNCO", "invariance_loss"]


class SymNCO(AttentionModel):
    """AM plus a projection head ``g`` (2-layer MLP, SymNCO's) for the invariance loss."""

    def __init__(self, *, dim: int = 128, n_heads: int = 8, n_layers: int = 3, ff_dim: int = 512,
                 norm: str = "batch", clip: float = 10.0, graph_context: bool = True,
                 dynamic: bool = True) -> None:
        super().__init__(dim=dim, n_heads=n_heads, n_layers=n_layers, ff_dim=ff_dim, norm=norm,
                         clip=clip, graph_context=graph_context, dynamic=dynamic)
        self.projection = nn.Sequential(nn.Linear(dim, dim), nn.ReLU(), nn.Linear(dim, dim))

    def project(self, td: TensorDictBase) -> torch.Tensor:
        """Projected node embeddings ``[B, N + 1, H]``."""
        return self.projection(self.embed(td))


def invariance_loss(proj: torch.Tensor) -> torch.Tensor:
    """``proj`` ``[K, B, ...,  H]``: projected embeddings of K symmetric copies (copy 0 the
    original) -> scalar ``-mean cos(proj[0], proj[k])`` over k >= 1: minimising it makes the
    copies' embeddings agree (the minimum, -1, is reached when they are parallel)."""
    if proj.ndim < 3 or proj.shape[0] < 2:
        raise ValueError(f"invariance_loss: proj must be [K >= 2, B, ..., H], got {list(proj.shape)}")
    return -nn.functional.cosine_similarity(proj[:1], proj[1:], dim=-1).mean()

"""POMO (Kwon et al. 2020): the AM backbone, decoded from every start node at once.

The network is AM with instance normalisation and no graph embedding in the query (POMO's
choices); what makes it POMO is how it is run: one rollout per feasible first client
(:func:`start_actions`, forced by the decoding unit's ``multistart`` strategy), trained with the
shared baseline (:func:`shared_baseline_loss`, the mean return over the starts), and decoded at
inference with the x8 dihedral copies (:mod:`.symmetry`).
"""
from __future__ import annotations

import torch
from tensordict import TensorDictBase

from heurist.policies.nets.routing.attention_model import AttentionModel

__all__ = ["POMO", "shared_baseline_loss", "start_actions"]


class POMO(AttentionModel):
    """AM with ``norm="instance"`` and ``graph_context=False`` by default."""

    def __init__(self, *, dim: int = 128, n_heads: int = 8, n_layers: int = 6, ff_dim: int = 512,
                 norm: str = "instance", clip: float = 10.0, graph_context: bool = False,
                 dynamic: bool = True) -> None:
        super().__init__(dim=dim, n_heads=n_heads, n_layers=n_layers, ff_dim=ff_dim, norm=norm,
                         clip=clip, graph_context=graph_context, dynamic=dynamic)


def start_actions(td: TensorDictBase) -> torch.Tensor:
    """The legal first moves of the first observation: bool ``[B, N + 1]`` (single agent) or
    ``[B, N + 1]`` for vehicle 0 of the parallel env; the depot is never a start."""
    mask = td["action_mask"]
    first = mask if mask.ndim == 2 else mask[:, 0]
    return first & (torch.arange(first.shape[-1], device=first.device) > 0)


def shared_baseline_loss(value: torch.Tensor, logp: torch.Tensor) -> torch.Tensor:
    """REINFORCE with POMO's shared baseline: ``value`` and ``logp`` ``[B, K]`` (K rollouts of one
    instance: starts, samples or symmetric copies; ``value`` = return, higher is better) ->
    scalar loss ``-mean((value - mean_K value) * logp)``."""
    if value.shape != logp.shape or value.ndim != 2:
        raise ValueError(f"shared_baseline_loss: value and logp must both be [B, K], got "
                         f"{list(value.shape)} and {list(logp.shape)}")
    adv = value - value.mean(1, keepdim=True)
    return -(adv.detach() * logp).mean()

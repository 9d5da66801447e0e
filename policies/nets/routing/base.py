"""The interface every routing network offers the decoding unit (:mod:`heurist.policies.decoding`).

A policy is run along an episode as::

    state = policy.init(td)                 # once, after reset: encoder, cached keys
    logits, state = policy.step(td, state)  # every step: masked logits, next state

``state`` is a TensorDict with batch ``[B]`` (so beam search and multi-start can reindex it as
``state[idx]``). ``logits`` are ``[B, N + 1]`` for single-agent policies (``PVRPSequential``) and
``[B, M, N + 1]`` for multi-agent ones (``PVRP``, ``multi_agent = True``), with ``-inf`` on every
action the observation's ``action_mask`` forbids. The next state never depends on the chosen
action except through the next observation, so a step can be replayed from the log alone.
"""
from __future__ import annotations

import torch
from tensordict import TensorDict, TensorDictBase
from torch import nn

__all__ = ["RoutingPolicy"]


class RoutingPolicy(nn.Module):
    """Base class: subclasses implement :meth:`init` and :meth:`step`."""

    #: True when the logits are [B, M, N + 1] (one pointer per vehicle)
    multi_agent: bool = False

    def init(self, td: TensorDictBase) -> TensorDict:
        """The per-episode state ``[B]`` (encoder output and cached keys)."""
        raise NotImplementedError

    def step(self, td: TensorDictBase, state: TensorDict) -> tuple[torch.Tensor, TensorDict]:
        """Masked logits for the observation ``td`` [B] and the next state."""
        raise NotImplementedError

    def priority(self, logits: torch.Tensor, action: torch.Tensor) -> torch.Tensor:
        """The parallel env's ``priority`` [B, M] for ``action`` [B, M] chosen from ``logits``
        [B, M, N + 1] (multi-agent policies): each vehicle's log-probability of its choice."""
        return logits.log_softmax(-1).gather(-1, action.unsqueeze(-1)).squeeze(-1).detach().float()

"""MuZero mode: the search's recurrent function is a learned model (``MuZeroNet``), and the
K-step unroll loss that trains it.

``LearnedModel`` plugs into ``heurist.agents.search`` the way ``TrueSimulator`` does: ``root(td)``
gives the B roots (the representation of the observation, the prediction's logits and value,
and the env's legal-action mask at the root only), and ``__call__`` is the ``recurrent_fn``: one
dynamics + prediction call for the B nodes. Node embeddings are latent tensors ``[B, latent]``,
kept by the search's ``ArrayStore``. Interior nodes get no mask: the model learns its own.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import nn

from heurist.agents.search import RecurrentOutput, RootOutput
from heurist.policies.nets.muzero import MuZeroNet, flat_observation, scalar_to_support

__all__ = ["LearnedModel", "UnrollBatch", "count_parameters", "unroll_loss"]


class LearnedModel:
    """The ``recurrent_fn`` of MuZero-mode search with ``net`` (a ``MuZeroNet``), in eval mode
    and without gradients. ``n_calls`` counts network calls (root + recurrent)."""

    def __init__(self, net: MuZeroNet) -> None:
        self.net = net
        self.n_calls = 0

    @torch.no_grad()
    def root(self, td: Any) -> RootOutput:
        """The roots at observation ``td`` [B]; illegal root actions from ``td['action_mask']``."""
        self.net.eval()
        s = self.net.represent(flat_observation(td))
        logits, v = self.net.predict(s)
        self.n_calls += 1
        done = td["done"].reshape(-1).cpu().numpy()
        return RootOutput(prior_logits=logits.double().numpy(),
                          value=np.where(done, 0.0, self.net.to_scalar(v).double().numpy()),
                          embedding=s, invalid_actions=~td["action_mask"].cpu().numpy())

    @torch.no_grad()
    def __call__(self, params: Any, rng: np.random.Generator, action: np.ndarray,
                 embedding: torch.Tensor) -> tuple[RecurrentOutput, torch.Tensor]:
        s, r = self.net.dynamics(embedding, torch.from_numpy(action))
        logits, v = self.net.predict(s)
        self.n_calls += 1
        b = action.shape[0]
        # episodic with discount 1: the model's value after the end is trained to 0
        return RecurrentOutput(reward=self.net.to_scalar(r).double().numpy(),
                               discount=np.ones(b), prior_logits=logits.double().numpy(),
                               value=self.net.to_scalar(v).double().numpy()), s

    def prior(self, td: Any) -> tuple[np.ndarray, np.ndarray]:
        """AlphaZero mode's ``PriorFn``: (logits [B, A], value [B]) from the observation."""
        with torch.no_grad():
            self.net.eval()
            logits, v = self.net(flat_observation(td))
        return logits.double().numpy(), v.double().numpy()


@dataclass
class UnrollBatch:
    """A replay batch of Bs positions unrolled K steps.

    obs ``[Bs, D]`` (the first position only), actions ``[Bs, K]``, value targets ``[Bs, K+1]``,
    reward targets ``[Bs, K]`` (the reward of action k), policy targets ``[Bs, K+1, A]``,
    policy_mask ``[Bs, K+1]`` (0 past the episode's end: no policy target there), weights
    ``[Bs]`` (importance-sampling weights of the prioritised replay)."""

    obs: torch.Tensor
    actions: torch.Tensor
    values: torch.Tensor
    rewards: torch.Tensor
    policies: torch.Tensor
    policy_mask: torch.Tensor
    weights: torch.Tensor


def _scale_grad(x: torch.Tensor, scale: float) -> torch.Tensor:
    """Identity forward; gradient times ``scale`` (MuZero halves it at each dynamics step)."""
    return x * scale + x.detach() * (1 - scale)


def unroll_loss(net: MuZeroNet, batch: UnrollBatch, *, value_coef: float = 0.25
                ) -> tuple[torch.Tensor, dict[str, float], torch.Tensor]:
    """MuZero's K-step unroll loss (cross-entropies on the categorical value and reward
    supports and on the policy; the K recurrent steps are weighted 1/K and the latent's gradient
    is halved at each step). Returns (the scalar loss, its parts, the root value error
    ``|v_0 - z_0|`` ``[Bs]`` for the replay's new priorities)."""
    K = batch.actions.shape[1]
    S, scale = net.support_size, net.value_scale
    s = net.represent(batch.obs)
    v_t = scalar_to_support(batch.values, S, scale=scale)      # [Bs, K+1, 2S+1]
    r_t = scalar_to_support(batch.rewards, S, scale=scale)     # [Bs, K, 2S+1]
    parts = {"value": 0.0, "reward": 0.0, "policy": 0.0}
    total = torch.zeros(batch.obs.shape[0])
    err = torch.zeros(0)
    for k in range(K + 1):
        if k > 0:
            s, r_logits = net.dynamics(s, batch.actions[:, k - 1])
            s = _scale_grad(s, 0.5)
            lr = -(r_t[:, k - 1] * torch.log_softmax(r_logits, -1)).sum(-1)
        else:
            lr = torch.zeros(())
        p_logits, v_logits = net.predict(s)
        lv = -(v_t[:, k] * torch.log_softmax(v_logits, -1)).sum(-1)
        lp = -(batch.policies[:, k] * torch.log_softmax(p_logits, -1)).sum(-1)
        lp = lp * batch.policy_mask[:, k]
        w = 1.0 if k == 0 else 1.0 / K
        total = total + w * (value_coef * lv + lr + lp)
        for name, x in (("value", lv), ("reward", lr), ("policy", lp)):
            parts[name] += float(x.detach().mean()) * w
        if k == 0:
            err = (net.to_scalar(v_logits.detach()) - batch.values[:, 0]).abs()
    loss = (total * batch.weights).mean()
    return loss, parts, err


def count_parameters(net: nn.Module) -> int:
    """Number of trainable parameters."""
    return sum(p.numel() for p in net.parameters() if p.requires_grad)

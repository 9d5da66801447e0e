"""Imitation of Belady (DAgger-style): cross-entropy to the set of Belady-optimal slots."""
from __future__ import annotations

import torch
from torch import nn

from heurist.agents.rollout import Rollout

__all__ = ["imitation_loss", "imitation_update"]


def imitation_loss(logits: torch.Tensor, teacher: torch.Tensor) -> torch.Tensor:
    """``-log P(an optimal slot)`` averaged over decisions: ``logits`` [N, k], ``teacher``
    bool [N, k] (several optimal slots share the probability mass)."""
    logp = torch.log_softmax(logits, -1)
    return -torch.logsumexp(logp.masked_fill(~teacher, float("-inf")), -1).mean()


def imitation_update(net: nn.Module, optimizer: torch.optim.Optimizer, rollout: Rollout, *,
                     batch_size: int, epochs: int, generator: torch.Generator,
                     max_grad_norm: float = 1.0) -> float:
    """``epochs`` passes of minibatch cross-entropy over the rollout's decisions; returns the
    mean loss of the last pass."""
    if rollout.teacher is None:
        raise ValueError("imitation needs a rollout recorded with teacher=True")
    n = rollout.actions.shape[0]
    last = float("nan")
    for _ in range(int(epochs)):
        perm = torch.randperm(n, generator=generator)
        total = 0.0
        for start in range(0, n, int(batch_size)):
            idx = perm[start:start + int(batch_size)]
            logits = net(rollout.slot_features[idx], rollout.request_features[idx],
                         rollout.action_mask[idx])
            loss = imitation_loss(logits, rollout.teacher[idx])
            optimizer.zero_grad()
            loss.backward()
            nn.utils.clip_grad_norm_(net.parameters(), max_grad_norm)
            optimizer.step()
            total += float(loss.detach()) * idx.numel()
        last = total / max(n, 1)
    return last

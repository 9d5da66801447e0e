"""REINFORCE with a shared (POMO-style) baseline over several sampled rollouts per instance."""
from __future__ import annotations

import torch
from torch import nn

from heurist.agents.rollout import Rollout

__all__ = ["reinforce_update", "shared_baseline_advantage"]


def shared_baseline_advantage(returns: torch.Tensor, n_samples: int) -> torch.Tensor:
    """Advantages [B * n] of returns [B * n] (rows ``i*n .. i*n+n-1`` are the samples of
    instance i): return minus the mean of that instance's samples, scaled by the batch std."""
    r = returns.reshape(-1, int(n_samples)).to(torch.float64)
    adv = r - r.mean(1, keepdim=True)
    std = adv.std()
    if torch.isfinite(std) and std > 0:
        adv = adv / std
    return adv.reshape(-1).to(torch.float32)


def reinforce_update(net: nn.Module, optimizer: torch.optim.Optimizer, rollout: Rollout,
                     advantage: torch.Tensor, *, chunk: int = 4096,
                     max_grad_norm: float = 1.0) -> float:
    """One policy-gradient step: ``-mean_rows A_row * sum_t log pi(a_t | s_t)``.

    The rollout was played without gradients; its decisions are re-scored here in chunks, so the
    memory does not grow with the episode length. Returns the loss value."""
    n_rows = advantage.shape[0]
    weight = advantage[rollout.row]
    optimizer.zero_grad()
    total = 0.0
    n = rollout.actions.shape[0]
    for start in range(0, n, int(chunk)):
        sl = slice(start, start + int(chunk))
        logits = net(rollout.slot_features[sl], rollout.request_features[sl],
                     rollout.action_mask[sl])
        logp = torch.log_softmax(logits, -1).gather(-1, rollout.actions[sl, None]).squeeze(-1)
        loss = -(weight[sl] * logp).sum() / n_rows
        loss.backward()
        total += float(loss.detach())
    nn.utils.clip_grad_norm_(net.parameters(), max_grad_norm)
    optimizer.step()
    return total

"""Turns a slot-scoring network into a td-policy (greedy or sampled actions)."""
from __future__ import annotations

import torch
from tensordict import TensorDictBase
from torch import nn

__all__ = ["NetPolicy", "logits_of"]


def logits_of(net: nn.Module, td: TensorDictBase) -> torch.Tensor:
    """Masked logits [B, k] of ``net`` on the observation ``td`` [B]."""
    return net(td["slot_features"], td["request_features"], td["action_mask"])


class NetPolicy:
    """``policy(td) -> action int64 [B]``: argmax of the logits, or a sample when ``sample``
    (drawn from ``generator`` so the same seed gives the same actions)."""

    def __init__(self, net: nn.Module, *, sample: bool = False,
                 generator: torch.Generator | None = None) -> None:
        self.net = net
        self.sample = bool(sample)
        self.generator = generator

    @torch.no_grad()
    def __call__(self, td: TensorDictBase) -> torch.Tensor:
        logits = logits_of(self.net, td)
        if not self.sample:
            return logits.argmax(-1)
        probs = torch.softmax(logits.to(torch.float64), -1)
        return torch.multinomial(probs, 1, generator=self.generator).squeeze(-1)

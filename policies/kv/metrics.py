"""Fidelity of a compressed cache against the full cache.

Shapes: ``C`` teacher-forced positions, ``V`` vocabulary, ``n`` greedy steps.
"""
from __future__ import annotations

import math

import torch

__all__ = ["agreement", "kl_divergence", "perplexity"]


def kl_divergence(full_logits: torch.Tensor, logits: torch.Tensor) -> float:
    """Mean over positions of KL(full || compressed) in nats; logits ``[C, V]`` each."""
    if full_logits.shape != logits.shape:
        raise ValueError(f"logit shapes differ: {tuple(full_logits.shape)} vs {tuple(logits.shape)}")
    lp = torch.log_softmax(full_logits.double(), dim=-1)
    lq = torch.log_softmax(logits.double(), dim=-1)
    return float((lp.exp() * (lp - lq)).sum(-1).mean())


def perplexity(logits: torch.Tensor, targets: torch.Tensor) -> float:
    """``exp`` of the mean negative log-likelihood of ``targets [C]`` under ``logits [C, V]``."""
    lp = torch.log_softmax(logits.double(), dim=-1)
    nll = -lp.gather(1, targets[:, None].long()).mean()
    return float(math.exp(nll))


def agreement(reference: torch.Tensor, tokens: torch.Tensor) -> float:
    """Fraction of positions where two greedy token sequences ``[n]`` agree."""
    if reference.shape != tokens.shape or reference.numel() == 0:
        raise ValueError("greedy sequences must be non-empty and equally long")
    return float((reference == tokens).double().mean())

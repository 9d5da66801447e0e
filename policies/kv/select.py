"""Choosing the kept set from scores, separate from any policy: the policy scores, these choose.

Higher score = keep. Ties are broken by ``torch.topk``, the same call kvpress makes, so a policy
whose scores equal kvpress's keeps kvpress's set.
"""
from __future__ import annotations

import torch

__all__ = ["complement", "keep_top", "n_kept", "victims"]


def n_kept(n_tokens: int, budget: float) -> int:
    """Entries kept per head out of ``n_tokens`` at ``budget`` (fraction kept, in (0, 1]).

    Mirrors kvpress's ``compute_n_kept(T, 1 - budget)``: ``max(1, int(T * budget))``.
    """
    if not 0.0 < budget <= 1.0:
        raise ValueError(f"budget must be a fraction in (0, 1], got {budget}")
    return max(1, int(n_tokens * (1.0 - (1.0 - budget))))


def keep_top(scores: torch.Tensor, k: int) -> torch.Tensor:
    """``[Hkv, T]`` scores -> ``[Hkv, k]`` kept indices, sorted ascending (cache order = position order)."""
    k = min(k, scores.shape[-1])
    idx = scores.topk(k, dim=-1).indices
    return idx.sort(dim=-1).values


def victims(scores: torch.Tensor, n_evict: int) -> torch.Tensor:
    """``[Hkv, Tk]`` scores -> ``[Hkv, n_evict]`` indices of the lowest-scored entries."""
    return scores.topk(n_evict, dim=-1, largest=False).indices


def complement(indices: torch.Tensor, size: int) -> torch.Tensor:
    """Per row, the sorted indices in ``0..size-1`` NOT in ``indices`` (``[Hkv, m] -> [Hkv, size-m]``)."""
    mask = torch.ones(indices.shape[0], size, dtype=torch.bool, device=indices.device)
    mask.scatter_(1, indices, False)
    return mask.nonzero()[:, 1].reshape(indices.shape[0], size - indices.shape[1])

"""What an eviction policy may see: one layer's prefill observation and one decode step.

Shapes: ``Hq`` query heads (9 on SmolLM2), ``Hkv`` KV heads (3), ``g = Hq // Hkv`` query heads per
KV head (GQA group of 3), ``T`` context tokens, ``C`` continuation tokens, ``Tk`` tokens cached now,
``D`` head dim (64).
"""
from __future__ import annotations

from dataclasses import dataclass

import torch

__all__ = ["DecodeStep", "LayerObservation", "group_mean"]


def group_mean(x: torch.Tensor, n_kv_heads: int) -> torch.Tensor:
    """Averages query-head scores over each GQA group: ``[Hq, ...] -> [Hkv, ...]``.

    Query heads ``k*g .. k*g+g-1`` share KV head ``k`` (transformers' ``repeat_kv`` order), so a
    KV head's kept set is judged by the mean over the query heads that read it, as kvpress does.
    """
    hq = x.shape[0]
    if hq % n_kv_heads:
        raise ValueError(f"{hq} query heads do not split into {n_kv_heads} KV-head groups")
    return x.reshape(n_kv_heads, hq // n_kv_heads, *x.shape[1:]).mean(1)


@dataclass(frozen=True)
class LayerObservation:
    """One layer after the prefill of ``T`` context tokens.

    attn: ``[Hq, T, T]`` causal softmax attention of the context queries (eager attention).
    keys: ``[Hkv, T, D]`` cached keys (after RoPE; RoPE keeps each key's norm).
    layer: layer index (seeds the random policy per layer).
    future: ``[Hq, C, T]`` attention the full-cache continuation pays to the context; only the
        offline oracle reads it.
    values: ``[Hkv, T, D]`` cached values (``None`` where a caller does not pass them; the learned
        scorer's value features need them).
    """

    attn: torch.Tensor | None
    keys: torch.Tensor
    layer: int
    future: torch.Tensor | None = None
    values: torch.Tensor | None = None

    @property
    def n_tokens(self) -> int:
        return int(self.keys.shape[1])

    @property
    def n_kv_heads(self) -> int:
        return int(self.keys.shape[0])


@dataclass(frozen=True)
class DecodeStep:
    """One layer at one decode step, after the new token was appended and attended.

    attn: ``[Hq, Tk]`` the new query's attention over the cache (itself included, last column).
    keys: ``[Hkv, Tk, D]`` the cached keys now.
    positions: ``[Hkv, Tk]`` real token positions of the cached entries (the new one last).
    step: index of this step in the continuation (0-based).
    capacity: how many entries per head the cache keeps after eviction.
    future: ``[Hq, P]`` attention mass that queries AFTER this step pay to each real position
        ``0..P-1`` (offline oracle only; ``None`` when unknown, e.g. past the teacher-forced text).
    values: ``[Hkv, Tk, D]`` the cached values now (``None`` where a caller does not pass them).
    """

    attn: torch.Tensor
    keys: torch.Tensor
    positions: torch.Tensor
    layer: int
    step: int
    capacity: int
    future: torch.Tensor | None = None
    values: torch.Tensor | None = None

    @property
    def n_kv_heads(self) -> int:
        return int(self.keys.shape[0])

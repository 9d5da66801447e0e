"""The fixed interface of a KV-cache eviction policy (libCacheSim style: one policy, one unit).

A policy only SCORES cached entries per (layer, KV head) from what it may observe; choosing the
kept set (:mod:`heurist.policies.kv.select`) and evicting it (:mod:`heurist.policies.kv.cache`) are
separate. Two forms:

* prefill: :meth:`KVPolicy.prefill_scores` ``-> [Hkv, T]`` on a :class:`LayerObservation`; the
  top-``n_kept`` per head are kept (:meth:`KVPolicy.select`).
* decode: per layer the policy keeps running statistics (a dict of tensors whose LAST dim is the
  cache axis ``Tk``; the cache appends a zero column for each new token and gathers the columns on
  eviction), updates them in :meth:`KVPolicy.observe` and scores in :meth:`KVPolicy.decode_scores`.
"""
from __future__ import annotations

from typing import ClassVar

import torch

from heurist.policies.kv.observation import DecodeStep, LayerObservation
from heurist.policies.kv.registry import PARITY_MODES
from heurist.policies.kv.select import keep_top

__all__ = ["KVPolicy", "recency"]


def recency(positions: torch.Tensor) -> torch.Tensor:
    """Float score that grows with position (``[Hkv, Tk] -> [Hkv, Tk]``): newer = higher."""
    return positions.to(torch.float64)


class KVPolicy:
    """Base eviction policy. Subclasses set ``name`` and override the scoring methods."""

    name: ClassVar[str] = "base"
    #: False only for the full cache, which never evicts.
    evicts: ClassVar[bool] = True
    #: True for policies that read the future (offline oracle): not deployable.
    offline: ClassVar[bool] = False

    def __init__(self, *, parity: str = "heurist") -> None:
        if parity not in PARITY_MODES:
            raise ValueError(f"parity must be one of {PARITY_MODES}, got {parity!r}")
        self.parity = parity

    def __repr__(self) -> str:
        return f"{type(self).__name__}(parity={self.parity!r})"

    # ---- prefill form -------------------------------------------------------------------
    def prefill_scores(self, obs: LayerObservation, n_kept: int) -> torch.Tensor:
        """``[Hkv, T]`` keep-scores of the context entries (higher = keep)."""
        raise NotImplementedError

    def select(self, obs: LayerObservation, n_kept: int) -> torch.Tensor:
        """``[Hkv, n_kept]`` sorted indices of the kept context entries."""
        if not self.evicts:
            return torch.arange(obs.n_tokens).expand(obs.n_kv_heads, -1).clone()
        return keep_top(self.prefill_scores(obs, n_kept), n_kept)

    # ---- decode form --------------------------------------------------------------------
    def prefill_stats(self, obs: LayerObservation) -> dict[str, torch.Tensor]:
        """Decode statistics for ALL context entries (last dim ``T``); the cache gathers the kept."""
        return {}

    def observe(self, stats: dict[str, torch.Tensor], step: DecodeStep) -> None:
        """Updates ``stats`` in place with the new query's attention (new column already appended)."""

    def decode_scores(self, stats: dict[str, torch.Tensor], step: DecodeStep) -> torch.Tensor:
        """``[Hkv, Tk]`` keep-scores of the cached entries at this step."""
        raise NotImplementedError

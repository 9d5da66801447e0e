"""StreamingLLM (Xiao et al. 2023): ``n_sink`` attention-sink tokens plus the most recent window.

Same kept set as kvpress's ``StreamingLLMPress`` (``n_sink=4``): the first ``n_sink`` positions
and the last ``n_kept - n_sink``. Positions are not re-rotated (kvpress needs KeyRerotationPress
for that); the cache keeps real RoPE positions.
"""
from __future__ import annotations

import torch

from heurist.policies.kv.base import KVPolicy, recency

__all__ = ["StreamingLLM"]


class StreamingLLM(KVPolicy):
    name = "streaming"

    def __init__(self, *, n_sink: int = 4, parity: str = "heurist") -> None:
        super().__init__(parity=parity)
        if n_sink < 0:
            raise ValueError(f"n_sink must be >= 0, got {n_sink}")
        self.n_sink = n_sink

    def _score(self, positions: torch.Tensor) -> torch.Tensor:
        s = recency(positions)
        # Sinks outrank every recent token; among sinks the earliest rank highest.
        return torch.where(positions < self.n_sink, 1e18 - s, s)

    def prefill_scores(self, obs, n_kept):
        if self.parity == "kvpress":  # exactly StreamingLLMPress.score
            t = obs.n_tokens
            n_pruned = t - n_kept
            scores = torch.ones(obs.n_kv_heads, t, dtype=obs.keys.dtype)
            scores[:, self.n_sink: self.n_sink + n_pruned] = 0
            return scores
        return self._score(torch.arange(obs.n_tokens)).expand(obs.n_kv_heads, -1).clone()

    def decode_scores(self, stats, step):
        return self._score(step.positions)

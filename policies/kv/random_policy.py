"""Random eviction, seeded per (seed, layer[, step]).

Unlike kvpress's seeded ``RandomPress`` -- which re-seeds the same generator on every layer, so
all 30 layers keep the SAME positions -- each layer draws its own set here. One seed is one
sample: report random over several seeds.
"""
from __future__ import annotations

import torch

from heurist.policies.kv.base import KVPolicy

__all__ = ["RandomPolicy"]


class RandomPolicy(KVPolicy):
    name = "random"

    def __init__(self, *, seed: int = 0, parity: str = "heurist") -> None:
        super().__init__(parity=parity)
        self.seed = int(seed)

    def __repr__(self) -> str:
        return f"RandomPolicy(seed={self.seed})"

    def _gen(self, *key: int) -> torch.Generator:
        g = torch.Generator()
        mixed = self.seed
        for k in key:  # a fixed integer mix so (seed, layer, step) never collide for small values
            mixed = mixed * 1_000_003 + k + 1
        return g.manual_seed(mixed % (2**63))

    def prefill_scores(self, obs, n_kept):
        if self.parity == "kvpress":  # RandomPress: one generator, re-seeded identically per layer
            g = torch.Generator().manual_seed(self.seed)
            return torch.rand(1, obs.n_kv_heads, obs.n_tokens, generator=g, dtype=obs.keys.dtype)[0]
        return torch.rand(obs.n_kv_heads, obs.n_tokens, generator=self._gen(obs.layer))

    def decode_scores(self, stats, step):
        return torch.rand(step.positions.shape, generator=self._gen(step.layer, step.step + 1))

"""Key norm (Devoto et al. 2024, kvpress ``KnormPress``): keep the entries with the LOWEST key L2
norm -- kvpress scores ``-||k||``, a low-norm key draws high attention. RoPE rotates pairs of
dimensions, so the norm is the same before and after it."""
from __future__ import annotations

import torch

from heurist.policies.kv.base import KVPolicy

__all__ = ["KeyNorm"]


def _neg_norm(keys: torch.Tensor) -> torch.Tensor:
    dtype = torch.promote_types(keys.dtype, torch.float32)  # kvpress's score dtype
    return -torch.linalg.vector_norm(keys, dim=-1, dtype=dtype)


class KeyNorm(KVPolicy):
    name = "knorm"

    def prefill_scores(self, obs, n_kept):
        return _neg_norm(obs.keys.unsqueeze(0))[0]

    def decode_scores(self, stats, step):
        return _neg_norm(step.keys)

"""TOVA (Oren et al. 2024): evict the entry the CURRENT (newest) query attends to least.

kvpress's ``TOVAPress`` (and the TOVA paper) averages the last query's attention over ALL query
heads of a layer, so the 3 KV heads keep one shared set; the newest token is always kept.
Default here: the mean over each KV head's own GQA group (per-head sets, like the other
policies). ``parity="kvpress"`` is kvpress's layer-wide definition, op for op.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

from heurist.policies.kv.base import KVPolicy
from heurist.policies.kv.observation import group_mean

__all__ = ["TOVA"]


class TOVA(KVPolicy):
    name = "tova"

    def _row_scores(self, row: torch.Tensor, n_kv_heads: int) -> torch.Tensor:
        """``[Hq, Tk]`` newest query's attention (self last) -> ``[Hkv, Tk]``, newest kept."""
        a = row[None, :, None, :-1]  # [1, Hq, 1, Tk-1], kvpress's layout
        if self.parity == "kvpress":
            scores = a.mean(1).repeat(1, n_kv_heads, 1)  # [1, Hkv, Tk-1]
        else:
            scores = group_mean(a[0, :, 0], n_kv_heads)[None]
        return F.pad(scores, (0, 1), value=scores.max().item() + 1)[0]

    def prefill_scores(self, obs, n_kept):
        return self._row_scores(obs.attn[:, -1, :], obs.n_kv_heads)

    def decode_scores(self, stats, step):
        return self._row_scores(step.attn, step.n_kv_heads)

"""The KVCache env's internal state: what the step code needs, kept apart from the observation.

The observation TensorDict (``env._observe``) is computed from this state each step; the agent
never sees it directly. Shapes: ``B`` rows, ``H`` KV heads sharing a budget (1 in head scope),
``U`` units per row (padded), ``S`` cache slots.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch

__all__ = ["KVState"]


@dataclass
class KVState:
    """Per-row episode state of :class:`~heurist.envs.kv.env.KVCacheEnv` (batch ``[B]``).

    Instance-derived (fixed after reset):
        Aq: float64 [B, H, U, U] unit attention (keys summed, queries averaged per unit).
        col_p: float64 [B, H, U] attention each unit received from all prompt queries
            (``compress`` prefill; zeros otherwise).
        win_p: float64 [B, H, U] the same from the prompt's last ``window`` query units.
        knu: float64 [B, H, U] mean key norm of each unit.
        n_units: int64 [B] real units of each row.
        budget: int64 [B] cache capacity in entries (``H x`` the per-head budget in units).
        p_units: int64 [B] prompt units that run in full (0 under ``evict`` prefill).

    Evolving:
        slot: int64 [B, S] unit cached in each slot, -1 when empty.
        head: int64 [B, S] KV head of each slot's entry.
        acc: float64 [B, S] attention each cached entry received so far (H2O statistic).
        win: float64 [B, S] attention received over the last ``window`` query units (summed).
        v: int64 [B] newest unit; h: int64 [B] head of the newest entry.
        done: bool [B] episode over.
    """

    Aq: torch.Tensor
    col_p: torch.Tensor
    win_p: torch.Tensor
    knu: torch.Tensor
    n_units: torch.Tensor
    budget: torch.Tensor
    p_units: torch.Tensor
    slot: torch.Tensor
    head: torch.Tensor
    acc: torch.Tensor
    win: torch.Tensor
    v: torch.Tensor
    h: torch.Tensor
    done: torch.Tensor

"""The PVRP envs' internal state: what the step code needs, kept apart from the observation.

The observation TensorDict (``PVRPEnv._observe``) is built from this state each step; the agent
never sees ``pref_gain``, ``avail``, ``any_client`` or ``static_np``. Shapes: ``B`` rows, ``N``
clients (node 0 is the depot, so node arrays have ``N + 1`` columns), ``M`` vehicles.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch

__all__ = ["PVRPState"]


@dataclass
class PVRPState:
    """Per-row episode state of :class:`~heurist.envs.pvrp.env.PVRPEnv` and its sequential
    variant (float32 unless said).

    Instance-derived (fixed after reset): ``locs`` [B, N + 1, 2] depot first; ``demand``
    [B, N + 1] depot 0; ``capacity`` [B, M] floor of the instance capacity (demands are
    integers); ``speed`` [B, M]; ``preference`` [B, M, N] as observed; ``pref_gain``
    [B, M, N + 1] ``w_pref * preference``, depot column 0 (all 0 for ZC); ``allowed`` [B, M, N]
    bool.

    Evolving: ``pos`` [B, M] int64 node of each vehicle; ``load`` [B, M] capacity left on the
    current trip; ``time`` [B, M] travel time so far; ``served`` [B, N + 1] bool (depot column
    always False); ``avail`` [B, M, N + 1] bool unserved and allowed (updated in place);
    ``mask`` [B, M, N + 1] bool legal moves now; ``any_client`` [B, M] bool a feasible client
    exists; ``current`` [B] int64 the vehicle that acts next (sequential env only, else None);
    ``retired`` [B, M] bool vehicles that retired (all False unless ``PVRPEnv(retire=True)``).
    """

    locs: torch.Tensor
    demand: torch.Tensor
    capacity: torch.Tensor
    speed: torch.Tensor
    preference: torch.Tensor
    pref_gain: torch.Tensor
    allowed: torch.Tensor
    pos: torch.Tensor
    load: torch.Tensor
    time: torch.Tensor
    served: torch.Tensor
    avail: torch.Tensor
    mask: torch.Tensor
    any_client: torch.Tensor
    current: torch.Tensor | None = None
    retired: torch.Tensor | None = None  # set by reset (None only before it)
    #: numpy views of the tensors the numba kernel reads but never replaces (``locs``, ``demand``,
    #: ``capacity``, ``speed``, ``pref_gain``, ``avail`` and ``allowed`` as uint8; ``demand`` as
    #: uint8 when its values are small integers), made once per reset
    static_np: tuple = ()

"""CAMP on the parallel ``PVRP`` env: every vehicle points at its next node at each step.

profiled embedding ``[B, M, N + 1, H]`` -> profile-aware encoder -> (per step) communication
between the vehicles -> batched per-vehicle pointer decoder -> logits ``[B, M, N + 1]``. Conflicts
(two vehicles choosing one client) are left to the env: the decoding unit passes
:func:`~.camp_parts.conflict_priority` as the env's ``priority`` key, so the most confident vehicle
wins and the others choose again at the next step.
"""
from __future__ import annotations

import torch
from tensordict import TensorDict, TensorDictBase

from heurist.policies.nets.routing.base import RoutingPolicy
from heurist.policies.nets.routing.camp_parts import (
    MultiPointerDecoder,
    ProfiledEmbedding,
    ProfileEncoder,
    VehicleCommunication,
    conflict_priority,
)

__all__ = ["CAMP"]


class CAMP(RoutingPolicy):
    """``dim`` H, ``n_heads``, ``n_layers`` encoder layers, ``comm_layers`` communication layers,
    ``ff_dim``, ``norm`` (``"layer"`` by default: the vehicle axis is too short for instance
    norm), ``clip`` C."""

    multi_agent = True

    def __init__(self, *, dim: int = 128, n_heads: int = 8, n_layers: int = 3,
                 comm_layers: int = 1, ff_dim: int = 512, norm: str = "layer",
                 clip: float = 10.0) -> None:
        super().__init__()
        self.config = {"dim": int(dim), "n_heads": int(n_heads), "n_layers": int(n_layers),
                       "comm_layers": int(comm_layers), "ff_dim": int(ff_dim), "norm": str(norm),
                       "clip": float(clip)}  # the artifact manifest's record
        self.embedding = ProfiledEmbedding(dim=dim)
        self.encoder = ProfileEncoder(dim=dim, n_heads=n_heads, n_layers=n_layers, ff_dim=ff_dim,
                                      norm=norm)
        self.communication = VehicleCommunication(dim=dim, n_heads=n_heads, n_layers=comm_layers,
                                                  ff_dim=ff_dim, norm=norm)
        self.decoder = MultiPointerDecoder(dim=dim, n_heads=n_heads, clip=clip)

    def init(self, td: TensorDictBase) -> TensorDict:
        nodes = self.encoder(self.embedding(td))
        gk, gv, lk = self.decoder.precompute(nodes)
        return TensorDict({"nodes": nodes, "gk": gk, "gv": gv, "lk": lk}, batch_size=td.batch_size)

    def step(self, td: TensorDictBase, state: TensorDict) -> tuple[torch.Tensor, TensorDict]:
        query = self.communication(td, state["nodes"])
        return self.decoder(td, query, (state["gk"], state["gv"], state["lk"])), state

    def priority(self, logits: torch.Tensor, action: torch.Tensor) -> torch.Tensor:
        """The env's ``priority`` input for ``action`` [B, M] chosen from ``logits``."""
        return conflict_priority(logits, action)

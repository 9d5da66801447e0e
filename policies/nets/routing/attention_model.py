"""Attention Model (Kool, van Hoof & Welling 2019) on ``PVRPSequential``.

MHA encoder over the node embeddings; per step a context query (graph embedding, the acting
vehicle's node and features) attends over the nodes (one glimpse) and points with logits clipped by
``C * tanh`` (``C = 10``), masked by the env's ``action_mask``. The acting vehicle's preferences,
zones and load fit enter through the dynamic embedding, so one encoder pass serves all vehicles.
"""
from __future__ import annotations

import torch
from tensordict import TensorDict, TensorDictBase

from heurist.policies.nets.routing.base import RoutingPolicy
from heurist.policies.nets.routing.decoder import PointerDecoder
from heurist.policies.nets.routing.embeddings import (
    ContextEmbedding,
    DynamicEmbedding,
    InitEmbedding,
)
from heurist.policies.nets.routing.encoder import MHAEncoder

__all__ = ["AttentionModel"]


class AttentionModel(RoutingPolicy):
    """AM: ``dim`` H, ``n_heads``, ``n_layers`` encoder layers, ``ff_dim``, ``norm`` (``"batch"``
    as in the paper, or ``"instance"``), ``clip`` C, ``graph_context`` (the graph embedding in the
    query; POMO drops it)."""

    def __init__(self, *, dim: int = 128, n_heads: int = 8, n_layers: int = 3, ff_dim: int = 512,
                 norm: str = "batch", clip: float = 10.0, graph_context: bool = True) -> None:
        super().__init__()
        self.config = {"dim": int(dim), "n_heads": int(n_heads), "n_layers": int(n_layers),
                       "ff_dim": int(ff_dim), "norm": str(norm), "clip": float(clip),
                       "graph_context": bool(graph_context)}  # the artifact manifest's record
        self.init_embedding = InitEmbedding(dim=dim)
        self.encoder = MHAEncoder(dim=dim, n_heads=n_heads, n_layers=n_layers, ff_dim=ff_dim,
                                  norm=norm)
        self.context = ContextEmbedding(dim=dim, graph=graph_context)
        self.dynamic = DynamicEmbedding()
        self.decoder = PointerDecoder(dim=dim, n_heads=n_heads, clip=clip,
                                      dynamic_dim=DynamicEmbedding.dim)

    def embed(self, td: TensorDictBase) -> torch.Tensor:
        """Encoded nodes ``[B, N + 1, H]`` (SymNCO projects these)."""
        return self.encoder(self.init_embedding(td))

    def init(self, td: TensorDictBase) -> TensorDict:
        nodes = self.embed(td)
        gk, gv, lk = self.decoder.precompute(nodes)
        return TensorDict({"nodes": nodes, "graph": nodes.mean(1), "gk": gk, "gv": gv, "lk": lk},
                          batch_size=td.batch_size)

    def step(self, td: TensorDictBase, state: TensorDict) -> tuple[torch.Tensor, TensorDict]:
        query = self.context(td, state["nodes"], state["graph"])
        logits = self.decoder(query, (state["gk"], state["gv"], state["lk"]), td["action_mask"],
                              dynamic=self.dynamic(td))
        return logits, state

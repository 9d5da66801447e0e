"""RL4CO-style embeddings of the PVRP observation for the single-agent models.

* :class:`InitEmbedding`: the static node embedding ``[B, N + 1, H]`` fed to the encoder (the
  depot has its own projection: it is a different kind of node).
* :class:`ContextEmbedding`: the decoder's query ``[B, H]`` from the acting vehicle (its node's
  embedding, its features) and, for AM, the graph embedding.
* :class:`DynamicEmbedding`: the acting vehicle's per-step view of the nodes (preference, zone,
  load fit), whose projection corrects the glimpse keys, values and logit keys, so the keys change
  with the vehicle without re-running the encoder.
"""
from __future__ import annotations

import torch
from tensordict import TensorDictBase
from torch import nn

from heurist.policies.nets.routing.features import (
    NODE_DIM,
    PROFILE_DIM,
    VEHICLE_DIM,
    acting_vehicle,
    node_features,
    profile_features,
    vehicle_features,
)

__all__ = ["ContextEmbedding", "DynamicEmbedding", "InitEmbedding", "gather_rows"]


def gather_rows(x: torch.Tensor, idx: torch.Tensor) -> torch.Tensor:
    """``x[b, idx[b]]``: ``x`` [B, K, ...], ``idx`` [B] -> [B, ...]."""
    return x[torch.arange(x.shape[0], device=x.device), idx]


class InitEmbedding(nn.Module):
    """Static node features -> ``[B, N + 1, H]``."""

    def __init__(self, *, dim: int) -> None:
        super().__init__()
        if dim < 1:
            raise ValueError(f"InitEmbedding: dim must be >= 1, got {dim}")
        self.depot = nn.Linear(NODE_DIM, dim)
        self.client = nn.Linear(NODE_DIM, dim)

    def forward(self, td: TensorDictBase) -> torch.Tensor:
        x = node_features(td)
        return torch.cat([self.depot(x[:, :1]), self.client(x[:, 1:])], 1)


class ContextEmbedding(nn.Module):
    """The query ``[B, H]``: the acting vehicle's node embedding and features, plus the graph
    embedding when ``graph=True`` (AM; POMO leaves it out)."""

    def __init__(self, *, dim: int, graph: bool = True) -> None:
        super().__init__()
        self.graph = graph
        self.proj = nn.Linear(dim * (2 if graph else 1) + VEHICLE_DIM, dim, bias=False)

    def forward(self, td: TensorDictBase, nodes: torch.Tensor, graph: torch.Tensor) -> torch.Tensor:
        """``nodes`` [B, N + 1, H] encoded, ``graph`` [B, H] -> query [B, H]."""
        k = acting_vehicle(td)
        here = gather_rows(nodes, gather_rows(td["vehicle_pos"], k))
        parts = [here, gather_rows(vehicle_features(td), k)]
        if self.graph:
            parts.insert(0, graph)
        return self.proj(torch.cat(parts, -1))

    def precompute(self, nodes: torch.Tensor, graph: torch.Tensor) -> tuple[torch.Tensor,
                                                                              torch.Tensor]:
        """The static parts of the query, once per episode: the projection is linear, so
        ``proj([graph, here, v]) = graph Wg + here Wh + v Wv``; ``nodes`` [b, N + 1, H] ->
        ``nodes Wh`` [b, N + 1, H] and ``graph`` [b, H] -> ``graph Wg`` [b, H] (zeros without the
        graph context) for :meth:`step`."""
        H = nodes.shape[-1]
        w = self.proj.weight  # [H, (2 if graph else 1) * H + VEHICLE_DIM]
        g = H if self.graph else 0
        node_q = nodes @ w[:, g:g + H].T
        graph_q = graph @ w[:, :H].T if self.graph else torch.zeros_like(graph)
        return node_q, graph_q

    def step(self, td: TensorDictBase, node_q: torch.Tensor, graph_q: torch.Tensor, *,
             shared: int = 1) -> torch.Tensor:
        """:meth:`forward` from :meth:`precompute`'s ``node_q`` [b, N + 1, H] and ``graph_q``
        [b, H], where the observation ``td`` [B] is ``shared`` = K copy-major copies of the b
        instances (B = K b; K = 1: one row each): same query up to float rounding, without a
        ``[B, H + ...]`` projection per step, and the per-step gather's gradient is ``[b, ...]``
        (K times smaller than gathering from repeated node embeddings)."""
        k = acting_vehicle(td)
        pos = gather_rows(td["vehicle_pos"], k)  # [B]
        b, H = graph_q.shape
        K = int(shared)
        inst = torch.arange(b, device=pos.device)
        here = node_q[inst, pos.view(K, b)].view(K * b, H)  # [B, H]
        w_v = self.proj.weight[:, -VEHICLE_DIM:]
        veh = gather_rows(vehicle_features(td), k) @ w_v.T
        if not self.graph:  # graph_q is zeros (POMO): adding it is exact, and a [B, H] pass
            return here + veh
        ctx = graph_q if K == 1 else graph_q.unsqueeze(0).expand(K, b, H).reshape(K * b, H)
        return ctx + here + veh


    def inputs(self, td: TensorDictBase) -> tuple[torch.Tensor, torch.Tensor]:
        """What :meth:`score` needs of one observation [B]: the acting vehicle's node [B] and its
        features [B, VEHICLE_DIM]."""
        k = acting_vehicle(td)
        return gather_rows(td["vehicle_pos"], k), gather_rows(vehicle_features(td), k)

    def score(self, node_q: torch.Tensor, graph_q: torch.Tensor, pos: torch.Tensor,
              veh: torch.Tensor) -> torch.Tensor:
        """The queries of S steps per instance at once, from :meth:`precompute`'s ``node_q``
        [b, N + 1, H] and ``graph_q`` [b, H]: ``pos`` [b, S] (the acting vehicle's node at each
        step, :meth:`inputs`) and ``veh`` [b, S, VEHICLE_DIM] -> [b, S, H]; the same query as
        :meth:`forward` to float rounding. The gather's gradient is a scatter-add into
        ``node_q``."""
        H = node_q.shape[-1]
        here = node_q.gather(1, pos.unsqueeze(-1).expand(*pos.shape, H))  # [b, S, H]
        q = here + veh @ self.proj.weight[:, -VEHICLE_DIM:].T
        return q + graph_q.unsqueeze(1) if self.graph else q


class DynamicEmbedding(nn.Module):
    """The acting vehicle's per-node view ``[B, N + 1, PROFILE_DIM]`` (preference, zone, demand
    relative to its capacity, unserved, fits its load): the input of the dynamic embedding. Its
    linear projection to (glimpse key, glimpse value, logit key) deltas lives in the
    :class:`~.decoder.PointerDecoder` (``dynamic_dim``), which applies it on the query side."""

    dim = PROFILE_DIM

    def forward(self, td: TensorDictBase) -> torch.Tensor:
        return gather_rows(profile_features(td), acting_vehicle(td))

"""CAMP's parts (Berto et al. 2024, "Collaborative Attention Model for Profiled VRPs"), each a
module of its own so each is tested on its own; :mod:`.camp` assembles them.

Shapes: B instances, M vehicles, n = N + 1 nodes (depot first), H features.
"""
from __future__ import annotations

import torch
from tensordict import TensorDictBase
from torch import nn

from heurist.policies.nets.routing.decoder import PointerDecoder
from heurist.policies.nets.routing.encoder import MHALayer
from heurist.policies.nets.routing.features import (
    NODE_DIM,
    VEHICLE_DIM,
    node_features,
    profile_features,
    vehicle_features,
)

__all__ = ["MultiPointerDecoder", "ProfileEncoder", "ProfiledEmbedding", "VehicleCommunication",
           "conflict_priority"]

#: the static columns of :func:`profile_features` (preference, allowed, demand / capacity_k)
_STATIC = slice(0, 3)
#: the dynamic ones (unserved, fits the load left)
_DYNAMIC = slice(3, 5)


class ProfiledEmbedding(nn.Module):
    """Every node as each vehicle sees it: ``[B, M, n, H]``. A client's embedding mixes its
    coordinates and demand with the vehicle's preference for it, whether its zone allows it, the
    demand relative to *this* vehicle's capacity, and the vehicle's speed and relative size."""

    def __init__(self, *, dim: int) -> None:
        super().__init__()
        width = NODE_DIM + 3 + 2
        self.depot, self.client = nn.Linear(width, dim), nn.Linear(width, dim)

    def forward(self, td: TensorDictBase) -> torch.Tensor:
        prof = profile_features(td)[..., _STATIC]  # [B, M, n, 3]
        B, M, n, _ = prof.shape
        nodes = node_features(td).unsqueeze(1).expand(B, M, n, NODE_DIM)
        veh = vehicle_features(td)[..., [2, 4]].unsqueeze(2).expand(B, M, n, 2)  # speed, size
        x = torch.cat([nodes, prof, veh], -1)
        return torch.cat([self.depot(x[:, :, :1]), self.client(x[:, :, 1:])], 2)


class ProfileEncoder(nn.Module):
    """Profile-aware encoder ``[B, M, n, H] -> [B, M, n, H]``: each layer lets the nodes of one
    vehicle's profile attend to each other (the routing structure), then lets the M profiles of
    one node attend to each other (who else wants this client)."""

    def __init__(self, *, dim: int, n_heads: int = 8, n_layers: int = 3, ff_dim: int = 512,
                 norm: str = "layer") -> None:
        super().__init__()
        if n_layers < 0:
            raise ValueError(f"ProfileEncoder: n_layers must be >= 0, got {n_layers}")
        self.within = nn.ModuleList(MHALayer(dim=dim, n_heads=n_heads, ff_dim=ff_dim, norm=norm)
                                    for _ in range(n_layers))
        self.across = nn.ModuleList(MHALayer(dim=dim, n_heads=n_heads, ff_dim=ff_dim, norm=norm)
                                    for _ in range(n_layers))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        B, M, n, H = x.shape
        for within, across in zip(self.within, self.across):
            x = within(x.reshape(B * M, n, H)).reshape(B, M, n, H)
            x = across(x.transpose(1, 2).reshape(B * n, M, H)).reshape(B, n, M, H).transpose(1, 2)
        return x


class VehicleCommunication(nn.Module):
    """The vehicles' states ``[B, M, H]`` (node each stands at, in its own profile, its profile's
    mean, its load, time, speed) after ``n_layers`` of self-attention among the vehicles: each
    vehicle's query knows where the others are and what they carry."""

    def __init__(self, *, dim: int, n_heads: int = 8, n_layers: int = 1, ff_dim: int = 512,
                 norm: str = "layer") -> None:
        super().__init__()
        self.proj = nn.Linear(2 * dim + VEHICLE_DIM, dim)
        self.layers = nn.ModuleList(MHALayer(dim=dim, n_heads=n_heads, ff_dim=ff_dim, norm=norm)
                                    for _ in range(n_layers))

    def forward(self, td: TensorDictBase, nodes: torch.Tensor) -> torch.Tensor:
        """``nodes`` [B, M, n, H] encoded -> vehicle states [B, M, H]."""
        pos = td["vehicle_pos"]  # [B, M]
        here = nodes.gather(2, pos[..., None, None].expand(*pos.shape, 1, nodes.shape[-1]))
        x = self.proj(torch.cat([here.squeeze(2), nodes.mean(2), vehicle_features(td)], -1))
        for layer in self.layers:
            x = layer(x)
        return x


class MultiPointerDecoder(nn.Module):
    """One pointer per vehicle, batched: queries ``[B, M, H]`` over that vehicle's own keys
    ``[B, M, n, H]`` (plus the dynamic deltas: unserved, fits the load) -> logits ``[B, M, n]``,
    ``-inf`` wherever ``action_mask`` [B, M, n] is False."""

    def __init__(self, *, dim: int, n_heads: int = 8, clip: float = 10.0) -> None:
        super().__init__()
        self.pointer = PointerDecoder(dim=dim, n_heads=n_heads, clip=clip, dynamic_dim=2)

    def precompute(self, nodes: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        return self.pointer.precompute(nodes)

    def forward(self, td: TensorDictBase, query: torch.Tensor, keys) -> torch.Tensor:
        """``keys`` from :meth:`precompute` of the encoded nodes [B, M, n, H]."""
        return self.pointer(query, keys, td["action_mask"],
                            dynamic=profile_features(td)[..., _DYNAMIC])


def conflict_priority(logits: torch.Tensor, action: torch.Tensor) -> torch.Tensor:
    """The ``priority`` [B, M] the parallel env resolves conflicts with: each vehicle's
    log-probability of its chosen action (``logits`` [B, M, n], ``action`` [B, M]). Of the
    vehicles choosing one client, the most confident wins; the env breaks exact ties by index."""
    logp = logits.log_softmax(-1).gather(-1, action.unsqueeze(-1)).squeeze(-1)
    return logp.detach().float()

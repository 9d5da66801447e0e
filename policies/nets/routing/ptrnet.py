"""Pointer Network (Vinyals, Fortunato & Jaitly 2015) on ``PVRPSequential``.

An LSTM encodes the nodes in index order (depot first); an LSTM cell decodes, its input the
embedding of the acting vehicle's node plus that vehicle's features, and points with additive
attention ``u_j = v . tanh(W1 e_j + W2 d_t + D x_j)`` where ``x_j`` is the acting vehicle's view of
node ``j`` (preference, zone, load fit; the dynamic part Vinyals' TSP did not need). The
compatibilities are optionally clipped by ``C * tanh`` (Bello et al. 2017) and masked.
"""
from __future__ import annotations

import torch
from tensordict import TensorDict, TensorDictBase
from torch import nn

from heurist.policies.nets.routing.base import RoutingPolicy
from heurist.policies.nets.routing.decoder import masked_logits
from heurist.policies.nets.routing.embeddings import gather_rows
from heurist.policies.nets.routing.features import (
    NODE_DIM,
    PROFILE_DIM,
    VEHICLE_DIM,
    acting_vehicle,
    node_features,
    profile_features,
    vehicle_features,
)

__all__ = ["PointerNetwork"]


class PointerNetwork(RoutingPolicy):
    """Ptr-Net: ``dim`` H (embedding and LSTM width), ``clip`` C (``None`` = no clipping)."""

    def __init__(self, *, dim: int = 128, clip: float | None = 10.0) -> None:
        super().__init__()
        if dim < 1:
            raise ValueError(f"PointerNetwork: dim must be >= 1, got {dim}")
        if clip is not None and not clip > 0:
            raise ValueError(f"PointerNetwork: clip must be > 0 or None, got {clip}")
        self.clip = clip
        self.config = {"dim": int(dim), "clip": None if clip is None else float(clip)}
        self.embed = nn.Linear(NODE_DIM, dim)
        self.encoder = nn.LSTM(dim, dim, batch_first=True)
        self.dec_in = nn.Linear(dim + VEHICLE_DIM, dim)
        self.decoder = nn.LSTMCell(dim, dim)
        self.w_ref = nn.Linear(dim, dim, bias=False)
        self.w_query = nn.Linear(dim, dim)
        self.w_dyn = nn.Linear(PROFILE_DIM, dim, bias=False)
        self.v = nn.Linear(dim, 1, bias=False)

    def init(self, td: TensorDictBase) -> TensorDict:
        x = self.embed(node_features(td))  # [B, N + 1, H]
        enc, (h, c) = self.encoder(x)
        return TensorDict({"x": x, "ref": self.w_ref(enc), "h": h[0], "c": c[0]},
                          batch_size=td.batch_size)

    def step(self, td: TensorDictBase, state: TensorDict) -> tuple[torch.Tensor, TensorDict]:
        k = acting_vehicle(td)
        here = gather_rows(state["x"], gather_rows(td["vehicle_pos"], k))
        inp = self.dec_in(torch.cat([here, gather_rows(vehicle_features(td), k)], -1))
        h, c = self.decoder(inp, (state["h"], state["c"]))
        dyn = self.w_dyn(gather_rows(profile_features(td), k))  # [B, N + 1, H]
        u = self.v(torch.tanh(state["ref"] + dyn + self.w_query(h).unsqueeze(1))).squeeze(-1)
        if self.clip is not None:
            u = self.clip * torch.tanh(u)
        new = state.clone(recurse=False)
        new["h"], new["c"] = h, c
        return masked_logits(u, td["action_mask"]), new

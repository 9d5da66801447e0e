"""What the routing networks read from a PVRP observation TensorDict (the per-env part).

Every routing model sees the env through these few functions, so another routing env plugs in by
providing the same features. Demands and loads are divided by the vehicle's capacity and times by
the instance's scale (``sqrt(2)``, the unit square's diameter), so the features stay O(1) for any
capacity; that keeps one set of weights usable on TSP (huge capacity) and CVRP alike.
"""
from __future__ import annotations

import torch
from tensordict import TensorDictBase

__all__ = ["FEATURES", "NODE_DIM", "PROFILE_DIM", "VEHICLE_DIM", "acting_vehicle", "node_features",
           "profile_features", "vehicle_features"]

#: per-node static features: x, y, demand / mean capacity
NODE_DIM = 3
#: per-(vehicle, node) features: preference, allowed, demand / capacity_k, unserved, reachable
PROFILE_DIM = 5
#: per-vehicle features: load / capacity, time / sqrt(2), speed, at depot, capacity / mean capacity
VEHICLE_DIM = 5

#: the feature layout by name (what an artifact's manifest records and checks on load)
FEATURES = {
    "node_features": ["x", "y", "demand/mean_capacity"],
    "profile_features": ["preference", "allowed", "demand/capacity", "unserved", "fits_load"],
    "vehicle_features": ["load/capacity", "time/sqrt2", "speed", "at_depot",
                         "capacity/mean_capacity"],
}

_SCALE = 2.0 ** 0.5


def node_features(td: TensorDictBase) -> torch.Tensor:
    """Static node features ``[B, N + 1, NODE_DIM]`` (depot first, demand 0)."""
    cap = td["capacity"].mean(-1, keepdim=True)  # [B, 1]
    return torch.cat([td["locs"], (td["demand"] / cap).unsqueeze(-1)], -1)


def _pad_depot(x: torch.Tensor, value: float) -> torch.Tensor:
    """``x`` [B, M, N] -> [B, M, N + 1] with the depot column set to ``value``."""
    return torch.nn.functional.pad(x, (1, 0), value=value)


def profile_features(td: TensorDictBase) -> torch.Tensor:
    """Per-vehicle view of every node ``[B, M, N + 1, PROFILE_DIM]``: the vehicle's preference
    and zone for the client, its demand relative to the vehicle's capacity, whether it is still
    unserved and whether it fits the load left (the dynamic part)."""
    pref = _pad_depot(td["preference"].float(), 0.0)
    allowed = _pad_depot(td["allowed"].float(), 1.0)
    demand = td["demand"].unsqueeze(1)  # [B, 1, N + 1]
    cap = td["capacity"].unsqueeze(-1)  # [B, M, 1]
    unserved = (~td["served"]).float().unsqueeze(1).expand_as(pref)
    fits = (demand <= td["vehicle_load"].unsqueeze(-1)).float()
    return torch.stack([pref, allowed, (demand / cap).expand_as(pref), unserved, fits], -1)


def vehicle_features(td: TensorDictBase) -> torch.Tensor:
    """Per-vehicle dynamic features ``[B, M, VEHICLE_DIM]``."""
    cap = td["capacity"]
    return torch.stack([td["vehicle_load"] / cap, td["vehicle_time"] / _SCALE, td["speed"],
                        (td["vehicle_pos"] == 0).float(),
                        cap / cap.mean(-1, keepdim=True)], -1)


def acting_vehicle(td: TensorDictBase) -> torch.Tensor:
    """The vehicle that acts now ``[B]`` (``current_vehicle`` of the sequential env; 0 when the
    env has one vehicle and no such key)."""
    if "current_vehicle" in td:
        return td["current_vehicle"]
    return torch.zeros(td.batch_size[0], dtype=torch.int64, device=td.device)

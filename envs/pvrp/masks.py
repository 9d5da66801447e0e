"""Action-mask logic shared by the parallel and the sequential PVRP envs.

A vehicle may go to a client that is unserved, inside its zone and whose demand fits the load it
has left. It may go to (or stay at) the depot when it stands at a client (to refill or to finish), or
when it stands at the depot with no feasible client: a depot stay exists only to avoid a deadlock.
So every vehicle always has at least one legal move, and a finished row (all clients served, all
vehicles home) allows exactly action 0.
"""
from __future__ import annotations

import torch

__all__ = ["active_vehicles", "feasible_clients", "vehicle_masks"]


def feasible_clients(served: torch.Tensor, allowed: torch.Tensor, demand: torch.Tensor,
                     load: torch.Tensor) -> torch.Tensor:
    """Clients each vehicle may visit next.

    ``served`` [B, N + 1] bool (column 0 = depot, ignored), ``allowed`` [B, M, N] bool,
    ``demand`` [B, N + 1] (column 0 = depot), ``load`` [B, M] (capacity left) -> bool [B, M, N].
    """
    open_ = ~served[:, None, 1:]
    fits = demand[:, None, 1:] <= load[:, :, None]
    return open_ & allowed & fits


def vehicle_masks(pos: torch.Tensor, feasible: torch.Tensor) -> torch.Tensor:
    """The action mask of every vehicle: ``pos`` [B, M] (0 = depot), ``feasible`` [B, M, N]
    -> bool [B, M, N + 1] (column 0 = depot). Never an all-False row."""
    depot_ok = (pos != 0) | ~feasible.any(-1)
    return torch.cat([depot_ok.unsqueeze(-1), feasible], dim=-1)


def active_vehicles(pos: torch.Tensor, feasible: torch.Tensor) -> torch.Tensor:
    """Vehicles that still have something to do: away from the depot, or at the depot with a
    feasible client. ``pos`` [B, M], ``feasible`` [B, M, N] -> bool [B, M]. A row with no active
    vehicle is finished (given every client is servable by some vehicle, which reset checks)."""
    return (pos != 0) | feasible.any(-1)

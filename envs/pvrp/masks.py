"""Action-mask logic shared by the parallel and the sequential PVRP envs.

A vehicle may go to a client that is unserved, inside its zone and whose demand fits the load it
has left. It may go to (or stay at) the depot when it stands at a client (to refill or to finish), or
when it stands at the depot with no feasible client: a depot stay exists only to avoid a deadlock.
So every vehicle always has at least one legal move, and a finished row (all clients served, all
vehicles home) allows exactly action 0.

For speed the "open and allowed" part is kept as a state ``avail`` [B, M, N + 1] (column 0, the
depot, always False) that is updated in place when clients are served, so a step only compares
demands with loads once over [B, M, N + 1] and writes the depot column into that result.
"""
from __future__ import annotations

import numba
import numpy as np
import torch

__all__ = [
    "active_vehicles",
    "can_retire",
    "dist_f32",
    "f32",
    "initial_avail",
    "mark_served",
    "refresh_row",
    "refresh_row_u8",
    "retire_masks",
    "vehicle_masks",
]


def initial_avail(allowed: torch.Tensor) -> torch.Tensor:
    """``allowed`` [B, M, N] bool -> ``avail`` [B, M, N + 1] (depot column False)."""
    B, M, _ = allowed.shape
    return torch.cat([torch.zeros(B, M, 1, dtype=torch.bool, device=allowed.device), allowed], -1)


def mark_served(avail: torch.Tensor, nodes: torch.Tensor) -> None:
    """Closes the served ``nodes`` [B, K] (0 = none, a no-op on the depot column) for every
    vehicle, in place on ``avail`` [B, M, N + 1]."""
    avail.scatter_(2, nodes.unsqueeze(1).expand(-1, avail.shape[1], -1), False)


def vehicle_masks(avail: torch.Tensor, demand: torch.Tensor, load: torch.Tensor,
                  pos: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """The action mask of every vehicle and whether it has a feasible client.

    ``avail`` [B, M, N + 1], ``demand`` [B, N + 1] (depot 0), ``load`` [B, M] capacity left,
    ``pos`` [B, M] (0 = depot) -> (``mask`` [B, M, N + 1] bool, never an all-False row;
    ``any_client`` [B, M] bool).
    """
    mask = (demand.unsqueeze(1) <= load.unsqueeze(-1)) & avail
    any_client = mask.any(-1)
    mask[..., 0] = (pos != 0) | ~any_client
    return mask, any_client


def can_retire(avail: torch.Tensor, demand: torch.Tensor, capacity: torch.Tensor,
               retired: torch.Tensor) -> torch.Tensor:
    """Whether each vehicle could retire now, wherever it stands -> bool [B, M]: every client it
    could still serve (open, in its zone, demand within its capacity) can be served by another
    vehicle that has not retired (``retired`` [B, M]), so retiring never strands a client.
    ``avail`` [B, M, N + 1], ``demand`` [B, N + 1], ``capacity`` [B, M]."""
    servable = (avail & ~retired.unsqueeze(-1)
                & (demand.unsqueeze(1) <= capacity.unsqueeze(-1)))  # [B, M, N + 1]
    servers = servable.sum(1, keepdim=True)  # [B, 1, N + 1]
    return ~(servable & (servers < 2)).any(-1)


def retire_masks(avail: torch.Tensor, demand: torch.Tensor, load: torch.Tensor,
                 pos: torch.Tensor, capacity: torch.Tensor, retired: torch.Tensor,
                 ) -> tuple[torch.Tensor, torch.Tensor]:
    """:func:`vehicle_masks` when vehicles may retire (``PVRPEnv(retire=True)``): a retired
    vehicle (``retired`` [B, M] bool) has no client move left, and a vehicle at the depot with a
    feasible client may also choose the depot, to retire, where :func:`can_retire` allows it.
    ``capacity`` [B, M]; the other arguments and the result as in :func:`vehicle_masks`."""
    mask = (demand.unsqueeze(1) <= load.unsqueeze(-1)) & avail & ~retired.unsqueeze(-1)
    any_client = mask.any(-1)
    mask[..., 0] = (pos != 0) | ~any_client | can_retire(avail, demand, capacity, retired)
    return mask, any_client


def active_vehicles(pos: torch.Tensor, any_client: torch.Tensor) -> torch.Tensor:
    """Vehicles that still have something to do: away from the depot, or at the depot with a
    feasible client. ``pos``, ``any_client`` [B, M] -> bool [B, M]. A row with no active vehicle
    is finished (given every client is servable by some vehicle, which reset checks)."""
    return (pos != 0) | any_client


@numba.njit(cache=True, boundscheck=False)
def refresh_row(b: int, avail, demand, load, pos, mask, any_client) -> None:  # pragma: no cover
    """Numba twin of :func:`vehicle_masks` for row ``b`` (writes ``mask[b]``, ``any_client[b]``)."""
    M, N1 = mask.shape[1], mask.shape[2]
    for k in range(M):
        lk = load[b, k]
        anyc = False
        for j in range(1, N1):
            v = avail[b, k, j] & (demand[b, j] <= lk)
            mask[b, k, j] = v
            anyc |= v
        any_client[b, k] = anyc
        mask[b, k, 0] = (pos[b, k] != 0) | (not anyc)


@numba.njit(cache=True, boundscheck=False)
def refresh_row_u8(b: int, avail, demand, load, pos, mask, any_client) -> None:  # pragma: no cover
    """:func:`refresh_row` on uint8 views of ``avail``, ``mask`` and ``any_client`` (0/1): the
    byte arithmetic lets LLVM vectorize the compare-and over the clients."""
    M, N1 = mask.shape[1], mask.shape[2]
    for k in range(M):
        lk = load[b, k]
        acc = np.uint8(0)
        for j in range(1, N1):
            v = avail[b, k, j] & np.uint8(demand[b, j] <= lk)
            mask[b, k, j] = v
            acc |= v
        any_client[b, k] = acc
        mask[b, k, 0] = np.uint8((pos[b, k] != 0) | (acc == 0))


f32 = np.float32


@numba.njit(cache=True, boundscheck=False, inline="always")
def dist_f32(locs, b: int, p: int, q: int):  # pragma: no cover
    """Distance between nodes ``p`` and ``q`` of row ``b`` rounded to float32 after every
    operation, as torch's float32 kernels do (numba would otherwise keep float64 intermediates)."""
    dx = f32(locs[b, p, 0] - locs[b, q, 0])
    dy = f32(locs[b, p, 1] - locs[b, q, 1])
    return f32(np.sqrt(f32(f32(dx * dx) + f32(dy * dy))))

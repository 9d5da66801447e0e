"""The x8 dihedral symmetries of the unit square (POMO's augmentation, SymNCO's symmetric copies).

A map of the square onto itself is an isometry, so a route keeps its length, and every other
instance array (demands, capacities, preferences, zones) is untouched: the same action log is a
solution of every copy, with the same objective up to float rounding.
"""
from __future__ import annotations

import torch
from tensordict import TensorDictBase

__all__ = ["N_DIHEDRAL", "dihedral", "dihedral8"]

N_DIHEDRAL = 8


def dihedral(xy: torch.Tensor, k: int) -> torch.Tensor:
    """Symmetry ``k`` (0..7, 0 = identity) of points ``xy`` [..., 2] in the unit square: bit 0
    mirrors x, bit 1 mirrors y, bit 2 swaps the axes."""
    if not 0 <= k < N_DIHEDRAL:
        raise ValueError(f"dihedral: k must be in 0..7, got {k}")
    x, y = xy[..., 0], xy[..., 1]
    if k & 1:
        x = 1 - x
    if k & 2:
        y = 1 - y
    if k & 4:
        x, y = y, x
    return torch.stack([x, y], -1)


def dihedral8(instance: TensorDictBase, *, keys: tuple[str, ...] = ("depot", "locs")) -> TensorDictBase:
    """The 8 copies of an instance batch ``[B]`` -> ``[8 * B]``, copy-major (row ``k * B + b`` is
    symmetry ``k`` of instance ``b``); only the coordinate ``keys`` change."""
    copies = []
    for k in range(N_DIHEDRAL):
        c = instance.clone()
        for key in keys:
            if key in c:
                c[key] = dihedral(c[key], k)
        copies.append(c)
    return torch.cat(copies, 0)

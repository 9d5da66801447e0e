"""A sum-tree for prioritised replay (Schaul et al. 2016): O(log n) priority updates and
proportional sampling, in numba (torchrl's C++ sampler does not load on torch 2.13).

The tree is one float64 array of ``2 * cap`` nodes (``cap`` a power of two): node ``i`` holds the
sum of its children ``2i`` and ``2i+1``, leaves are ``cap + slot``, node 1 is the total.
"""
from __future__ import annotations

import numba
import numpy as np

__all__ = ["SumTree"]


@numba.njit(cache=True)
def _update(tree, cap, slots, priorities):
    for j in range(slots.shape[0]):
        i = cap + slots[j]
        delta = priorities[j] - tree[i]
        while i >= 1:
            tree[i] += delta
            i //= 2


@numba.njit(cache=True)
def _find(tree, cap, targets, out):
    for j in range(targets.shape[0]):
        u = targets[j]
        i = 1
        while i < cap:
            left = tree[2 * i]
            if u < left or tree[2 * i + 1] <= 0.0:
                i = 2 * i
            else:
                u -= left
                i = 2 * i + 1
        out[j] = i - cap


class SumTree:
    """Priorities of ``capacity`` slots (initially 0: never sampled).

    Args:
        capacity: number of slots (rounded up to a power of two inside; extra slots stay 0).
    """

    def __init__(self, capacity: int) -> None:
        if int(capacity) != capacity or capacity < 1:
            raise ValueError(f"SumTree: capacity must be an integer >= 1, got {capacity!r}")
        self.capacity = int(capacity)
        self.cap = 1 << max(0, (self.capacity - 1).bit_length())
        self.tree = np.zeros(2 * self.cap, np.float64)

    @property
    def total(self) -> float:
        """The sum of all priorities."""
        return float(self.tree[1])

    def get(self, slots: np.ndarray) -> np.ndarray:
        """Priorities of ``slots`` [n]."""
        return self.tree[self.cap + np.asarray(slots, np.int64)]

    def update(self, slots: np.ndarray, priorities: np.ndarray) -> None:
        """Sets ``priorities`` [n] (>= 0, finite) of ``slots`` [n]; a repeated slot keeps the last."""
        slots = np.ascontiguousarray(slots, np.int64).reshape(-1)
        p = np.ascontiguousarray(priorities, np.float64).reshape(-1)
        if slots.shape != p.shape:
            raise ValueError(f"SumTree.update: {slots.shape[0]} slots, {p.shape[0]} priorities")
        if slots.size and (slots.min() < 0 or slots.max() >= self.capacity):
            raise ValueError(f"SumTree.update: slot out of [0, {self.capacity})")
        if not np.isfinite(p).all() or (p < 0).any():
            raise ValueError("SumTree.update: priorities must be finite and >= 0")
        _update(self.tree, self.cap, slots, p)

    def sample(self, n: int, rng: np.random.Generator, *, stratified: bool = True) -> np.ndarray:
        """``n`` slots, each drawn with probability priority / total. ``stratified``: one uniform
        draw in each of n equal segments of the total (lower variance); else n i.i.d. draws."""
        if self.total <= 0:
            raise ValueError("SumTree.sample: every priority is 0")
        if stratified:
            u = (np.arange(n) + rng.random(n)) * (self.total / n)
        else:
            u = rng.random(n) * self.total
        u = np.minimum(u, np.nextafter(self.total, 0))
        out = np.empty(n, np.int64)
        _find(self.tree, self.cap, u, out)
        return out

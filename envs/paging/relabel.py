"""Id relabelling in O(n): an open-addressing hash table (numba) maps 64-bit page ids to dense ids
``0..n-1`` in order of first appearance, instead of sorting (``np.unique`` is O(n log n) and was
most of the time of loading a 1e6-request trace).

The table persists across calls (:class:`IdTable`), so a trace read in chunks is relabelled
consistently and its memory is bounded by the number of distinct ids, not of requests.
"""
from __future__ import annotations

import numpy as np
from numba import njit

__all__ = ["IdTable", "relabel"]

@njit(cache=True, inline="always")
def _slot(key, shift):
    # Fibonacci hashing: one multiply, the top bits index the table. It spreads consecutive ids
    # and hashed ids alike, and costs far less than a full mixer on the hot path.
    return np.int64((key * np.uint64(0x9E3779B97F4A7C15)) >> np.uint64(shift))


@njit(cache=True)
def _grow(table, shift):
    """Doubles ``table`` ``[2 * cap]`` (key, dense id + 1; 0 = empty) and rehashes it."""
    cap = table.size
    new = np.zeros(2 * cap, dtype=np.uint64)
    shift -= 1
    mask = cap - 1
    for i in range(0, cap, 2):
        if table[i + 1] != 0:
            j = _slot(table[i], shift)
            while new[2 * j + 1] != 0:
                j = (j + 1) & mask
            new[2 * j] = table[i]
            new[2 * j + 1] = table[i + 1]
    return new, shift


@njit(cache=True)
def _relabel(ids, table, shift, originals, n, out):
    """Writes the dense id of each ``ids [m]`` (uint64, any stride) into ``out [m]``; returns the
    (possibly grown) table, its shift, the originals and the new number of distinct ids."""
    mask = table.size // 2 - 1
    for i in range(ids.size):
        key = ids[i]
        j = _slot(key, shift)
        while True:
            v = table[2 * j + 1]
            if v == 0:
                if 4 * (n + 1) > table.size:  # keep the load under 1/2
                    table, shift = _grow(table, shift)
                    mask = table.size // 2 - 1
                    j = _slot(key, shift)
                    while table[2 * j + 1] != 0:
                        j = (j + 1) & mask
                if n == originals.size:
                    grown = np.empty(2 * originals.size, dtype=np.uint64)
                    grown[:n] = originals
                    originals = grown
                table[2 * j] = key
                table[2 * j + 1] = n + 1
                originals[n] = key
                out[i] = n
                n += 1
                break
            if table[2 * j] == key:
                out[i] = np.int64(v) - 1
                break
            j = (j + 1) & mask
    return table, shift, originals, n


class IdTable:
    """A growing id -> dense id table; :meth:`relabel` numbers new ids in order of first
    appearance, across calls."""

    def __init__(self, *, capacity: int = 1 << 12) -> None:
        bits = max(4, int(capacity - 1).bit_length())
        self.table = np.zeros(2 << bits, dtype=np.uint64)  # (key, dense id + 1) pairs
        self.shift = 64 - bits
        self.originals = np.empty(1 << (bits - 1), dtype=np.uint64)
        self.n = 0

    def relabel(self, ids) -> np.ndarray:
        """Dense ids int64 ``[m]`` of 64-bit ids ``[m]`` (unsigned or signed integers)."""
        ids = np.asarray(ids)
        if ids.dtype != np.uint64:
            ids = ids.view(np.uint64) if ids.dtype == np.int64 else ids.astype(np.uint64)
        out = np.empty(ids.size, dtype=np.int64)
        self.table, self.shift, self.originals, self.n = _relabel(
            ids, self.table, self.shift, self.originals, self.n, out)
        return out

    def ids(self) -> np.ndarray:
        """The original ids ``[n]`` (uint64) in dense order."""
        return self.originals[:self.n]


def relabel(ids) -> tuple[np.ndarray, np.ndarray]:
    """``(dense [m] int64, original ids [n] uint64)`` of 64-bit integer ids ``[m]``, numbered in
    order of first appearance."""
    table = IdTable()
    dense = table.relabel(ids)
    return dense, table.ids()

"""Canonical candidate offsets (numba) and the buffer orders of the malloc env.

A buffer's canonical candidates are the bottom-left positions of the fast memory over its lifetime:
address 0 and the top edge (``offset + size``) of every placed buffer that overlaps it in time, each
rounded up to the alignment, kept when the buffer fits there (no address overlap with any
time-overlapping placed buffer, and ``offset + size <= C``). Only the gap starts of the union of the
occupied address intervals can be feasible, so one sweep over the offset-sorted intervals finds them
all in increasing order.

Placed buffers are found through a time-block index: the steps are cut in blocks of ``bs`` steps and
every placed buffer is pushed on the list of each block it covers. Decisions are undone in LIFO
order (the env's UNDO), so a removal pops the heads of the same lists.
"""
from __future__ import annotations

import numpy as np
from numba import njit

__all__ = [
    "ORDERS",
    "block_size",
    "buffer_order",
    "candidate_offsets",
    "gather",
    "index_add",
    "index_remove",
]

ORDERS = ("start", "size", "msa")


def buffer_order(size, start, end, saving, order: str) -> np.ndarray:
    """The decision order of N buffers, ``int64 [N]`` (a permutation of ``0..N-1``).

    ``"start"``: by start, longer first, then index. ``"size"``: by size descending, then start.
    ``"msa"``: like XLA memory-space assignment's memory-boundedness order, by isolated time
    saving per byte descending, then size descending, then start.
    """
    size, start, end = np.asarray(size), np.asarray(start), np.asarray(end)
    idx = np.arange(len(size))
    if order == "start":
        return np.lexsort((idx, -(end - start), start)).astype(np.int64)
    if order == "size":
        return np.lexsort((idx, start, -size)).astype(np.int64)
    if order == "msa":
        density = np.asarray(saving, dtype=np.float64) / np.maximum(size, 1)
        return np.lexsort((idx, start, -size, -density)).astype(np.int64)
    raise ValueError(f"order={order!r}: expected one of {ORDERS}")


def block_size(n_steps: int) -> int:
    """Steps per index block: about 1024 blocks per program."""
    return max(1, -(-int(n_steps) // 1024))


@njit(cache=True)
def index_add(i, b, start, end, bs, head, pool_buf, pool_next, pool_top):
    """Registers placed buffer ``b`` of row ``i`` on every time block it covers."""
    for blk in range(start[i, b] // bs[i], (end[i, b] - 1) // bs[i] + 1):
        e = pool_top[i]
        pool_buf[i, e] = b
        pool_next[i, e] = head[i, blk]
        head[i, blk] = e
        pool_top[i] = e + 1


@njit(cache=True)
def index_remove(i, b, start, end, bs, head, pool_buf, pool_next, pool_top):
    """Unregisters ``b``, the buffer registered last in row ``i`` (LIFO)."""
    for blk in range(start[i, b] // bs[i], (end[i, b] - 1) // bs[i] + 1):
        head[i, blk] = pool_next[i, head[i, blk]]
        pool_top[i] -= 1


@njit(cache=True)
def gather(i, s, e, start, end, off, size, bs, head, pool_buf, pool_next, stamp, ctr,
           g_off, g_top, g_start, g_end):
    """Placed (fast) buffers of row ``i`` live in ``[s, e)``: their offset, top edge and live
    range go to ``g_*[i, :m]``; returns ``m``."""
    ctr[i] += 1
    c = ctr[i]
    m = 0
    for blk in range(s // bs[i], (e - 1) // bs[i] + 1):
        k = head[i, blk]
        while k >= 0:
            j = pool_buf[i, k]
            k = pool_next[i, k]
            if stamp[i, j] == c:
                continue
            stamp[i, j] = c
            if start[i, j] < e and end[i, j] > s:
                g_off[i, m] = off[i, j]
                g_top[i, m] = off[i, j] + size[i, j]
                g_start[i, m] = start[i, j]
                g_end[i, m] = end[i, j]
                m += 1
    return m


@njit(cache=True)
def sort_gathered(i, m, g_off, g_top, g_start, g_end):
    """Sorts row ``i``'s gathered ``g_*[i, :m]`` by offset, in place (insertion sort: the
    overlapping set is small and nearly sorted, and it allocates nothing)."""
    if m > 64:
        order = np.argsort(g_off[i, :m], kind="mergesort")
        for arr in (g_off, g_top, g_start, g_end):
            tmp = arr[i, :m][order]
            arr[i, :m] = tmp
        return
    for r in range(1, m):
        o, t, a, e = g_off[i, r], g_top[i, r], g_start[i, r], g_end[i, r]
        q = r - 1
        while q >= 0 and g_off[i, q] > o:
            g_off[i, q + 1] = g_off[i, q]
            g_top[i, q + 1] = g_top[i, q]
            g_start[i, q + 1] = g_start[i, q]
            g_end[i, q + 1] = g_end[i, q]
            q -= 1
        g_off[i, q + 1], g_top[i, q + 1], g_start[i, q + 1], g_end[i, q + 1] = o, t, a, e


@njit(cache=True)
def candidate_offsets(i, m, sz, cap, align, g_off, g_top, cand_off, cand_gap, occ):
    """The K lowest canonical feasible offsets for a buffer of ``sz`` bytes in row ``i``.

    Fills ``cand_off[i, :n]`` (increasing) and ``cand_gap[i, :n]`` (free bytes from the offset to
    the next occupied address or ``C``), and ``occ[i, :]`` with the occupied fraction of each
    address bin (the union over the buffer's lifetime); returns ``n``. ``g_off[i, :m]`` must be
    sorted (``sort_gathered``).
    """
    k_max = cand_off.shape[1]
    n_bins = occ.shape[1]
    for q in range(n_bins):
        occ[i, q] = 0.0
    n = 0
    frontier = 0
    width = cap / n_bins if cap > 0 else 1.0
    for r in range(m + 1):
        if r < m:
            lo = g_off[i, r]
            hi = g_top[i, r]
        else:
            lo = cap
            hi = cap
        if lo > frontier:
            x = (frontier + align - 1) // align * align
            if n < k_max and x + sz <= lo and x + sz <= cap:
                cand_off[i, n] = x
                cand_gap[i, n] = min(lo, cap) - x
                n += 1
        if r < m and hi > frontier:
            # occupied [max(lo, frontier), hi) joins the union: spread it over the address bins
            a = max(lo, frontier)
            while a < hi and cap > 0:
                q = min(int(a / width), n_bins - 1)
                bin_hi = min(hi, int(np.ceil((q + 1) * width)) if q < n_bins - 1 else hi)
                if bin_hi <= a:
                    bin_hi = a + 1
                occ[i, q] += (bin_hi - a) / width
                a = bin_hi
            frontier = hi
    for q in range(n_bins):
        occ[i, q] = min(occ[i, q], 1.0)
    return n

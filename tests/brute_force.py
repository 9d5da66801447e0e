"""Exhaustive references the malloc tests compare against (not a test module)."""
from __future__ import annotations

import itertools

__all__ = ["brute_min_peak"]


def brute_min_peak(size, start, end, members=None) -> int:
    """Minimum peak by enumerating orders: each order (who lies below whom among conflicting
    buffers) fixes offsets as longest paths; every packing compacts to one of these. ``members``
    restricts it to some buffers (0 for none)."""
    idx = list(range(len(size))) if members is None else list(members)
    best = 0 if not idx else None
    for perm in itertools.permutations(idx):
        top: dict[int, int] = {}
        for i in perm:
            below = [top[j] for j in top if start[i] < end[j] and start[j] < end[i]]
            top[i] = max(below, default=0) + size[i]
        peak = max(top.values())
        best = peak if best is None else min(best, peak)
    return best

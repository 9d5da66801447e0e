"""Exhaustive references the malloc tests compare against (not a test module)."""
from __future__ import annotations

import itertools

__all__ = ["brute_min_peak", "tiny_instances"]


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


def tiny_instances(rng, count: int):
    """Yields ``count`` random instances of 2-6 buffers drawn from ``rng``, each with its
    exhaustive optimum as the capacity: ``(instance, optimum)``. Lazy, so a caller may draw from
    the same ``rng`` between instances."""
    from heurist.envs.malloc import MallocInstance, MemoryConfig

    for _ in range(count):
        n = int(rng.integers(2, 7))
        size = rng.integers(1, 7, n).tolist()
        start = rng.integers(0, 6, n).tolist()
        end = [s + int(rng.integers(1, 5)) for s in start]
        opt = brute_min_peak(size, start, end)
        yield MallocInstance.from_intervals(size, start, end,
                                            memory=MemoryConfig(capacity=opt)), opt

"""The sequential-halving schedule of Gumbel MuZero's root (Danihelka et al. 2022, mctx's
``seq_halving``): which visit count the root's considered actions must have at each simulation.

At simulation ``i`` the root visits, among the considered actions that have exactly
``schedule[i]`` visits, the one with the highest ``g + logits + sigma(q)``. The budget is split over
``ceil(log2 m)`` phases; each phase gives every surviving action the same number of visits and then
halves the survivors (never below two).
"""
import math
from functools import lru_cache

import numpy as np

__all__ = [
    "considered_visits_table",
    "get_sequence_of_considered_visits",
    "sequential_halving_schedule",
]


def sequential_halving_schedule(m: int, n: int) -> tuple[int, ...]:
    """The considered visit count at each of ``n`` simulations with ``m`` considered actions.

    ``sequential_halving_schedule(4, 16) == (0,0,0,0, 1,1,1,1, 2,2,3,3, 4,4,5,5)``.
    """
    if m < 0 or n < 0:
        raise ValueError(f"sequential_halving_schedule needs m >= 0 and n >= 0, got m={m}, n={n}")
    if m <= 1:
        return tuple(range(n))
    log2max = math.ceil(math.log2(m))
    sequence: list[int] = []
    visits = [0] * m
    considered = m
    while len(sequence) < n:
        # Each survivor gets an equal share of this phase's budget, at least one visit.
        extra = max(1, int(n / (log2max * considered)))
        for _ in range(extra):
            sequence.extend(visits[:considered])
            for i in range(considered):
                visits[i] += 1
        considered = max(2, considered // 2)
    return tuple(sequence[:n])


# mctx's name for the same schedule.
get_sequence_of_considered_visits = sequential_halving_schedule


def considered_visits_table(max_considered: int, n: int) -> np.ndarray:
    """``[max_considered + 1, n]`` int32: row ``m`` is the schedule for ``m`` considered actions
    (a root with fewer valid actions than ``max_considered`` uses its own row). Cached and
    read-only: every search with the same budget shares it."""
    return _table(int(max_considered), int(n))


@lru_cache(maxsize=64)
def _table(max_considered: int, n: int) -> np.ndarray:
    table = np.zeros((max_considered + 1, max(n, 1)), dtype=np.int32)
    for m in range(max_considered + 1):
        table[m, :n] = sequential_halving_schedule(m, n)
    table.flags.writeable = False
    return table

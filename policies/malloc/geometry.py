"""Instance geometry shared by the CP-SAT models and the exact searches: compressed time and the
address unit (numpy only, so the searches import no solver)."""
from __future__ import annotations

from math import gcd

import numpy as np

from heurist.envs.malloc.instance import MallocInstance

__all__ = ["address_unit", "compressed_times"]


def address_unit(inst: MallocInstance) -> int:
    """``gcd(sizes, alignment)``: offsets can be restricted to its multiples without loss.

    Pushing every buffer down as far as it goes (keeping alignment) never raises the peak, and
    then each offset is 0 or an aligned end of another buffer, a multiple of this unit.
    """
    unit = inst.memory.alignment
    for s in np.unique(inst.size).tolist():
        unit = gcd(unit, int(s))
    return max(unit, 1)


def compressed_times(inst: MallocInstance) -> tuple[np.ndarray, np.ndarray]:
    """Live ranges mapped to the ranks of their endpoints (``int64 [N]`` each): same overlaps,
    smaller domains."""
    times = np.unique(np.concatenate([inst.start, inst.end]))
    return np.searchsorted(times, inst.start), np.searchsorted(times, inst.end)

"""Shared CP-SAT modelling helpers: compressed time, address units, solver parameters."""
from __future__ import annotations

from math import gcd

import numpy as np
from ortools.sat.python import cp_model

from heurist.envs.malloc.instance import MallocInstance

__all__ = ["STATUS_NAMES", "address_unit", "compressed_times", "make_solver"]

STATUS_NAMES = {cp_model.OPTIMAL: "optimal", cp_model.FEASIBLE: "feasible",
                cp_model.INFEASIBLE: "infeasible", cp_model.UNKNOWN: "unknown",
                cp_model.MODEL_INVALID: "model_invalid"}


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


def make_solver(*, time_limit: float, seed: int, workers: int) -> cp_model.CpSolver:
    """A CP-SAT solver with a time limit, a fixed seed and a fixed number of workers."""
    if time_limit <= 0:
        raise ValueError(f"time_limit must be > 0, got {time_limit}")
    if workers < 1:
        raise ValueError(f"workers must be >= 1, got {workers}")
    solver = cp_model.CpSolver()
    solver.parameters.max_time_in_seconds = float(time_limit)
    solver.parameters.random_seed = int(seed)
    solver.parameters.num_workers = int(workers)
    return solver

"""Shared CP-SAT helpers: status names and solver parameters (the instance geometry both CP-SAT
models and the exact searches use is in ``geometry``)."""
from __future__ import annotations

from ortools.sat.python import cp_model

__all__ = ["STATUS_NAMES", "make_solver"]

STATUS_NAMES = {cp_model.OPTIMAL: "optimal", cp_model.FEASIBLE: "feasible",
                cp_model.INFEASIBLE: "infeasible", cp_model.UNKNOWN: "unknown",
                cp_model.MODEL_INVALID: "model_invalid"}


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

"""PVRP solvers by name: ``solve(inst_one, *, time_limit, weights, seed) -> routes``."""
from __future__ import annotations

from collections.abc import Callable
from functools import partial

from heurist.policies.pvrp.insertion import solve_insertion
from heurist.policies.pvrp.nearest import solve_nearest
from heurist.policies.pvrp.ortools_solver import solve_ortools
from heurist.policies.pvrp.pyvrp_solver import solve_pyvrp
from heurist.policies.pvrp.random_solver import solve_random

__all__ = ["SOLVERS", "get_solver", "solver_names"]

SOLVERS: dict[str, Callable[..., list[list[list[int]]]]] = {
    "pyvrp": solve_pyvrp,
    "ortools": solve_ortools,
    # the alternative multi-trip encodings (one solver vehicle per PVRP vehicle, depot reloads)
    "pyvrp-reload": partial(solve_pyvrp, multi_trip="reload"),
    "ortools-reload": partial(solve_ortools, multi_trip="reload"),
    "nearest": solve_nearest,
    "insertion": solve_insertion,
    "random": solve_random,
}


def solver_names() -> list[str]:
    """The registered method names."""
    return list(SOLVERS)


def get_solver(name: str) -> Callable[..., list[list[list[int]]]]:
    """The solve function registered as ``name``; ``ValueError`` lists the valid names."""
    if name not in SOLVERS:
        raise ValueError(f"unknown PVRP method {name!r}; choose one of {solver_names()}")
    return SOLVERS[name]

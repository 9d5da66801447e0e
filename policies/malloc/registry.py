"""Planner registry: ``name -> function`` and one uniform entry point, ``plan``.

Every planner takes ``(inst, *, mode, time_limit, seed, workers)`` here (greedy ones ignore the
solver arguments) and returns offsets ``int64 [N]`` (``SLOW`` = -1 in mapping mode).
"""
from __future__ import annotations

from collections.abc import Callable

import numpy as np
from heurist.envs.malloc.instance import MallocInstance
from heurist.policies.malloc.cpsat_mapper import cpsat_mapping
from heurist.policies.malloc.cpsat_packer import cpsat_packing
from heurist.policies.malloc.greedy import first_fit, greedy_size, msa
from heurist.policies.malloc.modes import check_mode
from heurist.policies.malloc.shared_slots import executorch

__all__ = ["GREEDY_PLANNERS", "PLANNERS", "plan", "planner_names"]


def _greedy(fn) -> Callable[..., np.ndarray]:
    def run(inst, *, mode, time_limit, seed, workers):
        return fn(inst, mode=mode)

    run.__doc__ = fn.__doc__
    return run


def _cpsat(inst, *, mode, time_limit, seed, workers):
    if mode == "packing":
        return cpsat_packing(inst, time_limit=time_limit, seed=seed, workers=workers)
    return cpsat_mapping(inst, time_limit=time_limit, seed=seed, workers=workers)


GREEDY_PLANNERS = {"greedy_size": greedy_size, "msa": msa, "executorch": executorch,
                   "first_fit": first_fit}
PLANNERS: dict[str, Callable[..., np.ndarray]] = {
    **{name: _greedy(fn) for name, fn in GREEDY_PLANNERS.items()}, "cpsat": _cpsat}


def planner_names() -> list[str]:
    """Registered planner names, in registration order."""
    return list(PLANNERS)


def plan(inst: MallocInstance, method: str, *, mode: str = "packing", time_limit: float = 10.0,
         seed: int = 0, workers: int = 1) -> np.ndarray:
    """Runs planner ``method`` on ``inst``: offsets ``int64 [N]``."""
    check_mode(mode)
    if method not in PLANNERS:
        raise ValueError(f"unknown method {method!r}: expected one of {planner_names()}")
    return PLANNERS[method](inst, mode=mode, time_limit=time_limit, seed=seed, workers=workers)

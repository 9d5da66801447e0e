"""Planner registry: ``name -> function`` and one uniform entry point, ``plan``.

Every planner takes ``(inst, *, mode, time_limit, seed, workers)`` here (greedy ones ignore the
solver arguments) and returns offsets ``int64 [N]`` (``SLOW`` = -1 in mapping mode). ``skyline``
(exact search) plans packing mode only; when it finds nothing within the capacity it returns the
lowest greedy packing.
"""
from __future__ import annotations

from collections.abc import Callable

import numpy as np

from heurist.envs.malloc.instance import MallocInstance
from heurist.envs.malloc.modes import check_plan_mode
from heurist.policies.malloc.greedy import first_fit, greedy_size, msa
from heurist.policies.malloc.minimalloc_search import minimalloc_plan
from heurist.policies.malloc.search_common import node_budget
from heurist.policies.malloc.shared_slots import executorch
from heurist.policies.malloc.skyline_search import skyline_pack

__all__ = ["GREEDY_PLANNERS", "PLANNERS", "plan", "planner_names"]


def _greedy(fn) -> Callable[..., np.ndarray]:
    def run(inst, *, mode, time_limit, seed, workers):
        return fn(inst, mode=mode)

    run.__doc__ = fn.__doc__
    return run


def _cpsat(inst, *, mode, time_limit, seed, workers):
    # Imported here: OR-Tools costs about a second to import, which no other planner needs.
    from heurist.policies.malloc.cpsat_mapper import cpsat_mapping
    from heurist.policies.malloc.cpsat_packer import cpsat_packing

    if mode == "packing":
        return cpsat_packing(inst, time_limit=time_limit, seed=seed, workers=workers)
    return cpsat_mapping(inst, time_limit=time_limit, seed=seed, workers=workers)


SKYLINE_NODES_PER_SECOND = 500_000
"""``skyline`` turns ``time_limit`` into a node budget (deterministic, unlike a clock): about
what one core explores per second on MiniMalloc's A..K."""


def _skyline(inst, *, mode, time_limit, seed, workers):
    if mode != "packing":
        raise ValueError("method 'skyline' plans packing mode only")
    result = skyline_pack(inst, node_limit=node_budget(time_limit, SKYLINE_NODES_PER_SECOND))
    if result.offsets is not None:
        return result.offsets
    # Nothing fits within the capacity (or the budget ran out): the lowest greedy packing.
    plans = [greedy_size(inst), first_fit(inst)]
    return min(plans, key=lambda o: int((o + inst.size).max()) if inst.n else 0)


GREEDY_PLANNERS = {"greedy_size": greedy_size, "msa": msa, "executorch": executorch,
                   "first_fit": first_fit}
PLANNERS: dict[str, Callable[..., np.ndarray]] = {
    **{name: _greedy(fn) for name, fn in GREEDY_PLANNERS.items()}, "cpsat": _cpsat,
    "skyline": _skyline, "minimalloc": minimalloc_plan}
PACKING_ONLY = ("skyline", "minimalloc")


def planner_names() -> list[str]:
    """Registered planner names, in registration order."""
    return list(PLANNERS)


def plan(inst: MallocInstance, method: str, *, mode: str = "packing", time_limit: float = 10.0,
         seed: int = 0, workers: int = 1) -> np.ndarray:
    """Runs planner ``method`` on ``inst``: offsets ``int64 [N]``."""
    check_plan_mode(mode)
    if method not in PLANNERS:
        raise ValueError(f"unknown method {method!r}: expected one of {planner_names()}")
    return PLANNERS[method](inst, mode=mode, time_limit=time_limit, seed=seed, workers=workers)

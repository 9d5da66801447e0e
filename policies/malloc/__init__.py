"""Memory-mapping planners (greedy heuristics, CP-SAT, exact searches) and bounds for
``heurist.envs.malloc`` instances. The independent oracles they are judged by (``check_plan``,
``evaluate_plan``, ``peak_live_bytes``) and ``PLAN_MODES`` live with the env in
``heurist.envs.malloc`` (``oracle`` re-exports them) and are re-exported here for convenience.

The OR-Tools parts (CP-SAT planners, the LP/MIP saving bounds) load on first access: importing
OR-Tools takes about a second that the greedy planners and the exact searches never need."""
from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from heurist.envs.malloc.modes import PLAN_MODES
from heurist.envs.malloc.peak import peak_live_bytes
from heurist.envs.malloc.plan_check import VIOLATION_KINDS, PlanCheck, Violation, check_plan
from heurist.envs.malloc.plan_cost import Evaluation, evaluate_plan
from heurist.policies.malloc.conflict_graph import time_conflicts
from heurist.policies.malloc.greedy import first_fit, greedy_size, msa, plan_in_order
from heurist.policies.malloc.registry import (
    GREEDY_PLANNERS,
    PACKING_ONLY,
    PLANNERS,
    plan,
    planner_names,
)
from heurist.policies.malloc.search_common import SkylineResult
from heurist.policies.malloc.shared_slots import executorch
from heurist.policies.malloc.skyline_search import skyline_pack

__all__ = ["GREEDY_PLANNERS", "PACKING_ONLY", "PLANNERS", "PLAN_MODES", "VIOLATION_KINDS", "Evaluation",
           "PackingResult", "PlanCheck", "SavingBound", "SkylineResult", "Violation", "check_plan",
           "cpsat_mapping", "cpsat_pack", "cpsat_packing", "evaluate_plan", "executorch", "first_fit",
           "greedy_size", "lp_saving_bound", "maximal_sections", "mip_saving_bound", "msa",
           "peak_live_bytes", "plan", "plan_in_order", "planner_names", "skyline_pack",
           "time_conflicts"]

_LAZY = {"cpsat_mapping": "cpsat_mapper", "PackingResult": "cpsat_packer",
         "cpsat_pack": "cpsat_packer", "cpsat_packing": "cpsat_packer",
         "SavingBound": "mapping_bound", "lp_saving_bound": "mapping_bound",
         "maximal_sections": "mapping_bound", "mip_saving_bound": "mapping_bound"}

if TYPE_CHECKING:
    from heurist.policies.malloc.cpsat_mapper import cpsat_mapping
    from heurist.policies.malloc.cpsat_packer import PackingResult, cpsat_pack, cpsat_packing
    from heurist.policies.malloc.mapping_bound import (
        SavingBound,
        lp_saving_bound,
        maximal_sections,
        mip_saving_bound,
    )


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(f"{__name__}.{_LAZY[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

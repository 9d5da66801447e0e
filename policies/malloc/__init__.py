"""Memory-mapping planners (greedy heuristics and CP-SAT), bounds and independent oracles for
``heurist.envs.malloc`` instances."""
from heurist.policies.malloc.conflict_graph import time_conflicts
from heurist.policies.malloc.cost_oracle import Evaluation, evaluate
from heurist.policies.malloc.cpsat_mapper import cpsat_mapping
from heurist.policies.malloc.cpsat_packer import PackingResult, cpsat_pack, cpsat_packing
from heurist.policies.malloc.greedy import first_fit, greedy_size, msa, plan_in_order
from heurist.policies.malloc.mapping_bound import (
    SavingBound,
    lp_saving_bound,
    maximal_sections,
    mip_saving_bound,
)
from heurist.policies.malloc.modes import MODES
from heurist.policies.malloc.peak_bound import peak_live_bytes
from heurist.policies.malloc.plan_check import VIOLATION_KINDS, PlanCheck, Violation, check_plan
from heurist.policies.malloc.registry import (
    GREEDY_PLANNERS,
    PACKING_ONLY,
    PLANNERS,
    plan,
    planner_names,
)
from heurist.policies.malloc.shared_slots import executorch
from heurist.policies.malloc.skyline_search import SkylineResult, skyline_pack

__all__ = ["GREEDY_PLANNERS", "MODES", "PACKING_ONLY", "PLANNERS", "VIOLATION_KINDS", "Evaluation",
           "PackingResult", "PlanCheck", "SavingBound", "SkylineResult", "Violation", "check_plan",
           "cpsat_mapping", "cpsat_pack", "cpsat_packing", "evaluate", "executorch", "first_fit",
           "greedy_size", "lp_saving_bound", "maximal_sections", "mip_saving_bound", "msa",
           "peak_live_bytes", "plan", "plan_in_order", "planner_names", "skyline_pack",
           "time_conflicts"]

"""Memory-mapping planners (greedy heuristics, CP-SAT, exact searches) and bounds for
``heurist.envs.malloc`` instances. The independent oracles they are judged by (``check_plan``,
``evaluate_plan``, ``peak_live_bytes``) and ``PLAN_MODES`` live with the env in
``heurist.envs.malloc.oracle``/``modes`` and are re-exported here for convenience."""
from heurist.envs.malloc.modes import PLAN_MODES
from heurist.envs.malloc.oracle import (
    VIOLATION_KINDS,
    Evaluation,
    PlanCheck,
    Violation,
    check_plan,
    evaluate_plan,
    peak_live_bytes,
)
from heurist.policies.malloc.conflict_graph import time_conflicts
from heurist.policies.malloc.cpsat_mapper import cpsat_mapping
from heurist.policies.malloc.cpsat_packer import PackingResult, cpsat_pack, cpsat_packing
from heurist.policies.malloc.greedy import first_fit, greedy_size, msa, plan_in_order
from heurist.policies.malloc.mapping_bound import (
    SavingBound,
    lp_saving_bound,
    maximal_sections,
    mip_saving_bound,
)
from heurist.policies.malloc.registry import (
    GREEDY_PLANNERS,
    PACKING_ONLY,
    PLANNERS,
    plan,
    planner_names,
)
from heurist.policies.malloc.shared_slots import executorch
from heurist.policies.malloc.skyline_search import SkylineResult, skyline_pack

__all__ = ["GREEDY_PLANNERS", "PACKING_ONLY", "PLANNERS", "PLAN_MODES", "VIOLATION_KINDS", "Evaluation",
           "PackingResult", "PlanCheck", "SavingBound", "SkylineResult", "Violation", "check_plan",
           "cpsat_mapping", "cpsat_pack", "cpsat_packing", "evaluate_plan", "executorch", "first_fit",
           "greedy_size", "lp_saving_bound", "maximal_sections", "mip_saving_bound", "msa",
           "peak_live_bytes", "plan", "plan_in_order", "planner_names", "skyline_pack",
           "time_conflicts"]

"""PVRP solvers (PyVRP, OR-Tools, constructive heuristics), the registry and batch solving. The
route oracles live with the env (:mod:`heurist.envs.pvrp.oracle`) and are re-exported here."""
from heurist.envs.pvrp.oracle import (
    CheckResult,
    Routes,
    check_routes,
    evaluate_routes,
    preference_collected,
    vehicle_times,
)
from heurist.policies.pvrp.batch import SolveRecord, solve_batch, solve_one
from heurist.policies.pvrp.costs import SCALE, arc_costs, cost_offset, integer_costs
from heurist.policies.pvrp.insertion import solve_insertion
from heurist.policies.pvrp.nearest import solve_nearest, usable_mask
from heurist.policies.pvrp.ortools_reload import TIE, build_reload_model
from heurist.policies.pvrp.ortools_solver import solve_ortools
from heurist.policies.pvrp.pyvrp_solver import build_pyvrp_data, solve_pyvrp
from heurist.policies.pvrp.random_solver import solve_random
from heurist.policies.pvrp.registry import SOLVERS, get_solver, solver_names
from heurist.policies.pvrp.trip_bound import trip_bound

__all__ = [
    "SCALE",
    "SOLVERS",
    "TIE",
    "CheckResult",
    "Routes",
    "SolveRecord",
    "arc_costs",
    "build_pyvrp_data",
    "build_reload_model",
    "check_routes",
    "cost_offset",
    "evaluate_routes",
    "get_solver",
    "integer_costs",
    "preference_collected",
    "solve_batch",
    "solve_insertion",
    "solve_nearest",
    "solve_one",
    "solve_ortools",
    "solve_pyvrp",
    "solve_random",
    "solver_names",
    "trip_bound",
    "usable_mask",
    "vehicle_times",
]

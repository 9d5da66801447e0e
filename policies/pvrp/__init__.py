"""PVRP solvers (PyVRP, OR-Tools, constructive heuristics) and the independent oracles."""
from heurist.policies.pvrp.oracle import (
                                          CheckResult,
                                          Routes,
                                          check_solution,
                                          evaluate,
                                          preference_collected,
                                          vehicle_times,
)

__all__ = ["CheckResult", "Routes", "check_solution", "evaluate", "preference_collected",
           "vehicle_times"]

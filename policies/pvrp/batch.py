"""Solving a batch of PVRP instances in parallel processes, every solution checked by the oracle."""
from __future__ import annotations

import multiprocessing
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass

from tqdm import tqdm

from heurist.envs.pvrp.instance import PVRPInstances, Weights
from heurist.envs.pvrp.oracle import check_routes
from heurist.policies.pvrp.registry import get_solver

__all__ = ["SolveRecord", "solve_batch", "solve_one"]


@dataclass(frozen=True)
class SolveRecord:
    """One solved instance: its batch index, routes, oracle objective and wall seconds."""

    index: int
    objective: float
    seconds: float
    routes: list[list[list[int]]]


def solve_one(inst_one: PVRPInstances, method: str, *, index: int = 0, time_limit: float = 1.0,
              weights: Weights | None = None, seed: int = 0) -> SolveRecord:
    """Solves one instance and validates it; an invalid solution raises ``ValueError``."""
    weights = weights or Weights()
    solve = get_solver(method)
    start = time.perf_counter()
    routes = solve(inst_one, time_limit=time_limit, weights=weights, seed=seed)
    seconds = time.perf_counter() - start
    check = check_routes(inst_one, routes, weights=weights)
    if not check.ok:
        raise ValueError(f"{method}: instance {index}: invalid solution: "
                         + "; ".join(check.violations[:5]))
    return SolveRecord(index=index, objective=float(check.objective), seconds=seconds, routes=routes)


def _pool_context():
    # torchrl switches the default start method to spawn, which re-imports torch in every worker
    # (tens of seconds); the solvers use no torch, so forking is safe and starts at once
    if "fork" in multiprocessing.get_all_start_methods():
        return multiprocessing.get_context("fork")
    return multiprocessing.get_context()


def _job(args) -> SolveRecord:
    inst, method, index, time_limit, weights, seed = args
    return solve_one(inst, method, index=index, time_limit=time_limit, weights=weights, seed=seed)


def solve_batch(inst: PVRPInstances, method: str, *, time_limit: float = 1.0,
                weights: Weights | None = None, seed: int = 0, workers: int = 1,
                progress: bool = True) -> list[SolveRecord]:
    """Solves every instance of ``inst`` (instance ``s`` with seed ``seed + s``), in index order.

    ``workers > 1`` spreads the instances over that many processes.
    """
    get_solver(method)  # fail fast on a bad name
    if workers < 1:
        raise ValueError(f"workers must be >= 1, got {workers}")
    if not 0 <= seed <= 2**32 - inst.S:  # PyVRP seeds are 32-bit unsigned
        raise ValueError(f"seed must be in 0..{2**32 - inst.S} (instance s uses seed + s), got {seed}")
    jobs = [(inst[s], method, s, time_limit, weights or Weights(), seed + s) for s in range(inst.S)]
    bar = tqdm(total=len(jobs), desc=f"pvrp {method}", disable=not progress, leave=False)
    records: list[SolveRecord] = []
    if workers == 1 or len(jobs) == 1:
        for job in jobs:
            records.append(_job(job))
            bar.update()
    else:
        with ProcessPoolExecutor(max_workers=min(workers, len(jobs)),
                                 mp_context=_pool_context()) as pool:
            for record in pool.map(_job, jobs):
                records.append(record)
                bar.update()
    bar.close()
    return records

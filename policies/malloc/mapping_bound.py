"""Upper bounds on the cost-model time a mapping can save (lower bounds on its program time).

Both relax the packing to *capacity per time section*: at every maximal set of simultaneously
live buffers, the fast ones must fit in ``C`` bytes; fragmentation and alignment are ignored, so
every valid plan satisfies it. The cost model itself is kept exact (an op takes
``max(compute, memory)``, linearised with one variable per op):

* ``lp_saving_bound``: fractional ``x in [0, 1]`` solved by GLOP (an LP; fast).
* ``mip_saving_bound``: ``x in {0, 1}`` solved by SCIP (via OR-Tools' linear solver); under a
  time limit the solver's best *bound* is returned, so it stays a valid upper bound.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from ortools.linear_solver import pywraplp

from heurist.envs.malloc.instance import MallocInstance

__all__ = ["SavingBound", "lp_saving_bound", "maximal_sections", "mip_saving_bound"]


@dataclass(frozen=True)
class SavingBound:
    """``saving``: upper bound on seconds saved; ``time``: matching lower bound on program time;
    ``optimal``: the relaxation was solved to optimality (else a looser, still valid, bound)."""

    saving: float
    time: float
    optimal: bool


def maximal_sections(inst: MallocInstance) -> list[np.ndarray]:
    """Buffer index sets live at the steps where the live set is maximal (just before an end).

    Every set of simultaneously live buffers is a subset of one of these.
    """
    if inst.n == 0:
        return []
    times = np.unique(np.concatenate([inst.start, inst.end]))
    has_start = np.isin(times, inst.start)
    has_end = np.isin(times, inst.end)
    keep = [k for k in range(len(times) - 1) if has_start[k] and has_end[k + 1]]
    by_start = np.argsort(inst.start, kind="stable")
    sorted_start = inst.start[by_start]
    sections = []
    for k in keep:
        t = times[k]
        cand = by_start[: np.searchsorted(sorted_start, t, side="right")]
        sections.append(np.sort(cand[inst.end[cand] > t]))
    return sections


def _solve(inst: MallocInstance, solver_name: str, integer: bool, time_limit: float) -> SavingBound:
    mem = inst.memory
    solver = pywraplp.Solver.CreateSolver(solver_name)
    if solver is None:
        raise ValueError(f"OR-Tools solver {solver_name!r} is not available")
    solver.SetTimeLimit(int(time_limit * 1000))
    x = [solver.IntVar(0, 1, f"x{i}") if integer else solver.NumVar(0, 1, f"x{i}")
         for i in range(inst.n)]
    for section in maximal_sections(inst):
        solver.Add(sum(int(inst.size[i]) * x[i] for i in section) <= inst.capacity)
    compute = inst.op_flops / mem.flops_per_s
    used_ops = np.unique(inst.use_op)
    slow = np.bincount(inst.use_op, weights=inst.use_bytes.astype(np.float64),
                       minlength=inst.n_ops) / mem.bw_slow
    gain = inst.use_bytes * (1.0 / mem.bw_slow - 1.0 / mem.bw_fast)
    # Times in microseconds keep the LP well scaled (raw op times are ~1e-9 s).
    scale = 1e6
    terms: dict[int, list] = {int(o): [] for o in used_ops}
    for b, o, g in zip(inst.use_buffer.tolist(), inst.use_op.tolist(), gain.tolist()):
        terms[o].append(g * scale * x[b])
    op_time = []
    for o in used_ops.tolist():
        t = solver.NumVar(compute[o] * scale, solver.infinity(), f"t{o}")
        solver.Add(t >= slow[o] * scale - sum(terms[o]))
        op_time.append(t)
    solver.Minimize(sum(op_time))
    status = solver.Solve()
    unused = float(np.delete(compute, used_ops).sum())
    all_slow = float(np.maximum(compute, slow).sum())
    if status == pywraplp.Solver.OPTIMAL:
        time = solver.Objective().Value() / scale + unused
        return SavingBound(saving=max(0.0, all_slow - time), time=time, optimal=True)
    if status == pywraplp.Solver.FEASIBLE and integer:
        time = solver.Objective().BestBound() / scale + unused
        return SavingBound(saving=max(0.0, all_slow - time), time=time, optimal=False)
    # No usable bound within the limit: fall back to the trivial one (everything fast).
    time = float(np.maximum(compute, np.bincount(inst.use_op, weights=inst.use_bytes.astype(
        np.float64), minlength=inst.n_ops) / mem.bw_fast).sum())
    return SavingBound(saving=all_slow - time, time=time, optimal=False)


def lp_saving_bound(inst: MallocInstance, *, time_limit: float = 60.0) -> SavingBound:
    """LP relaxation (GLOP) of the section-capacity mapping problem."""
    return _solve(inst, "GLOP", False, time_limit)


def mip_saving_bound(inst: MallocInstance, *, time_limit: float = 60.0) -> SavingBound:
    """0/1 section-capacity mapping problem (SCIP); a valid bound even when stopped early."""
    return _solve(inst, "SCIP", True, time_limit)

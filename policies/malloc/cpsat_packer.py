"""Exact packing with CP-SAT: one box per buffer (time x address), ``AddNoOverlap2D``.

Minimises the peak address, or (``capacity`` given) decides whether a packing fits in it.
Time is compressed to endpoint ranks and addresses to multiples of ``address_unit``, neither
of which loses solutions. The best greedy plan is the hint and the upper bound; the peak of
live bytes is the lower bound.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from ortools.sat.python import cp_model

from heurist.envs.malloc.instance import MallocInstance
from heurist.envs.malloc.peak import peak_live_bytes
from heurist.policies.malloc.cpsat_common import STATUS_NAMES, make_solver
from heurist.policies.malloc.geometry import address_unit, compressed_times
from heurist.policies.malloc.greedy import first_fit, greedy_size

__all__ = ["PackingResult", "cpsat_pack", "cpsat_packing"]


@dataclass(frozen=True)
class PackingResult:
    """``offsets``: ``int64 [N]`` or ``None`` when no packing was found; ``status``: CP-SAT's
    (``optimal``, ``feasible``, ``infeasible``, ``unknown``); ``peak``: ``max(offset + size)``
    of the offsets (``None`` without them); ``lower_bound``: proven lower bound on the peak."""

    offsets: np.ndarray | None
    status: str
    peak: int | None
    lower_bound: int


def _peak(inst: MallocInstance, offsets: np.ndarray) -> int:
    return int((offsets + inst.size).max()) if inst.n else 0


def cpsat_pack(inst: MallocInstance, *, capacity: int | None = None, time_limit: float = 10.0,
               seed: int = 0, workers: int = 1, hint: bool = True) -> PackingResult:
    """CP-SAT packing: minimise the peak (``capacity=None``) or fit within ``capacity``."""
    lower = peak_live_bytes(inst)
    if inst.n == 0:
        return PackingResult(np.zeros(0, dtype=np.int64), "optimal", 0, 0)
    greedy = min((greedy_size(inst), first_fit(inst)), key=lambda o: _peak(inst, o))
    upper = _peak(inst, greedy) if capacity is None else int(capacity)
    if lower > upper:
        return PackingResult(None, "infeasible", None, lower)
    unit = address_unit(inst)
    align = inst.memory.alignment // unit
    size = (inst.size // unit).tolist()
    top = upper // unit
    t0, t1 = compressed_times(inst)
    model = cp_model.CpModel()
    offsets, x_boxes, y_boxes = [], [], []
    for i in range(inst.n):
        k = model.NewIntVar(0, (top - size[i]) // align, f"k{i}")
        y = k * align if align > 1 else k
        offsets.append(k)
        x_boxes.append(model.NewFixedSizeIntervalVar(int(t0[i]), int(t1[i] - t0[i]), f"t{i}"))
        y_boxes.append(model.NewFixedSizeIntervalVar(y, size[i], f"a{i}"))
    model.AddNoOverlap2D(x_boxes, y_boxes)
    if capacity is None:
        peak = model.NewIntVar(-(-lower // unit), top, "peak")
        for i in range(inst.n):
            model.Add(peak >= offsets[i] * align + size[i])
        model.Minimize(peak)
    if hint and _peak(inst, greedy) <= upper:
        for i in range(inst.n):
            model.AddHint(offsets[i], int(greedy[i]) // unit // align)
    solver = make_solver(time_limit=time_limit, seed=seed, workers=workers)
    status = solver.Solve(model)
    name = STATUS_NAMES.get(status, "unknown")
    if status in (cp_model.OPTIMAL, cp_model.FEASIBLE):
        out = np.array([solver.Value(k) for k in offsets], dtype=np.int64) * align * unit
        if capacity is None:
            bound = max(lower, int(solver.BestObjectiveBound()) * unit)
        else:
            bound = lower
        return PackingResult(out, name, _peak(inst, out), bound)
    if capacity is None:  # cannot happen with a valid hint; keep the greedy plan regardless
        return PackingResult(greedy, "feasible", _peak(inst, greedy), lower)
    return PackingResult(None, name, None, lower)


def cpsat_packing(inst: MallocInstance, *, time_limit: float = 10.0, seed: int = 0,
                  workers: int = 1) -> np.ndarray:
    """Minimum-peak offsets ``int64 [N]`` found by CP-SAT within ``time_limit`` seconds."""
    return cpsat_pack(inst, time_limit=time_limit, seed=seed, workers=workers).offsets

"""Mapping with CP-SAT: optional boxes (present = buffer in fast memory) under ``AddNoOverlap2D``
with addresses in ``[0, C)``, minimising the cost-model program time.

The cost model is kept exact up to integer rounding: one time variable per op that has uses,
``t_o >= compute_o`` and ``t_o >= slow_o - sum(saving of its fast uses)``, in units of
``1 / scale`` seconds with ``scale`` chosen so the largest op time is about 10**7 units. The plan
found is judged by the exact cost model afterwards. The greedy ``msa`` plan is the hint.
"""
from __future__ import annotations

import numpy as np
from ortools.sat.python import cp_model

from heurist.envs.malloc.instance import SLOW, MallocInstance
from heurist.policies.malloc.cpsat_common import make_solver
from heurist.policies.malloc.geometry import address_unit, compressed_times
from heurist.policies.malloc.greedy import msa

__all__ = ["cpsat_mapping"]


def cpsat_mapping(inst: MallocInstance, *, time_limit: float = 10.0, seed: int = 0,
                  workers: int = 1) -> np.ndarray:
    """Offsets ``int64 [N]`` (``SLOW`` = -1) maximising the saving found within ``time_limit``."""
    hint = msa(inst, mode="mapping")
    if inst.n == 0:
        return hint
    mem = inst.memory
    unit = address_unit(inst)
    align = mem.alignment // unit
    size = (inst.size // unit).tolist()
    top = inst.capacity // unit
    t0, t1 = compressed_times(inst)
    model = cp_model.CpModel()
    present, offsets, x_boxes, y_boxes = [], [], [], []
    for i in range(inst.n):
        fits = size[i] <= top
        lit = model.NewBoolVar(f"fast{i}")
        if not fits:
            model.Add(lit == 0)
        k = model.NewIntVar(0, max(0, (top - size[i]) // align), f"k{i}")
        y = k * align if align > 1 else k
        present.append(lit)
        offsets.append(k)
        x_boxes.append(model.NewOptionalFixedSizeIntervalVar(int(t0[i]), int(t1[i] - t0[i]), lit,
                                                             f"t{i}"))
        y_boxes.append(model.NewOptionalFixedSizeIntervalVar(y, size[i], lit, f"a{i}"))
    model.AddNoOverlap2D(x_boxes, y_boxes)

    compute = inst.op_flops / mem.flops_per_s
    slow = np.bincount(inst.use_op, weights=inst.use_bytes.astype(np.float64),
                       minlength=inst.n_ops) / mem.bw_slow
    gain = inst.use_bytes * (1.0 / mem.bw_slow - 1.0 / mem.bw_fast)
    used_ops = np.unique(inst.use_op)
    peak_time = float(np.maximum(compute, slow)[used_ops].max()) if len(used_ops) else 0.0
    scale = 1e7 / peak_time if peak_time > 0 else 1.0
    by_op: dict[int, list] = {int(o): [] for o in used_ops}
    for b, o, g in zip(inst.use_buffer.tolist(), inst.use_op.tolist(), gain.tolist()):
        by_op[o].append((round(g * scale), present[b]))
    op_time = []
    for o in used_ops.tolist():
        lo = round(compute[o] * scale)
        hi = max(lo, round(slow[o] * scale))
        t = model.NewIntVar(lo, hi, f"op{o}")
        model.Add(t >= round(slow[o] * scale) - sum(g * lit for g, lit in by_op[o]))
        op_time.append(t)
    model.Minimize(sum(op_time))
    for i in range(inst.n):
        model.AddHint(present[i], int(hint[i] != SLOW))
        model.AddHint(offsets[i], int(max(hint[i], 0)) // unit // align)
    solver = make_solver(time_limit=time_limit, seed=seed, workers=workers)
    status = solver.Solve(model)
    if status not in (cp_model.OPTIMAL, cp_model.FEASIBLE):
        return hint
    out = np.array([solver.Value(k) for k in offsets], dtype=np.int64) * align * unit
    fast = np.array([solver.Value(lit) for lit in present], dtype=bool)
    return np.where(fast, out, SLOW)

"""The malloc env's oracles: decode an action log into a plan, then judge the plan.

Independent of the step code (``dynamics``/``candidates``' numba kernels): the decoder replays the
log in plain numpy, recomputing each buffer's candidate offsets from the placed buffers by brute
force; the plan is then checked and timed by the planners' independent oracles
(``heurist.policies.malloc.check_plan`` and ``evaluate``). Only the decision order
(``buffer_order``) is shared: it is the definition of which buffer comes next, not dynamics.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from tensordict import TensorDictBase

from heurist.envs.malloc.candidates import buffer_order
from heurist.envs.malloc.cost_model import isolated_saving
from heurist.envs.malloc.generator import row_instance
from heurist.envs.malloc.instance import SLOW, MallocInstance

__all__ = ["Decoded", "check_plan", "check_solution", "decode", "evaluate", "plan_value"]


@dataclass
class Decoded:
    """One decoded action log: ``plan`` int64 [N] (``-1`` slow, ``-2`` undecided), ``legal``
    (every action was allowed), ``failed`` (a packing dead end ended it)."""

    plan: np.ndarray
    legal: bool
    failed: bool


def _candidates(inst: MallocInstance, plan: np.ndarray, b: int, k: int) -> list[int]:
    """Brute force: every 0-or-top-edge offset (aligned) where ``b`` fits, lowest ``k``."""
    fast = plan >= 0
    other = fast & (inst.start < inst.end[b]) & (inst.end > inst.start[b])
    lo, hi = plan[other], plan[other] + inst.size[other]
    a, sz, cap = inst.memory.alignment, int(inst.size[b]), inst.capacity
    points = sorted({0, *hi.tolist()})
    out = []
    for x in points:
        x = -(-x // a) * a
        if x + sz <= cap and not np.any((lo < x + sz) & (hi > x)) and x not in out:
            out.append(x)
    return sorted(out)[:k]


def decode(env, inst: MallocInstance, actions: np.ndarray) -> Decoded:
    """Replays ``actions`` [T] of one row under ``env``'s configuration (mode, K, order, UNDO)."""
    n = inst.n
    order = buffer_order(inst.size, inst.start, inst.end, isolated_saving(inst), env.order)
    plan = np.full(n, -2, dtype=np.int64)
    pos, undos = 0, (env.max_undos if env.undo else 0)
    for a in np.asarray(actions).reshape(-1).tolist():
        if pos >= n:
            break  # steps after the episode ended are ignored
        b = int(order[pos])
        cands = _candidates(inst, plan, b, env.k)
        can_undo = env.undo and pos > 0 and undos > 0
        if not env.mapping and not cands and not can_undo:
            return Decoded(plan, True, True)
        if a < env.k:
            if a >= len(cands):
                return Decoded(plan, False, False)
            plan[b] = cands[a]
            pos += 1
        elif env.mapping and a == env.leave_action:
            plan[b] = SLOW
            pos += 1
        elif env.undo and a == env.undo_action and can_undo:
            pos -= 1
            plan[order[pos]] = -2
            undos -= 1
        else:
            return Decoded(plan, False, False)
        if pos < n and not env.mapping:
            b = int(order[pos])
            if not _candidates(inst, plan, b, env.k) and not (env.undo and pos > 0 and undos > 0):
                return Decoded(plan, True, True)
    return Decoded(plan, True, False)


def check_plan(env, inst: MallocInstance, dec: Decoded) -> bool:
    """The planners' independent ``check_plan`` on the decoded plan: a complete packing in packing
    mode; otherwise (mapping, or a packing episode that hit a dead end) undecided buffers count as
    slow and take no fast memory."""
    from heurist.policies.malloc import check_plan as planners_check

    plan = np.where(dec.plan >= 0, dec.plan, SLOW)
    complete = bool(np.all(dec.plan >= 0))
    mode = "packing" if (not env.mapping and complete) else "mapping"
    return planners_check(inst, plan, mode=mode).valid


def plan_value(env, inst: MallocInstance, dec: Decoded) -> float:
    """The episode return of a decoded plan.

    Mapping: ``(T_slow - T_plan) / T_slow``. Packing: ``-peak / C``, and a dead end adds
    ``-(1 + unplaced bytes / total bytes)``.
    """
    plan = dec.plan
    if env.mapping:
        from heurist.policies.malloc import evaluate as planners_evaluate

        ev = planners_evaluate(inst, np.where(plan >= 0, plan, SLOW))
        if ev.time_all_slow <= 0:
            return 0.0
        return (ev.time_all_slow - ev.time) / ev.time_all_slow
    placed = plan >= 0
    peak = int((plan[placed] + inst.size[placed]).max()) if placed.any() else 0
    value = -peak / max(inst.capacity, 1)
    if dec.failed:
        value -= 1.0 + inst.size[~placed].sum() / max(int(inst.size.sum()), 1)
    return value


def _rows(instance: TensorDictBase, actions: torch.Tensor):
    acts = torch.as_tensor(actions).reshape(actions.shape[0], -1).cpu().numpy()
    for i in range(instance.batch_size[0]):
        yield row_instance(instance, i), acts[i]


def check_solution(env, instance: TensorDictBase, actions: torch.Tensor) -> torch.Tensor:
    """``bool [B]``: every action legal and the decoded plan feasible (``check_plan``)."""
    out = []
    for inst, a in _rows(instance, actions):
        dec = decode(env, inst, a)
        out.append(dec.legal and check_plan(env, inst, dec))
    return torch.tensor(out, dtype=torch.bool)


def evaluate(env, instance: TensorDictBase, actions: torch.Tensor) -> torch.Tensor:
    """``float64 [B]``: the return of each row's action log (``plan_value`` of its decoding)."""
    out = []
    for inst, a in _rows(instance, actions):
        dec = decode(env, inst, a)
        out.append(plan_value(env, inst, dec) if dec.legal else float("nan"))
    return torch.tensor(out, dtype=torch.float64)

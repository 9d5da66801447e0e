"""The malloc env's oracles, and the problem-level checks every planner is judged by.

Env level, with the signatures shared by every heurist env (the configuration the log is read
under is keyword-only: ``mode``, ``k``, ``order``, ``undo``, ``max_undos``, see ``replay.Rules``):

* ``check_solution(instance, actions)`` -> bool [B]: every action legal and the plan feasible;
* ``evaluate(instance, actions)`` -> float64 [B]: the episode return, recomputed;
* ``legal_actions(instance, actions)`` -> bool [B, n_actions]: the legal moves after a log prefix.

All three replay the log in plain numpy (``replay``), never through the step code or its mask.

Problem level (re-exported here): ``check_plan`` (validity of offsets), ``evaluate_plan`` (the
cost-model time, written apart from ``cost_model``) and ``peak_live_bytes`` (the lower bound).
"""
from __future__ import annotations

import numpy as np
import torch
from tensordict import TensorDictBase

from heurist.envs.malloc.generator import row_instance
from heurist.envs.malloc.instance import SLOW, MallocInstance
from heurist.envs.malloc.peak import peak_live_bytes
from heurist.envs.malloc.plan_check import VIOLATION_KINDS, PlanCheck, Violation, check_plan
from heurist.envs.malloc.plan_cost import Evaluation, evaluate_plan
from heurist.envs.malloc.replay import Replayed, Rules, legal_after, replay

__all__ = ["VIOLATION_KINDS", "Evaluation", "PlanCheck", "Violation", "check_plan",
           "check_solution", "evaluate", "evaluate_plan", "legal_actions", "peak_live_bytes",
           "plan_feasible", "plan_value"]


def plan_feasible(inst: MallocInstance, r: Replayed, rules: Rules) -> bool:
    """``check_plan`` on a replayed plan: a complete packing in packing mode; otherwise (mapping,
    or a packing episode that hit a dead end) undecided buffers count as slow."""
    plan = np.where(r.plan >= 0, r.plan, SLOW)
    complete = bool(np.all(r.plan >= 0))
    mode = "packing" if (not rules.mapping and complete) else "mapping"
    return check_plan(inst, plan, mode=mode).valid


def plan_value(inst: MallocInstance, r: Replayed, rules: Rules) -> float:
    """The episode return of a replayed plan.

    Mapping: ``(T_slow - T_plan) / T_slow``. Packing: ``-peak / C``, and a dead end adds
    ``-(1 + unplaced bytes / total bytes)``.
    """
    plan = r.plan
    if rules.mapping:
        ev = evaluate_plan(inst, np.where(plan >= 0, plan, SLOW))
        if ev.time_all_slow <= 0:
            return 0.0
        return (ev.time_all_slow - ev.time) / ev.time_all_slow
    placed = plan >= 0
    peak = int((plan[placed] + inst.size[placed]).max()) if placed.any() else 0
    value = -peak / max(inst.capacity, 1)
    if r.failed:
        value -= 1.0 + inst.size[~placed].sum() / max(int(inst.size.sum()), 1)
    return value


def _replays(instance: TensorDictBase, actions: torch.Tensor, rules: Rules):
    B = instance.batch_size[0]
    acts = torch.as_tensor(actions).cpu().numpy().reshape(B, -1) if B else np.zeros((0, 0))
    for i in range(B):
        inst = row_instance(instance, i)
        yield inst, replay(inst, acts[i], rules)


def check_solution(instance: TensorDictBase, actions: torch.Tensor, **rules) -> torch.Tensor:
    """``bool [B]``: every action of ``actions`` [B, T] legal and the plan feasible."""
    ru = Rules(**rules)
    return torch.tensor([r.legal and plan_feasible(inst, r, ru)
                         for inst, r in _replays(instance, actions, ru)], dtype=torch.bool)


def evaluate(instance: TensorDictBase, actions: torch.Tensor, **rules) -> torch.Tensor:
    """``float64 [B]``: the return of each row's log ``actions`` [B, T] (NaN if one is illegal)."""
    ru = Rules(**rules)
    return torch.tensor([plan_value(inst, r, ru) if r.legal else float("nan")
                         for inst, r in _replays(instance, actions, ru)], dtype=torch.float64)


def legal_actions(instance: TensorDictBase, actions: torch.Tensor, **rules) -> torch.Tensor:
    """``bool [B, n_actions]``: the legal actions after the log prefix ``actions`` [B, t]
    (``t`` may be 0); a row whose episode ended allows action 0 only."""
    ru = Rules(**rules)
    out = np.zeros((instance.batch_size[0], ru.n_actions), dtype=bool)
    for i, (inst, r) in enumerate(_replays(instance, actions, ru)):
        out[i] = legal_after(inst, r, ru)
    return torch.from_numpy(out)

"""Runs a td-policy through a batched env and records the decisions (no gradients)."""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
from tensordict import TensorDictBase

__all__ = ["Rollout", "collect"]


@dataclass
class Rollout:
    """One batched episode. Decision tensors hold the N decisions of rows that were not done.

    ``slot_features`` [N, k, F], ``request_features`` [N, F2], ``action_mask`` [N, k],
    ``actions`` [N], ``teacher`` [N, k] (Belady-optimal slots, or None), ``row`` [N] (batch row of each
    decision), ``misses`` [B] (miss cost of each row), ``returns`` [B] (summed rewards),
    ``action_log`` [B, S] (every step's actions, the env's action log).
    """

    slot_features: torch.Tensor | None
    request_features: torch.Tensor | None
    action_mask: torch.Tensor | None
    actions: torch.Tensor | None
    teacher: torch.Tensor | None
    row: torch.Tensor | None
    misses: torch.Tensor
    returns: torch.Tensor
    action_log: torch.Tensor


def collect(env, instance: TensorDictBase, policy: Callable[[TensorDictBase], torch.Tensor], *,
            record: bool = True, teacher: bool = False, follow_teacher: bool = False,
            max_steps: int = 10_000_000) -> Rollout:
    """Plays ``policy`` on every row of ``instance`` [B] until all rows are done.

    ``record``: keep the decisions' observations (for training). ``teacher``: also record the
    env's Belady choice (``env.opt_action()``); ``follow_teacher``: act with it instead of the
    policy (the first DAgger iteration).
    """
    td = env.reset(instance=instance)
    B = td.batch_size[0]
    rec: dict[str, list] = {"slot_features": [], "request_features": [], "action_mask": [],
                            "actions": [], "teacher": [], "row": []}
    returns = torch.zeros(B, dtype=torch.float64)
    log = []
    steps = 0
    while not bool(td["done"].all()):
        if steps >= max_steps:
            raise RuntimeError(f"rollout did not finish in {max_steps} steps")
        active = ~td["done"].reshape(B)
        opt = env.opt_action() if (teacher or follow_teacher) else None
        action = opt.clone() if follow_teacher else policy(td)
        action = torch.where(active, action, torch.zeros_like(action))
        if record:
            idx = active.nonzero().squeeze(-1)
            rec["slot_features"].append(td["slot_features"][idx])
            rec["request_features"].append(td["request_features"][idx])
            rec["action_mask"].append(td["action_mask"][idx])
            rec["actions"].append(action[idx])
            rec["row"].append(idx)
            if opt is not None:
                rec["teacher"].append(env.opt_mask()[idx])
        td["action"] = action
        td = env.step(td)["next"]
        returns += td["reward"].reshape(B).to(torch.float64)
        log.append(action)
        steps += 1
    cat = {k: (torch.cat(v) if v else None) for k, v in rec.items()}
    return Rollout(cat["slot_features"], cat["request_features"], cat["action_mask"],
                   cat["actions"], cat["teacher"], cat["row"], env.misses().to(torch.float64),
                   returns, torch.stack(log, 1) if log else torch.zeros(B, 0, dtype=torch.int64))

"""Beam search for single-agent routing policies (``PVRPSequential``).

Keeps the ``width`` prefixes of highest summed log-probability per instance. The policy's state
is reindexed with the surviving parents (``state[idx]``); the env, whose state lives inside the
env object and cannot be reindexed, is replayed from the reset along the surviving prefixes
(cheap next to the network: the numba step). The beam's prefixes are kept whole, so every
candidate is a complete, legal action log; all are handed back and the decoding unit keeps the
one with the best objective, not the most likely one.
"""
from __future__ import annotations

import torch
from tensordict import TensorDictBase

from heurist.envs.common import HeuristEnv
from heurist.policies.decoding.episode import Trajectory, _max_steps
from heurist.policies.nets.routing.base import RoutingPolicy

__all__ = ["beam_search", "replay"]


def replay(env: HeuristEnv, instance: TensorDictBase, actions: torch.Tensor,
           priorities: torch.Tensor | None = None) -> tuple[TensorDictBase, torch.Tensor]:
    """Steps the env along the log ``actions`` [B, t, *A] from the reset -> (the observation
    after the log, the summed rewards float64 [B])."""
    td = env.reset(instance=instance)
    B = td.batch_size[0]
    reward = torch.zeros(B, dtype=torch.float64, device=td.device)
    for t in range(actions.shape[1]):
        td["action"] = actions[:, t]
        if priorities is not None:
            td["priority"] = priorities[:, t]
        td = env.step(td)["next"]
        reward += td["reward"].reshape(B).double()
    return td, reward


def beam_search(env: HeuristEnv, policy: RoutingPolicy, instance: TensorDictBase, *,
                width: int = 4) -> Trajectory:
    """All ``width`` beams of every instance ``[B]`` -> a :class:`Trajectory` of ``width * B``
    rows, beam-major (row ``w * B + b`` is beam ``w`` of instance ``b``); ``logp`` is each beam's
    score. A beam that ran out of legal children is refilled with a copy of its instance's best
    beam (a duplicate, never an illegal log)."""
    if policy.multi_agent:
        raise ValueError("beam_search: the joint actions of a multi-agent policy have no beam "
                         "search here; use greedy, sample or multistart")
    if width < 1:
        raise ValueError(f"beam_search: width must be >= 1, got {width}")
    B = instance.batch_size[0]
    big = torch.cat([instance] * width, 0)
    td = env.reset(instance=big)
    state = policy.init(td)
    dev = td.device
    score = torch.full((width, B), float("-inf"), dtype=torch.float64, device=dev)
    score[0] = 0.0  # one live beam at first, so the first step does not pick duplicates
    log = torch.zeros(width * B, 0, dtype=torch.int64, device=dev)
    limit = _max_steps(td)
    while not bool(td["done"].all()):
        if log.shape[1] >= limit:
            raise RuntimeError(f"beam_search: no end after {limit} steps")
        logits, state = policy.step(td, state)
        n = logits.shape[-1]
        cand = score.unsqueeze(-1) + logits.log_softmax(-1).double().view(width, B, n)
        cand = cand.permute(1, 0, 2).reshape(B, width * n)  # [B, W * n]
        top, idx = cand.topk(width, -1)  # [B, W]
        dead = torch.isinf(top)
        idx = torch.where(dead, idx[:, :1], idx)
        parent, act = idx // n, idx % n  # [B, W]
        rows = (parent.T * B + torch.arange(B, device=dev)).reshape(-1)  # beam-major parent rows
        score = top.T.contiguous()
        log = torch.cat([log[rows], act.T.reshape(-1, 1)], 1)
        state = state[rows]
        td, _ = replay(env, big, log)
    _, reward = replay(env, big, log)
    return Trajectory(actions=log, priorities=None, reward=reward,
                      logp=score.reshape(-1).float())

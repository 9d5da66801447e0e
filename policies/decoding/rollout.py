"""``rollout``: decode instances with a routing policy and keep the best solution of each.

Strategies (``strategy=``): ``greedy``; ``sample`` (``n_samples`` draws per instance);
``beam`` (``beam_width`` beams); ``multistart`` (POMO: one greedy rollout per first client, each
forced). ``augment=True`` runs the chosen strategy on the x8 dihedral copies as well (POMO's
inference augmentation). Every candidate solution goes through the env's independent oracles:
``check_solution`` must accept it (else ``RuntimeError``), its objective is the env's
``evaluate`` on the *original* instance, and its summed step rewards must agree with that; the
best candidate per instance is returned, re-judged on its own.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
from tensordict import TensorDictBase

from heurist.envs.common import HeuristEnv
from heurist.policies.decoding.beam import beam_search
from heurist.policies.decoding.episode import Trajectory, greedy, run_episode, sampler
from heurist.policies.nets.routing.base import RoutingPolicy
from heurist.policies.nets.routing.symmetry import N_DIHEDRAL, dihedral8

__all__ = ["STRATEGIES", "Decoded", "judge", "rollout"]

STRATEGIES = ("greedy", "sample", "beam", "multistart")

#: |summed float32 step rewards - oracle return| allowed (float32 sums; the x8 copies' distances
#: round differently in float32)
REWARD_TOL = 1e-3


@dataclass
class Decoded:
    """The best solution per instance: ``actions`` [B, T, *A], ``priorities`` [B, T, M] or None,
    ``value`` float64 [B] (= ``env.evaluate``, higher is better), ``objective`` = ``-value``,
    and every candidate's value ``candidates`` [K, B]."""

    actions: torch.Tensor
    priorities: torch.Tensor | None
    value: torch.Tensor
    objective: torch.Tensor
    candidates: torch.Tensor


def _oracle_kwargs(priorities: torch.Tensor | None) -> dict:
    return {} if priorities is None else {"priorities": priorities}


def judge(env: HeuristEnv, instance: TensorDictBase, traj: Trajectory) -> torch.Tensor:
    """The oracle's value float64 [B] of every row of ``traj`` on ``instance`` [B]; raises
    ``RuntimeError`` if the oracle rejects a row (``evaluate`` is NaN where ``check_solution``
    is False) or the summed rewards disagree."""
    # one oracle pass: the routing envs' evaluate is NaN exactly on the rows check_solution
    # rejects (envs/pvrp/oracle.py), and replaying every candidate's log twice was most of a
    # multi-start x8 decode
    value = env.evaluate(instance, traj.actions, **_oracle_kwargs(traj.priorities)).double().cpu()
    ok = ~torch.isnan(value)
    if not bool(ok.all()):
        bad = torch.nonzero(~ok).flatten()[:5].tolist()
        raise RuntimeError(f"rollout: the env oracle rejects decoded rows {bad}")
    gap = (traj.reward.double().cpu() - value).abs().max()
    if gap > REWARD_TOL * (1 + value.abs().max()):
        raise RuntimeError(f"rollout: summed rewards differ from the oracle by {float(gap):.3g}")
    return value


def _candidates(env, policy, base: TensorDictBase, strategy: str, *, n_samples: int,
                beam_width: int, seed: int, temperature: float) -> tuple[Trajectory, int]:
    """All candidates, copy-major (row ``k * len(base) + b``) -> (trajectory, K)."""
    if strategy == "greedy":
        return run_episode(env, policy, base, select=greedy), 1
    if strategy == "sample":
        if n_samples < 1:
            raise ValueError(f"rollout: n_samples must be >= 1, got {n_samples}")
        gen = torch.Generator(device=env.device).manual_seed(seed)
        big = torch.cat([base] * n_samples, 0)
        return run_episode(env, policy, big, select=sampler(gen, temperature=temperature),
                           shared=n_samples), n_samples
    if strategy == "beam":
        return beam_search(env, policy, base, width=beam_width), beam_width
    if strategy == "multistart":
        n = base["locs"].shape[1]  # one start per client; an illegal start falls back to greedy
        big = torch.cat([base] * n, 0)
        first = torch.arange(1, n + 1).repeat_interleave(base.batch_size[0])
        return run_episode(env, policy, big, select=greedy, first=first, shared=n), n
    raise ValueError(f"rollout: strategy must be one of {STRATEGIES}, got {strategy!r}")


@torch.no_grad()
def rollout(env: HeuristEnv, policy: RoutingPolicy, instance: TensorDictBase, *,
            strategy: str = "greedy", augment: bool = False, n_samples: int = 16,
            beam_width: int = 4, seed: int = 0, temperature: float = 1.0) -> Decoded:
    """Decodes ``instance`` [B] with ``policy`` in ``env`` and keeps each instance's best
    candidate (see the module docstring)."""
    B = instance.batch_size[0]
    base = dihedral8(instance) if augment else instance
    traj, k = _candidates(env, policy, base, strategy, n_samples=n_samples,
                          beam_width=beam_width, seed=seed, temperature=temperature)
    K = k * (N_DIHEDRAL if augment else 1)
    orig = torch.cat([instance] * K, 0)
    values = judge(env, orig, traj).view(K, B)  # on the CPU, where the oracle runs
    best = values.argmax(0)
    rows = (best * B + torch.arange(B)).to(traj.actions.device)
    prios = None if traj.priorities is None else traj.priorities[rows]
    actions = traj.actions[rows]
    value = env.evaluate(instance, actions, **_oracle_kwargs(prios)).double().cpu()
    if not torch.equal(value, values[best, torch.arange(B)]):
        raise RuntimeError("rollout: the best candidates' values changed when re-judged")
    return Decoded(actions=actions, priorities=prios, value=value, objective=-value,
                   candidates=values)

"""Search as a planner: play whole episodes of a batched heurist env, choosing every action with
Gumbel MuZero (or PUCT) search over the true simulator (AlphaZero mode).

``search_episodes`` returns the action log (for the env's oracles), each row's return and the
search's policy targets (for self-play training). ``plan_mapping`` plans Malloc mapping instances
and checks each plan with the env's independent oracles.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from heurist.agents.muzero.model import LearnedModel
from heurist.agents.muzero.simulator import PriorFn, TrueSimulator
from heurist.agents.search import gumbel_muzero_policy, muzero_policy

__all__ = ["EpisodeResult", "MappingResult", "plan_mapping", "search_episodes"]


@dataclass
class EpisodeResult:
    """What ``search_episodes`` played. actions: int64 [B, T]; returns: float64 [B] (summed env
    rewards); env_steps: steps the search simulated; targets: per searched step, the
    observation TensorDict [B], the search's action weights [B, A] and the rows searched [B]."""

    actions: np.ndarray
    returns: np.ndarray
    env_steps: int
    targets: list[tuple[Any, np.ndarray, np.ndarray]] = field(default_factory=list)


def search_episodes(env: Any, instance: Any, *, num_simulations: int, seed: int = 0,
                    prior: PriorFn | None = None, value: str = "rollout",
                    policy: str = "gumbel", gumbel_scale: float = 0.0,
                    max_num_considered_actions: int = 16, keep_targets: bool = False,
                    progress: Any = None, model: LearnedModel | None = None,
                    value_scale: float = 0.1, max_depth: int | None = None) -> EpisodeResult:
    """Plays one episode per row of ``instance`` [B] with search at every step where a live row
    has more than one legal action (a forced move is played without search).

    ``policy`` is ``"gumbel"`` (``gumbel_scale=0``: deterministic, for evaluation) or ``"puct"``
    (no Dirichlet noise, visit-count argmax). ``progress``, when given, is called with the
    number of steps done after each step. ``model``: MuZero mode, the search runs over this
    learned model (``LearnedModel``) instead of the true simulator (``prior``/``value`` unused;
    ``env_steps`` is then 0). ``value_scale`` (Gumbel's c_scale in sigma(q)) and ``max_depth``
    go to ``gumbel_muzero_policy``."""
    if num_simulations < 1:
        raise ValueError(f"num_simulations must be >= 1, got {num_simulations}")
    if policy not in ("gumbel", "puct"):
        raise ValueError(f"policy={policy!r}, expected gumbel or puct")
    rng = np.random.default_rng(seed)
    td = env.reset(instance=instance)
    sim = TrueSimulator(env, prior=prior, value=value)
    rec = sim if model is None else model
    B = td.batch_size[0]
    actions, returns, targets = [], np.zeros(B), []
    while not td["done"].all():
        mask = td["action_mask"].cpu().numpy()
        live = ~td["done"].reshape(B).cpu().numpy()
        if (mask.sum(-1)[live] > 1).any():
            root = rec.root(td)
            if policy == "gumbel":
                out = gumbel_muzero_policy(None, rng, root, rec, num_simulations=num_simulations,
                                           gumbel_scale=gumbel_scale,
                                           max_num_considered_actions=max_num_considered_actions,
                                           value_scale=value_scale, max_depth=max_depth)
            else:
                out = muzero_policy(None, rng, root, rec, num_simulations=num_simulations,
                                    dirichlet_fraction=0.0)
            if model is None:  # the true simulator moved the env: back to the root
                td = env.restore(root.embedding)
            a = np.where(live, out.action, 0)
            if keep_targets:
                targets.append((td.clone(), out.action_weights, live & (mask.sum(-1) > 1)))
        else:  # every live row has one legal move (or none is live)
            a = mask.argmax(-1)
        td[env.action_key] = torch.from_numpy(np.ascontiguousarray(a, np.int64))
        td = env.step(td)["next"]
        returns += td["reward"].reshape(B).cpu().numpy()
        actions.append(a)
        if progress is not None:
            progress(len(actions))
    return EpisodeResult(np.stack(actions, 1).astype(np.int64), returns, sim.n_simulated,
                         targets)


@dataclass
class MappingResult:
    """One planned Malloc mapping instance: the plan (offsets, ``SLOW`` = -1), its speedup by
    the oracle ``evaluate_plan``, and the search's return (the fraction of time saved)."""

    plan: np.ndarray
    speedup: float
    saved: float


def plan_mapping(instances: Sequence[Any], *, num_simulations: int, seed: int = 0,
                 k: int = 8, order: str = "start", prior: PriorFn | None = None,
                 value: str = "rollout", policy: str = "gumbel",
                 progress: Any = None, model: LearnedModel | None = None,
                 max_num_considered_actions: int = 16, value_scale: float = 0.1,
                 max_depth: int | None = None) -> tuple[list[MappingResult], EpisodeResult]:
    """Plans each ``MallocInstance`` (mapping mode) with search over the true simulator (or the
    learned ``model``), all in
    one batch (``max_num_considered_actions``: Gumbel's m at the root; ``value_scale``, its
    c_scale; ``max_depth``, the tree's depth limit). Each plan is checked by ``check_plan`` and evaluated by ``evaluate_plan`` (the
    env's independent oracles), and the env's ``check_solution``/``evaluate`` replay the action
    log; a disagreement raises ``AssertionError``."""
    from heurist.envs.malloc.env import MallocEnv
    from heurist.envs.malloc.generator import pad_instances
    from heurist.envs.malloc.instance import SLOW
    from heurist.envs.malloc.plan_check import check_plan
    from heurist.envs.malloc.plan_cost import evaluate_plan

    env = MallocEnv(mode="mapping", k=k, order=order, seed=seed)
    td_inst = pad_instances(list(instances))
    ep = search_episodes(env, td_inst, num_simulations=num_simulations, seed=seed, prior=prior,
                         value=value, policy=policy, progress=progress, model=model,
                         max_num_considered_actions=max_num_considered_actions,
                         value_scale=value_scale, max_depth=max_depth)
    log = torch.from_numpy(ep.actions)
    if not bool(env.check_solution(td_inst, log).all()):
        raise AssertionError("plan_mapping: the env's check_solution rejects an action log")
    ev_env = env.evaluate(td_inst, log).numpy()
    offsets = env.plans()  # the env is at the end of the played episodes
    out = []
    for i, inst in enumerate(instances):
        p = offsets[i, :inst.n]
        p = np.where(p >= 0, p, SLOW)
        if not check_plan(inst, p, mode="mapping").valid:
            raise AssertionError(f"plan_mapping: invalid plan on {inst.name}")
        ev = evaluate_plan(inst, p)
        saved = (ev.time_all_slow - ev.time) / ev.time_all_slow
        # the step rewards are float32: their sum agrees to float32 precision only
        if abs(saved - ev_env[i]) > 1e-9 or abs(saved - ep.returns[i]) > 1e-4:
            raise AssertionError(f"plan_mapping: {inst.name}: search return {ep.returns[i]}, "
                                 f"oracle evaluate {ev_env[i]}, evaluate_plan {saved}")
        out.append(MappingResult(p, float(ev.speedup), float(saved)))
    return out, ep


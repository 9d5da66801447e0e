"""Search as a packing planner: Malloc's packing mode (every buffer gets an offset), each action
chosen by Gumbel MuZero (or PUCT) search over the true simulator.

The return of a packing episode is ``-peak / C``, and a dead end (the current buffer fits nowhere
below the capacity) ends it with ``-(1 + unplaced bytes / total bytes)`` on top, so any complete
packing at the capacity beats every dead end and, among packings, the lower peak wins. A row that
still ends at a dead end is searched again with the capacity relaxed to the sum of its sizes
(everything fits there: the search then only lowers the peak), so every instance gets a complete
plan; ``feasible`` says whether it fits the real capacity.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from heurist.agents.muzero.planner import EpisodeResult, search_episodes
from heurist.agents.muzero.simulator import PriorFn

__all__ = ["PackingResult", "plan_packing"]


@dataclass
class PackingResult:
    """One planned Malloc packing instance: offsets ``int64 [N]`` (all >= 0), their peak, whether
    the peak fits the instance's capacity (checked by ``check_plan``), and whether the plan comes
    from the relaxed-capacity search (the search at the capacity hit a dead end)."""

    plan: np.ndarray
    peak: int
    feasible: bool
    relaxed: bool


def _search(instances: list, *, num_simulations: int, seed: int, k: int, order: str,
            prior: PriorFn | None, value: str, policy: str, progress: Any,
            ) -> tuple[np.ndarray, np.ndarray, EpisodeResult]:
    """One batched packing search: (offsets ``[B, N]``, failed ``[B]``, the episodes), the log
    checked by the env's oracles (legal, each partial plan overlap-free, the same returns)."""
    from heurist.envs.malloc.env import MallocEnv
    from heurist.envs.malloc.generator import pad_instances

    env = MallocEnv(mode="packing", k=k, order=order, seed=seed)
    td_inst = pad_instances(instances)
    ep = search_episodes(env, td_inst, num_simulations=num_simulations, seed=seed, prior=prior,
                         value=value, policy=policy, progress=progress)
    offsets, failed = env.plans(), env.failed()
    log = torch.from_numpy(ep.actions)
    if not bool(env.check_solution(td_inst, log).all()):
        raise AssertionError("plan_packing: the env's check_solution rejects an action log")
    ev = env.evaluate(td_inst, log).numpy()
    # the step rewards are float32: their sum agrees to float32 precision only
    bad = np.flatnonzero(np.abs(ev - ep.returns) > 1e-4)
    if bad.size:
        i = int(bad[0])
        raise AssertionError(f"plan_packing: {instances[i].name}: search return {ep.returns[i]}, "
                             f"oracle evaluate {ev[i]}")
    return offsets, failed, ep


def plan_packing(instances: Sequence[Any], *, num_simulations: int, seed: int = 0, k: int = 8,
                 order: str = "start", prior: PriorFn | None = None, value: str = "rollout",
                 policy: str = "gumbel", progress: Any = None,
                 ) -> tuple[list[PackingResult], EpisodeResult]:
    """Packs each ``MallocInstance`` at its capacity with search over the true simulator, all in
    one batch (``value="rollout"``: the leaf value is the env's greedy rollout, lowest offset
    first). Rows that end at a dead end are searched again at the relaxed capacity (the sum of
    their sizes). Every plan is checked by ``check_plan`` (packing mode: overlap-free, every
    buffer placed) and its peak recomputed; returns the results and the first search's
    episodes (its ``env_steps`` counts both searches). ``progress(steps)`` is called after each
    step of each search."""
    instances = list(instances)
    offsets, failed, ep = _search(instances, num_simulations=num_simulations, seed=seed, k=k,
                                  order=order, prior=prior, value=value, policy=policy,
                                  progress=progress)
    plans: list[np.ndarray | None] = [None if failed[i] else offsets[i, :inst.n]
                                      for i, inst in enumerate(instances)]
    redo = np.flatnonzero(failed)
    if redo.size:
        relaxed = [instances[i].with_capacity(max(int(instances[i].size.sum()), 1))
                   for i in redo]
        off2, failed2, ep2 = _search(relaxed, num_simulations=num_simulations, seed=seed, k=k,
                                   order=order, prior=prior, value=value, policy=policy,
                                   progress=progress)
        if failed2.any():  # cannot happen: at the sum of the sizes every buffer fits on top
            raise AssertionError("plan_packing: a dead end at the relaxed capacity")
        for j, i in enumerate(redo):
            plans[i] = off2[j, :instances[i].n]
        ep.env_steps += ep2.env_steps
    return [_result(inst, p, bool(failed[i]))  # type: ignore[arg-type]  # every row planned
            for i, (inst, p) in enumerate(zip(instances, plans))], ep


def _result(inst: Any, plan: np.ndarray, relaxed: bool) -> PackingResult:
    from heurist.envs.malloc.plan_check import check_plan

    plan = np.ascontiguousarray(plan, np.int64)
    check = check_plan(inst, plan, mode="packing", enforce_capacity=False)
    if not check.valid:
        raise AssertionError(f"plan_packing: invalid plan on {inst.name}: "
                             f"{check.first.message if check.first else 'invalid'}")
    peak = int((plan + inst.size).max()) if inst.n else 0
    if peak != check.peak:
        raise AssertionError(f"plan_packing: {inst.name}: peak {peak}, check_plan {check.peak}")
    return PackingResult(plan, peak, peak <= inst.capacity, relaxed)

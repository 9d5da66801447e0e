"""A Malloc search artifact loaded for planning: ``load_search_policy("malloc-prior")`` (a shipped
name or a folder) gives the keywords ``plan_mapping`` plans with, by the artifact's role
(``heurist.policies.malloc.search_policies``):

- ``alphazero_prior`` (the shipped ``malloc-prior``): AlphaZero mode over the env's true simulator,
  greedy-rollout leaf values, the network's policy head as the prior (``prior=``);
- ``muzero_model``: MuZero mode over the network's learned model (``model=``).

Both take the env's K and decision order from the artifact's training config (``order`` given
overrides the order), and the network's input size is checked against that env's.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from heurist.agents.muzero.model import LearnedModel
from heurist.policies.nets.muzero import MuZeroNet

__all__ = ["SearchPolicy", "load_search_policy"]


@dataclass
class SearchPolicy:
    """A loaded artifact: its ``folder``, ``role``, ``net``, and the env's ``k`` and ``order``."""

    folder: Path
    role: str
    net: MuZeroNet
    k: int
    order: str

    @property
    def model(self) -> str:
        """``heurist plan --json``'s ``model``: which recurrent function the search uses."""
        from heurist.policies.malloc.search_policies import PRIOR_ROLE

        return "true_simulator" if self.role == PRIOR_ROLE else "learned"

    def plan_kwargs(self) -> dict[str, Any]:
        """``plan_mapping``'s keywords for this artifact (``k``, ``order`` and ``prior`` or
        ``model``); a fresh ``LearnedModel`` each call, so its call count starts at 0."""
        from heurist.policies.malloc.search_policies import PRIOR_ROLE

        learned = LearnedModel(self.net)
        if self.role == PRIOR_ROLE:
            return {"k": self.k, "order": self.order, "prior": learned.prior, "value": "rollout"}
        return {"k": self.k, "order": self.order, "model": learned}


def load_search_policy(spec: str | Path, *, order: str | None = None) -> SearchPolicy:
    """The artifact ``spec`` (shipped name or folder), every check passed; ``FileNotFoundError``
    or ``ValueError`` with one line naming it otherwise (not a MuZeroNet, an unknown role, a
    network whose input does not fit the Malloc env)."""
    from heurist.envs.malloc.env import MallocEnv
    from heurist.envs.malloc.generator import pad_instances
    from heurist.envs.malloc.synthetic import random_instance
    from heurist.policies.export import load_network
    from heurist.policies.malloc.search_policies import (
        resolve_search_policy,
        search_policy_role,
    )
    from heurist.policies.nets.muzero import flat_observation

    folder = resolve_search_policy(str(spec))
    net, manifest = load_network(folder)
    if not isinstance(net, MuZeroNet):
        name = manifest["network"].get("class")
        raise ValueError(  # noqa: TRY004 (bad input: one line)
            f"{folder}: a {name} artifact; --method search needs a MuZeroNet "
            f"(scripts/train_muzero.py --export or the shipped malloc-prior)")
    try:
        role = search_policy_role(manifest)
    except ValueError as exc:
        raise ValueError(f"{folder}: {exc}") from None
    cfg = manifest.get("training", {}).get("config", {})
    # the trainer's mapping env has K candidates + LEAVE_IN_SLOW
    k, order = int(cfg.get("k", net.n_actions - 1)), order or str(cfg.get("order", "msa"))
    env = MallocEnv(mode="mapping", k=k, order=order)
    # the observation's size depends on the env's settings only; any one buffer will do
    dim = flat_observation(env.reset(instance=pad_instances([random_instance(1, seed=0)]))
                           ).shape[1]
    if (dim, env.n_actions) != (net.obs_dim, net.n_actions):
        raise ValueError(f"{folder}: the network takes {net.obs_dim} features and "
                         f"{net.n_actions} actions, the Malloc env (k={k}) gives {dim} and "
                         f"{env.n_actions}")
    return SearchPolicy(Path(folder), role, net, k, order)

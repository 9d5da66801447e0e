"""AlphaZero mode: the search's recurrent function is the env's true simulator.

A node's embedding is the env's ``snapshot()`` (a dict of ``[B, ...]`` arrays), so the search's
``ArrayStore`` keeps one snapshot per node and gathers the B parents of a simulation with one
indexing per field. One simulation = ``restore`` the B parents, one ``step``, ``snapshot`` the B
children, and a leaf value: the greedy rollout's return from the child (``value="rollout"``;
on a Malloc mapping env the fast ``rollout.mapping_rollout``, equal to the env's own
``greedy_rollout`` bit for bit, which ``value="env_rollout"`` keeps as the reference), a
network's value, or 0.
"""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import torch

from heurist.agents.muzero.rollout import mapping_rollout
from heurist.agents.search import RecurrentOutput, RootOutput
from heurist.envs.malloc.env import MallocEnv

__all__ = ["PriorFn", "TrueSimulator"]

#: ``prior(observation TensorDict [B]) -> (logits [B, A], value [B] or None)``
PriorFn = Callable[[Any], tuple[np.ndarray, np.ndarray | None]]


class TrueSimulator:
    """The ``recurrent_fn`` of AlphaZero-mode search over a batched heurist env (B trees = the
    env's B rows), plus the root it starts from.

    Args (keyword-only):
        env: a reset heurist env with ``snapshot``/``restore``; its rows are the trees.
        prior: optional ``PriorFn`` giving prior logits (and optionally a value) from the
            observation; default: uniform logits over the legal actions.
        value: ``"rollout"`` (the greedy rollout's return from the node: ``mapping_rollout`` on
            a Malloc mapping env, else the env's ``greedy_rollout``), ``"env_rollout"`` (always
            the env's ``greedy_rollout``: the reference the fast path equals), ``"prior"`` (the
            prior's value) or ``"zero"``.
    """

    def __init__(self, env: Any, *, prior: PriorFn | None = None, value: str = "rollout") -> None:
        if value not in ("rollout", "env_rollout", "prior", "zero"):
            raise ValueError(f"TrueSimulator: value={value!r}, expected rollout, env_rollout, "
                             "prior or zero")
        if value in ("rollout", "env_rollout") and not hasattr(env, "greedy_rollout"):
            raise ValueError(f"TrueSimulator: {type(env).__name__} has no greedy_rollout")
        if value == "prior" and prior is None:
            raise ValueError("TrueSimulator: value='prior' needs a prior")
        self.env, self.prior, self.value = env, prior, value
        # the env's rollout steps the full env (index walk, every feature) per decision: ~60x
        # slower on the zoo's training graphs than the dedicated kernel (docs/benchmarks/muzero.md)
        self._fast = value == "rollout" and isinstance(env, MallocEnv) and env.mapping
        self.n_simulated = 0  # env steps taken inside the search (the search budget spent)

    def _evaluate(self, td: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(logits [B, A], value [B], invalid [B, A]) at the env's current state ``td``."""
        mask = td["action_mask"].cpu().numpy()
        B = mask.shape[0]
        logits, v = (np.zeros(mask.shape), None) if self.prior is None else self.prior(td)
        if self._fast:
            value = mapping_rollout(self.env)  # the env stays at the node
        elif self.value in ("rollout", "env_rollout"):
            value = self.env.greedy_rollout()  # the env's state is now past the node: restored
        elif self.value == "prior":      # before the next use by the caller
            value = np.asarray(v, np.float64)
        else:
            value = np.zeros(B)
        done = td["done"].reshape(B).cpu().numpy()
        return np.asarray(logits, np.float64), np.where(done, 0.0, value), ~mask

    def root(self, td: Any) -> RootOutput:
        """The B roots at the env's current state (its observation ``td`` [B]); the env is left
        in that same state."""
        snap = self.env.snapshot()
        logits, value, invalid = self._evaluate(td)
        self.env.restore(snap)
        return RootOutput(prior_logits=logits, value=value, embedding=snap,
                          invalid_actions=invalid)

    def __call__(self, params: Any, rng: np.random.Generator, action: np.ndarray,
                 embedding: dict[str, Any]) -> tuple[RecurrentOutput, dict[str, Any]]:
        env = self.env
        td = env.restore(embedding)
        B = action.shape[0]
        was_done = td["done"].reshape(B).cpu().numpy()
        # a terminal parent: the absorbing no-op (action 0); reward 0 and discount 0 below
        td[env.action_key] = torch.from_numpy(np.where(was_done, 0, action))
        out = env.step(td)["next"]
        self.n_simulated += int((~was_done).sum())
        reward = out["reward"].reshape(B).cpu().numpy().astype(np.float64)
        snap = env.snapshot()
        logits, value, invalid = self._evaluate(out)
        done = out["done"].reshape(B).cpu().numpy()
        return RecurrentOutput(reward=np.where(was_done, 0.0, reward),
                               discount=np.where(done, 0.0, 1.0), prior_logits=logits,
                               value=value, invalid_actions=invalid), snap

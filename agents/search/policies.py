"""The two search policies: Gumbel MuZero (Danihelka et al. 2022) and PUCT MuZero (Schrittwieser
et al. 2020), with mctx's defaults and semantics, on numpy trees and numba kernels.
"""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from heurist.agents.search import kernels
from heurist.agents.search.base import PolicyOutput, RecurrentFn, RootOutput
from heurist.agents.search.embeddings import EmbeddingStore
from heurist.agents.search.search import root_arrays, search
from heurist.agents.search.seq_halving import considered_visits_table

__all__ = ["gumbel_muzero_policy", "muzero_policy"]

_MIN_LOGIT = np.finfo(np.float64).min


def _generator(rng: int | np.random.Generator) -> np.random.Generator:
    return rng if isinstance(rng, np.random.Generator) else np.random.default_rng(rng)


def _check_budget(num_simulations: int, max_depth: int | None) -> None:
    if int(num_simulations) != num_simulations or num_simulations < 1:
        raise ValueError(f"num_simulations must be a positive integer, got {num_simulations}")
    if max_depth is not None and max_depth < 1:
        raise ValueError(f"max_depth must be >= 1 or None, got {max_depth}")


def gumbel_muzero_policy(params: Any, rng: int | np.random.Generator, root: RootOutput,
                         recurrent_fn: RecurrentFn, num_simulations: int, *,
                         max_depth: int | None = None, max_num_considered_actions: int = 16,
                         gumbel_scale: float = 1.0, value_scale: float = 0.1,
                         maxvisit_init: float = 50.0, rescale_values: bool = True,
                         use_mixed_value: bool = True,
                         embedding_store: Callable[[Any, int], EmbeddingStore] | None = None,
                         ) -> PolicyOutput:
    """Gumbel MuZero search on B roots; returns the action ``[B]``, the policy target ``[B, A]``
    and the tree.

    Root: Gumbel top-m (m = min(max_num_considered_actions, legal actions)) then sequential
    halving; interior: argmax(pi' - N / (1 + sum N)) with pi' = softmax(logits + sigma(q)); sigma(q)
    = (maxvisit_init + max N) * value_scale * q, q completed with the mixed value and min-max
    rescaled (``rescale_values``). Acts with argmax(g + logits + sigma(q)) among the most visited;
    the target is softmax(logits + sigma(q)) over the legal actions. ``gumbel_scale=0`` makes the
    search deterministic (evaluation). ``rng``: a seed or numpy Generator (drawn once for the
    Gumbel noise, then passed to ``recurrent_fn``).
    """
    _check_budget(num_simulations, max_depth)
    if max_num_considered_actions < 1:
        raise ValueError(f"max_num_considered_actions must be >= 1, got "
                         f"{max_num_considered_actions}")
    if gumbel_scale < 0 or value_scale < 0 or maxvisit_init < 0:
        raise ValueError("gumbel_scale, value_scale and maxvisit_init must be >= 0")
    rng = _generator(rng)
    logits, value, invalid = root_arrays(root)
    logits = kernels.mask_logits(logits, invalid)
    gumbel = gumbel_scale * rng.gumbel(size=logits.shape)
    num_valid = (~invalid).sum(axis=-1)
    num_considered = np.minimum(max_num_considered_actions, num_valid).astype(np.int64)
    table = considered_visits_table(max_num_considered_actions, num_simulations)
    tree = search(params, rng, root_logits=logits, root_value=value, root_invalid=invalid,
                  embedding=root.embedding, recurrent_fn=recurrent_fn,
                  num_simulations=num_simulations, max_depth=max_depth, mode=kernels.GUMBEL,
                  gumbel=gumbel, num_considered=num_considered, table=table,
                  value_scale=value_scale, maxvisit_init=maxvisit_init,
                  rescale_values=rescale_values, use_mixed_value=use_mixed_value,
                  embedding_store=embedding_store)

    completed = np.empty_like(logits)
    kernels.root_completed_qvalues(tree.raw_values, tree.children_prior_probs,
                                   tree.children_values, tree.children_visits,
                                   tree.children_rewards, tree.children_discounts, value_scale,
                                   maxvisit_init, rescale_values, use_mixed_value, 1e-8,
                                   completed)
    visits = tree.children_visits[:, 0]
    # The best of the most visited (the last survivors of sequential halving).
    shifted = logits - logits.max(axis=-1, keepdims=True)
    score = np.maximum(-1e9, gumbel + shifted + completed)
    score[visits != visits.max(axis=-1, keepdims=True)] = -np.inf
    score[invalid] = -np.inf
    action = score.argmax(axis=-1).astype(np.int64)

    target = kernels.mask_logits(logits + completed, invalid if invalid.any() else None)
    weights = np.exp(target - target.max(axis=-1, keepdims=True))
    weights /= weights.sum(axis=-1, keepdims=True)
    return PolicyOutput(action=action, action_weights=weights, search_tree=tree)


def muzero_policy(params: Any, rng: int | np.random.Generator, root: RootOutput,
                  recurrent_fn: RecurrentFn, num_simulations: int, *,
                  max_depth: int | None = None, dirichlet_fraction: float = 0.25,
                  dirichlet_alpha: float = 0.3, pb_c_init: float = 1.25,
                  pb_c_base: float = 19652.0, temperature: float = 0.0,
                  embedding_store: Callable[[Any, int], EmbeddingStore] | None = None,
                  ) -> PolicyOutput:
    """PUCT MuZero search on B roots; returns the action ``[B]``, the root's visit distribution
    ``[B, A]`` as the policy target, and the tree.

    Root prior = (1 - dirichlet_fraction) * softmax(logits) + dirichlet_fraction * Dir(alpha);
    selection argmax(q_norm + sqrt(N_parent) * c(N_parent) * p / (1 + N)) with c(N) = pb_c_init +
    log((N + pb_c_base + 1) / pb_c_base) and q_norm min-max normalised over the node's value and
    its visited children (mctx's ``qtransform_by_parent_and_siblings``; unvisited score 0). Acts
    with the most visited action (``temperature=0``, ties to the lowest index) or samples
    visits^(1/temperature).
    """
    _check_budget(num_simulations, max_depth)
    if not 0.0 <= dirichlet_fraction <= 1.0 or dirichlet_alpha <= 0:
        raise ValueError("dirichlet_fraction must be in [0, 1] and dirichlet_alpha > 0, got "
                         f"{dirichlet_fraction}, {dirichlet_alpha}")
    if temperature < 0 or pb_c_base <= 0:
        raise ValueError(f"temperature must be >= 0 and pb_c_base > 0, got {temperature}, "
                         f"{pb_c_base}")
    rng = _generator(rng)
    logits, value, invalid = root_arrays(root)
    probs = np.exp(logits - logits.max(axis=-1, keepdims=True))
    probs /= probs.sum(axis=-1, keepdims=True)
    if dirichlet_fraction > 0:
        noise = rng.dirichlet(np.full(logits.shape[1], dirichlet_alpha), size=logits.shape[0])
        probs = (1 - dirichlet_fraction) * probs + dirichlet_fraction * noise
    noisy = np.log(np.maximum(probs, np.finfo(np.float64).tiny))
    logits = kernels.mask_logits(noisy, invalid)
    batch, num_actions = logits.shape
    tree = search(params, rng, root_logits=logits, root_value=value, root_invalid=invalid,
                  embedding=root.embedding, recurrent_fn=recurrent_fn,
                  num_simulations=num_simulations, max_depth=max_depth, mode=kernels.PUCT,
                  gumbel=np.zeros((batch, num_actions)),
                  num_considered=np.zeros(batch, np.int64),
                  table=np.zeros((1, 1), np.int32), pb_c_init=pb_c_init, pb_c_base=pb_c_base,
                  embedding_store=embedding_store)

    summary = tree.summary()
    weights = summary.visit_probs
    if temperature == 0:
        scores = np.where(invalid, -1, summary.visit_counts)
        action = scores.argmax(axis=-1).astype(np.int64)
    else:
        powered = np.where(invalid, 0.0, weights) ** (1.0 / temperature)
        powered /= powered.sum(axis=-1, keepdims=True)
        action = np.array([rng.choice(num_actions, p=row) for row in powered], dtype=np.int64)
    return PolicyOutput(action=action, action_weights=weights, search_tree=tree)

"""The batched search loop shared by both policies (mctx's ``search``): per simulation, one kernel
call selects an edge in each of the B trees, one ``recurrent_fn`` call evaluates all B edges, one
kernel call expands and backs up.
"""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from heurist.agents.search import kernels
from heurist.agents.search.base import RecurrentOutput, RootOutput, to_numpy
from heurist.agents.search.embeddings import EmbeddingStore, make_store
from heurist.agents.search.tree import SearchTree

__all__ = ["root_arrays", "search"]


def root_arrays(root: RootOutput) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The root's ``prior_logits [B, A]``, ``value [B]`` and ``invalid [B, A]`` (all False when
    absent) as float64 / bool numpy arrays, with their shapes checked."""
    logits = to_numpy(root.prior_logits)
    if logits.ndim != 2 or logits.shape[1] < 1:
        raise ValueError(f"root prior_logits must be [B, A], got shape {logits.shape}")
    value = to_numpy(root.value)
    if value.shape != logits.shape[:1]:
        raise ValueError(f"root value must be [B] = {logits.shape[:1]}, got {value.shape}")
    if np.isnan(logits).any() or not np.isfinite(value).all():
        raise ValueError("root prior_logits contain NaN or the root value is not finite")
    if root.invalid_actions is None:
        invalid = np.zeros(logits.shape, np.bool_)
    else:
        invalid = to_numpy(root.invalid_actions, np.bool_)
        if invalid.shape != logits.shape:
            raise ValueError(f"root invalid_actions must be [B, A] = {logits.shape}, "
                             f"got {invalid.shape}")
        stuck = np.flatnonzero(invalid.all(axis=-1))
        if stuck.size:
            raise ValueError(f"root rows {stuck.tolist()} have no legal action: search only "
                             "non-terminal states")
    return logits, value, invalid


def search(params: Any, rng: np.random.Generator, *, root_logits: np.ndarray,
           root_value: np.ndarray, root_invalid: np.ndarray, embedding: Any,
           recurrent_fn: Callable, num_simulations: int, max_depth: int | None, mode: int,
           gumbel: np.ndarray, num_considered: np.ndarray, table: np.ndarray,
           value_scale: float = 0.1, maxvisit_init: float = 50.0, rescale_values: bool = True,
           use_mixed_value: bool = True, pb_c_init: float = 1.25, pb_c_base: float = 19652.0,
           epsilon: float = 1e-8,
           embedding_store: Callable[[Any, int], EmbeddingStore] | None = None) -> SearchTree:
    """Runs ``num_simulations`` simulations on B trees rooted at the given (already masked) root
    logits ``[B, A]``; returns the filled ``SearchTree``. ``mode`` is ``kernels.GUMBEL`` or
    ``kernels.PUCT``; the Gumbel-only inputs (``gumbel``, ``num_considered``, ``table``) are
    ignored by PUCT."""
    batch, num_actions = root_logits.shape
    num_nodes = num_simulations + 1
    depth_cap = num_simulations if max_depth is None else max_depth
    tree = SearchTree.allocate(batch, num_nodes, num_actions)
    tree.node_visits[:, 0] = 1
    tree.raw_values[:, 0] = root_value
    tree.node_values[:, 0] = root_value
    tree.children_prior_logits[:, 0] = root_logits
    kernels.softmax_rows(tree.children_prior_logits[:, 0], tree.children_prior_probs[:, 0])
    tree.children_invalid[:, 0] = root_invalid
    tree.root_gumbel[:] = gumbel
    store = make_store(embedding, num_nodes, embedding_store)
    object.__setattr__(tree, "embeddings", store)

    parent = np.empty(batch, np.int64)
    action = np.empty(batch, np.int64)
    next_index = np.empty(batch, np.int64)
    no_invalid = np.zeros((batch, num_actions), np.bool_)
    t = tree
    for sim in range(num_simulations):
        kernels.select(mode, sim, depth_cap, t.node_visits, t.raw_values, t.node_values,
                       t.children_index, t.children_prior_logits, t.children_prior_probs,
                       t.children_values,
                       t.children_visits, t.children_rewards, t.children_discounts,
                       t.children_invalid, t.root_gumbel, table, num_considered, value_scale,
                       maxvisit_init, rescale_values, use_mixed_value, pb_c_init, pb_c_base,
                       epsilon, parent, action, next_index)
        out, new_embedding = recurrent_fn(params, rng, action.copy(), store.gather(parent))
        logits, value, reward, discount, invalid = _step_arrays(out, batch, num_actions)
        if invalid is None:
            invalid = no_invalid
        else:
            logits = kernels.mask_logits(logits, invalid)
        store.scatter(next_index, new_embedding)
        kernels.expand_backward(parent, action, next_index, logits, value, reward, discount,
                                invalid, t.node_visits, t.raw_values, t.node_values, t.parents,
                                t.action_from_parent, t.children_index, t.children_prior_logits,
                                t.children_prior_probs, t.children_values, t.children_visits,
                                t.children_rewards, t.children_discounts, t.children_invalid)
    return tree


def _step_arrays(out: RecurrentOutput, batch: int, num_actions: int):
    """The recurrent output as contiguous float64 arrays, shapes checked."""
    logits = np.ascontiguousarray(to_numpy(out.prior_logits))
    if logits.shape != (batch, num_actions):
        raise ValueError(f"recurrent_fn prior_logits must be [B, A] = {(batch, num_actions)}, "
                         f"got {logits.shape}")
    arrays = []
    for name in ("value", "reward", "discount"):
        x = to_numpy(getattr(out, name))
        if x.shape != (batch,):
            raise ValueError(f"recurrent_fn {name} must be [B] = ({batch},), got {x.shape}")
        arrays.append(x)
    if np.isnan(logits).any() or not all(np.isfinite(x).all() for x in arrays):
        raise ValueError("recurrent_fn returned NaN logits or a non-finite value, reward or "
                         "discount")
    invalid = None
    if out.invalid_actions is not None:
        invalid = to_numpy(out.invalid_actions, np.bool_)
        if invalid.shape != (batch, num_actions):
            raise ValueError("recurrent_fn invalid_actions must be [B, A] = "
                             f"{(batch, num_actions)}, got {invalid.shape}")
    return logits, arrays[0], arrays[1], arrays[2], invalid

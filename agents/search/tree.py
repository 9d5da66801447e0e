"""B search trees as flat arrays (mctx's ``Tree``): no Python object per node.

Node ``i`` of a tree is the node first expanded at simulation ``i`` (the root is node 0), so a
search with ``n`` simulations needs ``N = n + 1`` nodes. ``children_*[b, i, a]`` describe the edge
from node ``i`` along action ``a``; ``children_index`` is -1 where that edge is not expanded yet.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

__all__ = ["NO_PARENT", "ROOT_INDEX", "UNVISITED", "SearchSummary", "SearchTree"]

UNVISITED = -1
NO_PARENT = -1
ROOT_INDEX = 0


@dataclass(frozen=True)
class SearchSummary:
    """The root's statistics. visit_counts ``[B, A]`` int, visit_probs ``[B, A]``, value ``[B]``
    (the root's backed-up value), qvalues ``[B, A]`` (reward + discount * child value; 0 where
    unvisited)."""

    visit_counts: np.ndarray
    visit_probs: np.ndarray
    value: np.ndarray
    qvalues: np.ndarray


@dataclass(frozen=True)
class SearchTree:
    """Arrays of B trees with N nodes and A actions (mutated in place by the search kernels).

    node_visits ``[B, N]`` int32, raw_values ``[B, N]`` (the network's value at expansion),
    node_values ``[B, N]`` (backed-up mean), parents / action_from_parent ``[B, N]`` int32 (-1 at
    the root), children_index ``[B, N, A]`` int32, children_prior_logits, children_prior_probs
    (their softmax, computed once at expansion), children_values, children_rewards and
    children_discounts ``[B, N, A]`` float64, children_visits ``[B, N, A]`` int32,
    children_invalid ``[B, N, A]`` bool (row 0 is the root's mask), root_gumbel ``[B, A]`` (zeros
    for PUCT), embeddings: the store holding every node's embedding.
    """

    node_visits: np.ndarray
    raw_values: np.ndarray
    node_values: np.ndarray
    parents: np.ndarray
    action_from_parent: np.ndarray
    children_index: np.ndarray
    children_prior_logits: np.ndarray
    children_prior_probs: np.ndarray
    children_values: np.ndarray
    children_visits: np.ndarray
    children_rewards: np.ndarray
    children_discounts: np.ndarray
    children_invalid: np.ndarray
    root_gumbel: np.ndarray
    embeddings: Any = None

    @classmethod
    def allocate(cls, batch_size: int, num_nodes: int, num_actions: int) -> SearchTree:
        """An empty tree: every edge unexpanded, every count zero."""
        bn, bna = (batch_size, num_nodes), (batch_size, num_nodes, num_actions)
        return cls(
            node_visits=np.zeros(bn, np.int32), raw_values=np.zeros(bn), node_values=np.zeros(bn),
            parents=np.full(bn, NO_PARENT, np.int32),
            action_from_parent=np.full(bn, NO_PARENT, np.int32),
            children_index=np.full(bna, UNVISITED, np.int32),
            children_prior_logits=np.zeros(bna), children_prior_probs=np.zeros(bna),
            children_values=np.zeros(bna),
            children_visits=np.zeros(bna, np.int32), children_rewards=np.zeros(bna),
            children_discounts=np.zeros(bna), children_invalid=np.zeros(bna, np.bool_),
            root_gumbel=np.zeros((batch_size, num_actions)))

    @property
    def batch_size(self) -> int:
        return self.node_visits.shape[0]

    @property
    def num_nodes(self) -> int:
        return self.node_visits.shape[1]

    @property
    def num_actions(self) -> int:
        return self.children_index.shape[2]

    def qvalues(self, node: np.ndarray | int) -> np.ndarray:
        """``[B, A]`` reward + discount * child value along each action of node ``node[b]``."""
        rows = np.arange(self.batch_size)
        node = np.broadcast_to(np.asarray(node), (self.batch_size,))
        return (self.children_rewards[rows, node]
                + self.children_discounts[rows, node] * self.children_values[rows, node])

    def summary(self) -> SearchSummary:
        """The root's visit counts, visit distribution, value and Q-values."""
        visits = self.children_visits[:, ROOT_INDEX].copy()
        total = visits.sum(axis=-1, keepdims=True)
        return SearchSummary(visit_counts=visits,
                             visit_probs=visits / np.maximum(total, 1),
                             value=self.node_values[:, ROOT_INDEX].copy(),
                             qvalues=self.qvalues(ROOT_INDEX))

"""The search's inputs and outputs, as in mctx: what the network says at the root
(``RootOutput``), what one recurrent step returns (``RecurrentOutput``), the signature of that step
(``RecurrentFn``) and what a policy returns (``PolicyOutput``).

Arrays may be numpy arrays or torch tensors (any device); the search copies them into its float64
numpy tree once per simulation. ``B`` is the batch of independent trees, ``A`` the number of
actions.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np

if TYPE_CHECKING:
    from heurist.agents.search.tree import SearchTree

__all__ = ["PolicyOutput", "RecurrentFn", "RecurrentOutput", "RootOutput", "to_numpy"]


def to_numpy(x: Any, dtype: Any = np.float64) -> np.ndarray:
    """``x`` (numpy array, torch tensor on any device, or nested sequence) as a numpy array."""
    if hasattr(x, "detach"):  # a torch tensor: no torch import needed here
        x = x.detach().cpu()
        if x.dtype.is_floating_point and x.element_size() < 4:  # bfloat16/half: no numpy dtype
            x = x.float()
        x = x.numpy()
    return np.asarray(x, dtype=dtype)


@dataclass(frozen=True)
class RootOutput:
    """The network's output at the B roots.

    prior_logits: ``[B, A]`` policy logits. value: ``[B]`` value estimate.
    embedding: the roots' batched embedding: a numpy array or torch tensor ``[B, ...]``, a tuple or
    dict of those, a list of B per-row objects (e.g. env snapshots), or whatever the
    ``embedding_store`` passed to the policy understands.
    invalid_actions: optional ``[B, A]`` bool, True where the action is illegal at the root
    (``~action_mask`` for heurist envs); illegal actions are never visited nor chosen.
    """

    prior_logits: Any
    value: Any
    embedding: Any = None
    invalid_actions: Any = None


@dataclass(frozen=True)
class RecurrentOutput:
    """One step of the model (learned dynamics or the true simulator) from B nodes.

    reward: ``[B]``; discount: ``[B]`` (0 at terminal states; -1 for two-player zero-sum games);
    prior_logits: ``[B, A]`` at the new node; value: ``[B]`` at the new node.
    invalid_actions: optional ``[B, A]`` bool, True where the action is illegal at the new node (a
    true simulator knows it; a learned model leaves it None and relies on its logits).
    """

    reward: Any
    discount: Any
    prior_logits: Any
    value: Any
    invalid_actions: Any = None


class RecurrentFn(Protocol):
    """``recurrent_fn(params, rng, action [B], embedding) -> (RecurrentOutput, new_embedding)``.

    Called once per simulation for the whole batch: ``action`` is an int64 numpy array,
    ``embedding`` the batched embedding of the B nodes being expanded, ``rng`` the search's numpy
    Generator.
    """

    def __call__(self, params: Any, rng: np.random.Generator, action: np.ndarray,
                 embedding: Any) -> tuple[RecurrentOutput, Any]: ...


@dataclass(frozen=True)
class PolicyOutput:
    """What a search policy returns.

    action: ``[B]`` int64, the action to take. action_weights: ``[B, A]`` float64, the policy target
    (Gumbel: softmax(logits + sigma(completed q)); PUCT: the root's visit distribution).
    search_tree: the full ``SearchTree`` (visit counts via ``search_tree.summary()``).
    """

    action: np.ndarray
    action_weights: np.ndarray
    search_tree: SearchTree



"""Batched MuZero-style search, a library apart from networks and training (mctx's design on
numpy arrays and numba kernels).

``gumbel_muzero_policy`` (Gumbel MuZero, Danihelka et al. 2022) and ``muzero_policy`` (PUCT
MuZero) take a ``RootOutput`` (prior logits ``[B, A]``, value ``[B]``, embedding, illegal-action
mask), a ``recurrent_fn(params, rng, action [B], embedding) -> (RecurrentOutput, embedding)``
called once per simulation for all B trees, a simulation budget and a seed; they return a
``PolicyOutput`` (action ``[B]``, action weights ``[B, A]``, the ``SearchTree``).
"""
from heurist.agents.search.base import PolicyOutput, RecurrentFn, RecurrentOutput, RootOutput
from heurist.agents.search.embeddings import ArrayStore, EmbeddingStore, ObjectStore
from heurist.agents.search.policies import gumbel_muzero_policy, muzero_policy
from heurist.agents.search.seq_halving import (
    get_sequence_of_considered_visits,
    sequential_halving_schedule,
)
from heurist.agents.search.tree import SearchSummary, SearchTree

__all__ = [
    "ArrayStore", "EmbeddingStore", "ObjectStore", "PolicyOutput", "RecurrentFn",
    "RecurrentOutput", "RootOutput", "SearchSummary", "SearchTree",
    "get_sequence_of_considered_visits", "gumbel_muzero_policy", "muzero_policy",
    "sequential_halving_schedule",
]

"""Embedding storage of the search (numpy, torch, tuples/dicts/NamedTuples, per-row objects, a
user store) and the checks on what the root and ``recurrent_fn`` return."""
from typing import NamedTuple

import numpy as np
import pytest
import torch

from heurist.agents.search import (
    RecurrentOutput,
    RootOutput,
    gumbel_muzero_policy,
    muzero_policy,
)

A = 3
W = np.array([[0.5, -1.0, 0.25], [1.5, 0.0, -0.5]])  # [2, A]: logits = state @ W


def numpy_model(params, rng, action, embedding):
    """A linear model on a 2-d state: the action adds e_action / (1 + action) to the state."""
    step = np.zeros((len(action), 2))
    step[:, 0] = (action == 0) - 0.5 * (action == 2)
    step[:, 1] = (action == 1) / 2.0
    state = embedding + step
    return RecurrentOutput(reward=state.sum(1), discount=np.full(len(action), 0.9),
                           prior_logits=state @ W, value=state[:, 0] - state[:, 1]), state


def torch_model(params, rng, action, embedding):
    """The same model on torch tensors (float64), returning tensors."""
    out, state = numpy_model(params, rng, action, embedding.numpy())
    return RecurrentOutput(*(torch.from_numpy(np.asarray(x)) for x in
                             (out.reward, out.discount, out.prior_logits, out.value))), \
        torch.from_numpy(state)


class Pair(NamedTuple):
    state: np.ndarray
    steps: np.ndarray


def pair_model(params, rng, action, embedding):
    """The numpy model with the state inside a NamedTuple next to a step counter."""
    assert isinstance(embedding, Pair)
    out, state = numpy_model(params, rng, action, embedding.state)
    return out, Pair(state, embedding.steps + 1)


def list_model(params, rng, action, embedding):
    """The numpy model on a list of per-row tuples (as env snapshots would be)."""
    assert isinstance(embedding, list)
    out, state = numpy_model(params, rng, action, np.array([list(e) for e in embedding]))
    return out, [tuple(row) for row in state]


STATE0 = np.array([[0.0, 0.0], [1.0, -1.0], [0.5, 0.5]])


def run(model, embedding, policy=gumbel_muzero_policy):
    root = RootOutput(STATE0 @ W, STATE0[:, 0] - STATE0[:, 1], embedding)
    return policy((), 4, root, model, 25)


@pytest.mark.parametrize("policy", [gumbel_muzero_policy, muzero_policy])
def test_every_store_gives_the_same_search(policy):
    """numpy, torch, NamedTuple and per-row list embeddings of one model give identical trees."""
    ref = run(numpy_model, STATE0.copy(), policy)
    others = [run(torch_model, torch.from_numpy(STATE0.copy()), policy),
              run(pair_model, Pair(STATE0.copy(), np.zeros(3, np.int64)), policy),
              run(list_model, [tuple(r) for r in STATE0], policy)]
    for out in others:
        assert np.array_equal(out.search_tree.children_visits, ref.search_tree.children_visits)
        assert np.array_equal(out.action_weights, ref.action_weights)


def test_stored_embeddings_are_the_nodes_states():
    """The store holds each node's own state: node i's embedding is its parent's state plus its
    action's step, for every expanded node."""
    out = run(numpy_model, STATE0.copy())
    tree = out.search_tree
    nodes = np.arange(tree.num_nodes)
    for b in range(3):
        states = tree.embeddings.gather(np.full(3, 0))  # roots
        assert np.array_equal(states, STATE0)
        for n in nodes[1:]:
            parent, a = tree.parents[b, n], tree.action_from_parent[b, n]
            rows = np.full(3, parent)
            expected = numpy_model((), None, np.full(3, a), tree.embeddings.gather(rows))[1][b]
            assert np.array_equal(tree.embeddings.gather(np.full(3, n))[b], expected)


def test_user_store():
    """A user store (here counting gathers) replaces the default: gather is called once per
    simulation with the B parent nodes."""
    calls = []

    class Counting:
        def __init__(self, root, num_nodes):
            self.buf = np.zeros((len(root), num_nodes, 2))
            self.buf[:, 0] = root

        def gather(self, node):
            calls.append(node.copy())
            return self.buf[np.arange(len(node)), node]

        def scatter(self, node, embedding):
            self.buf[np.arange(len(node)), node] = embedding

    root = RootOutput(STATE0 @ W, np.zeros(3), STATE0.copy())
    out = gumbel_muzero_policy((), 4, root, numpy_model, 25, embedding_store=Counting)
    assert len(calls) == 25 and all(c.shape == (3,) for c in calls)
    assert np.array_equal(out.search_tree.children_visits,
                          run(numpy_model, STATE0.copy()).search_tree.children_visits)


@pytest.mark.parametrize("bad, match", [
    ({"prior_logits": np.zeros(3)}, "prior_logits must be"),
    ({"value": np.zeros(2)}, "value must be"),
    ({"invalid_actions": np.zeros((3, 2), bool)}, "invalid_actions must be"),
    ({"embedding": {1, 2}}, "cannot store an embedding of type set"),
    ({"value": np.array([0.0, np.nan, 0.0])}, "root value is not finite"),
    ({"invalid_actions": np.array([[0, 0, 0], [1, 1, 1], [0, 1, 0]], bool)},
     r"root rows \[1\] have no legal action"),
])
def test_bad_root_raises(bad, match):
    """A malformed root is a ValueError saying which field and which shape."""
    fields = {"prior_logits": np.zeros((3, A)), "value": np.zeros(3), "embedding": STATE0.copy()}
    fields.update(bad)
    with pytest.raises(ValueError, match=match):
        gumbel_muzero_policy((), 0, RootOutput(**fields), numpy_model, 2)


@pytest.mark.parametrize("field, value, match", [
    ("prior_logits", np.zeros((3, A + 1)), "prior_logits must be"),
    ("reward", np.zeros((3, 1)), "reward must be"),
    ("invalid_actions", np.zeros((2, A), bool), "invalid_actions must be"),
    ("value", np.array([0.0, np.inf, 0.0]), "non-finite value"),
    ("prior_logits", np.full((3, A), np.nan), "NaN logits"),
])
def test_bad_recurrent_output_raises(field, value, match):
    """A recurrent_fn returning a wrong shape is a ValueError naming the field."""

    def broken(params, rng, action, embedding):
        out, state = numpy_model(params, rng, action, embedding)
        fields = {"reward": out.reward, "discount": out.discount, "prior_logits": out.prior_logits,
                      "value": out.value}
        fields[field] = value
        return RecurrentOutput(**fields), state

    with pytest.raises(ValueError, match=match):
        run(broken, STATE0.copy())


def test_half_precision_tensors_are_accepted():
    """A model returning bfloat16 tensors (no numpy dtype) searches like its float64 twin when
    its outputs are exactly representable."""

    def model(dtype):
        def recurrent_fn(params, rng, action, embedding):
            b = len(action)
            logits = torch.zeros(b, A, dtype=dtype)
            logits[torch.arange(b), torch.from_numpy(action) % A] = 1.0
            reward = torch.from_numpy((action == 1).astype(np.float64)).to(dtype)
            return RecurrentOutput(reward=reward, discount=torch.full((b,), 0.5, dtype=dtype),
                                   prior_logits=logits, value=torch.zeros(b, dtype=dtype)), \
                embedding
        return recurrent_fn

    root = RootOutput(torch.zeros(2, A, dtype=torch.bfloat16), torch.zeros(2), ())
    half = gumbel_muzero_policy((), 1, root, model(torch.bfloat16), 10)
    full = gumbel_muzero_policy((), 1, root, model(torch.float64), 10)
    assert np.array_equal(half.search_tree.children_visits, full.search_tree.children_visits)
    assert np.array_equal(half.action_weights, full.action_weights)

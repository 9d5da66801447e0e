"""Gumbel MuZero search (``gumbel_muzero_policy``) on a fake deterministic model: mctx's published
policy-test expectations, hand-computed trees, masks and determinism."""
import math

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from heurist.agents.search import RecurrentOutput, RootOutput, gumbel_muzero_policy


def bandit(rewards, *, prior=None):
    """A recurrent_fn whose every step ends the episode (discount 0) with ``rewards[b, action]``."""
    rewards = np.asarray(rewards, float)

    def recurrent_fn(params, rng, action, embedding):
        r = rewards[np.arange(len(action)), action]
        logits = np.zeros_like(rewards) if prior is None else prior
        return RecurrentOutput(reward=r, discount=np.zeros_like(r), prior_logits=logits,
                               value=np.zeros_like(r)), embedding

    return recurrent_fn


def deepest_leaf(tree, b, node=0):
    """``(leaf, depth)`` of a deepest leaf under ``node`` (most visited among the deepest)."""
    leaf, best = node, 0
    for child in tree.children_index[b, node]:
        if child >= 0:
            found, depth = deepest_leaf(tree, b, child)
            if (1 + depth, tree.node_visits[b, found]) > (best, tree.node_visits[b, leaf]):
                leaf, best = found, 1 + depth
    return leaf, best


ROOT_LOGITS = np.array([[0.0, -1.0, 2.0, 3.0]])
REWARDS = np.array([[20.0, 3.0, -1.0, 10.0]])


def test_mctx_policy_test_with_invalid_actions():
    """mctx's test_gumbel_muzero_policy (17 sims, 2 legal actions, value_scale 0.05, maxvisit_init
    60, max_depth 3) with gumbel_scale 0: action 1, visits [0, 9, 8, 0], its target formula, and a
    deepest leaf at depth 3 visited 6 times."""
    invalid = np.array([[True, False, False, True]])
    root = RootOutput(ROOT_LOGITS, np.array([-5.0]), (), invalid)
    out = gumbel_muzero_policy((), 0, root, bandit(REWARDS), 17, max_depth=3, value_scale=0.05,
                               maxvisit_init=60, gumbel_scale=0.0)
    assert out.action.tolist() == [1]
    assert out.search_tree.summary().visit_counts.tolist() == [[0, 9, 8, 0]]
    # mctx's expected weights: completed q with the mixed value, min-max rescaled, scaled by
    # (60 + max N) * 0.05, softmax over the legal actions.
    p1, p2 = np.exp([-1.0, 2.0]) / np.exp([-1.0, 2.0]).sum()
    mix = (-5.0 + 17 * (p1 * 3.0 + p2 * -1.0)) / 18
    q = np.array([mix, 3.0, -1.0, mix])
    sigma = (60 + 9) * 0.05 * (q - q.min()) / (q.max() - q.min())
    z = np.where(invalid[0], -np.inf, ROOT_LOGITS[0] + sigma)
    np.testing.assert_allclose(out.action_weights[0], np.exp(z) / np.exp(z).sum(), atol=1e-12)
    leaf, depth = deepest_leaf(out.search_tree, 0)
    assert depth == 3 and out.search_tree.node_visits[0, leaf] == 6


def test_mctx_policy_test_without_invalid_actions():
    """mctx's test_gumbel_muzero_policy_without_invalid_actions with gumbel_scale 0: visits
    [6, 2, 2, 7], action 3, target softmax(logits + (60 + 7) * 0.05 * rescaled rewards)."""
    root = RootOutput(ROOT_LOGITS, np.array([-5.0]), ())
    out = gumbel_muzero_policy((), 0, root, bandit(REWARDS), 17, max_depth=3, value_scale=0.05,
                               maxvisit_init=60, gumbel_scale=0.0)
    assert out.action.tolist() == [3]
    assert out.search_tree.summary().visit_counts.tolist() == [[6, 2, 2, 7]]
    q = REWARDS[0]
    z = ROOT_LOGITS[0] + (60 + 7) * 0.05 * (q - q.min()) / (q.max() - q.min())
    np.testing.assert_allclose(out.action_weights[0], np.exp(z) / np.exp(z).sum(), atol=1e-12)


def test_hand_computed_two_armed_bandit():
    """Two arms with rewards 1 and 0, uniform prior, 4 sims: schedule (0, 0, 1, 1) gives visits
    [2, 2]; sigma(q) = (50 + 2) * 0.1 * [1, 0]; action 0; target softmax([5.2, 0]); value 0.4."""
    root = RootOutput(np.zeros((1, 2)), np.zeros(1), ())
    out = gumbel_muzero_policy((), 0, root, bandit([[1.0, 0.0]]), 4, gumbel_scale=0.0)
    assert out.search_tree.summary().visit_counts.tolist() == [[2, 2]]
    assert out.action.tolist() == [0]
    w0 = 1.0 / (1.0 + math.exp(-5.2))
    np.testing.assert_allclose(out.action_weights, [[w0, 1.0 - w0]], atol=1e-12)
    # The root's value: mean of its own value 0 and the returns 1, 0, 1, 0 = 2 / 5.
    assert out.search_tree.summary().value.tolist() == [0.4]


def test_hand_computed_depth_two_chain():
    """A one-action chain with reward 1 per step and discount 0.5: three sims build the path
    root -> n1 -> n2 -> n3; the root value is the mean of 0 (its own value) and the returns
    1, 1.5, 1.75 = 1.0625; n1 the mean of 0, 1, 1.5 = 5/6; n2 the mean of 0, 1 = 0.5."""

    def chain(params, rng, action, embedding):
        b = len(action)
        return RecurrentOutput(reward=np.ones(b), discount=np.full(b, 0.5),
                               prior_logits=np.zeros((b, 1)), value=np.zeros(b)), embedding

    out = gumbel_muzero_policy((), 0, RootOutput(np.zeros((1, 1)), np.zeros(1), ()), chain, 3)
    tree = out.search_tree
    assert tree.children_index[0, :3, 0].tolist() == [1, 2, 3]
    np.testing.assert_allclose(tree.node_values[0], [1.0625, 5 / 6, 0.5, 0.0], atol=1e-15)
    assert tree.node_visits[0].tolist() == [4, 3, 2, 1]


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 2**31 - 1), num_actions=st.integers(1, 7),
       sims=st.integers(1, 40), considered=st.integers(1, 8))
def test_invalid_actions_never_visited(seed, num_actions, sims, considered):
    """Random root masks (at least one legal action) and random interior masks from the model:
    no illegal edge is ever visited, the action is legal and the target is 0 on illegal actions."""
    rng = np.random.default_rng(seed)
    batch = 3
    invalid = rng.random((batch, num_actions)) < 0.5
    invalid[np.arange(batch), rng.integers(num_actions, size=batch)] = False

    def model(params, rng_, action, embedding):
        mask = rng.random((batch, num_actions)) < 0.4
        mask[np.arange(batch), rng.integers(num_actions, size=batch)] = False
        return RecurrentOutput(reward=rng.normal(size=batch), discount=np.full(batch, 0.9),
                               prior_logits=rng.normal(size=(batch, num_actions)),
                               value=rng.normal(size=batch), invalid_actions=mask), embedding

    root = RootOutput(rng.normal(size=(batch, num_actions)), rng.normal(size=batch), (), invalid)
    out = gumbel_muzero_policy((), seed, root, model, sims, max_num_considered_actions=considered)
    tree = out.search_tree
    assert not np.any(tree.children_visits[tree.children_invalid])
    assert not np.any(invalid[np.arange(batch), out.action])
    assert np.all(out.action_weights[invalid] == 0.0)
    assert tree.children_visits[:, 0].sum() == batch * sims


def test_same_seed_same_result():
    """Two searches with the same seed agree bit for bit; another seed draws other Gumbel noise."""
    rng = np.random.default_rng(3)
    logits, value = rng.normal(size=(4, 6)), rng.normal(size=4)
    rewards = rng.normal(size=(4, 6))
    runs = [gumbel_muzero_policy((), seed, RootOutput(logits, value, ()), bandit(rewards), 12)
            for seed in (7, 7, 8)]
    assert np.array_equal(runs[0].action, runs[1].action)
    assert np.array_equal(runs[0].action_weights, runs[1].action_weights)
    assert np.array_equal(runs[0].search_tree.children_visits, runs[1].search_tree.children_visits)
    assert not np.array_equal(runs[0].search_tree.root_gumbel, runs[2].search_tree.root_gumbel)


@pytest.mark.parametrize("kwargs, match", [
    ({"num_simulations": 0}, "num_simulations"),
    ({"num_simulations": 4, "max_num_considered_actions": 0}, "max_num_considered_actions"),
    ({"num_simulations": 4, "max_depth": 0}, "max_depth"),
])
def test_bad_hyperparameters_raise(kwargs, match):
    """Out-of-range budgets and hyperparameters are ValueErrors naming the parameter."""
    root = RootOutput(np.zeros((1, 2)), np.zeros(1), ())
    n = kwargs.pop("num_simulations")
    with pytest.raises(ValueError, match=match):
        gumbel_muzero_policy((), 0, root, bandit([[0.0, 0.0]]), n, **kwargs)

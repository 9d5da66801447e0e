"""PUCT MuZero search (``muzero_policy``): mctx's published policy test, a hand-computed tree,
Dirichlet noise, masks and determinism."""
import math

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from heurist.agents.search import RecurrentOutput, RootOutput, muzero_policy


def bandit(rewards):
    """Every step ends the episode (discount 0) with ``rewards[b, action]``; uniform prior."""
    rewards = np.asarray(rewards, float)

    def recurrent_fn(params, rng, action, embedding):
        r = rewards[np.arange(len(action)), action]
        return RecurrentOutput(reward=r, discount=np.zeros_like(r),
                               prior_logits=np.zeros_like(rewards),
                               value=np.zeros_like(r)), embedding

    return recurrent_fn


def test_mctx_muzero_policy_test():
    """mctx's test_muzero_policy: one simulation, action 3 illegal, no noise -> action 2 (the
    highest legal prior), weights [0, 0, 1, 0]."""
    root = RootOutput(np.array([[-1.0, 0.0, 2.0, 3.0]]), np.array([0.0]), (),
                      np.array([[False, False, False, True]]))
    out = muzero_policy((), 0, root, bandit(np.zeros((1, 4))), 1, dirichlet_fraction=0.0)
    assert out.action.tolist() == [2]
    assert out.action_weights.tolist() == [[0.0, 0.0, 1.0, 0.0]]


def test_hand_computed_two_armed_bandit():
    """Arms paying 1 and 0, uniform prior, 3 sims. Sim 1: all scores tie -> arm 0 (q = 1, root
    value 0.5). Sim 2: arm 0 normalised q (1 - 0.5) / 0.5 = 1 plus sqrt(2) c / 4 beats arm 1's
    sqrt(2) c / 2 (c ~ 1.25). Sim 3 likewise -> visits [3, 0], root value (0 + 3) / 4."""
    root = RootOutput(np.zeros((1, 2)), np.zeros(1), ())
    out = muzero_policy((), 0, root, bandit([[1.0, 0.0]]), 3, dirichlet_fraction=0.0)
    summary = out.search_tree.summary()
    assert summary.visit_counts.tolist() == [[3, 0]]
    assert summary.value.tolist() == [0.75]
    assert out.action.tolist() == [0] and out.action_weights.tolist() == [[1.0, 0.0]]
    c = 1.25 + math.log((2 + 19652 + 1) / 19652)
    assert 1 + math.sqrt(2) * c * 0.5 / 2 > math.sqrt(2) * c * 0.5  # the sim-2 comparison


def test_dirichlet_noise_reaches_root_prior():
    """With dirichlet_fraction 1 the root prior is the Dirichlet draw of the seeded generator
    (first draw, alpha 0.3): its logits are log(noise)."""
    root = RootOutput(np.zeros((2, 5)), np.zeros(2), ())
    out = muzero_policy((), 123, root, bandit(np.zeros((2, 5))), 2, dirichlet_fraction=1.0)
    noise = np.random.default_rng(123).dirichlet(np.full(5, 0.3), size=2)
    probs = out.search_tree.children_prior_probs[:, 0]
    np.testing.assert_allclose(probs, noise, rtol=1e-12)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 2**31 - 1), num_actions=st.integers(1, 7), sims=st.integers(1, 40),
       temperature=st.sampled_from([0.0, 1.0]))
def test_invalid_actions_never_visited(seed, num_actions, sims, temperature):
    """With Dirichlet noise on and random root and interior masks, no illegal edge is visited,
    the action is legal and the weights are 0 on illegal root actions."""
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
    out = muzero_policy((), seed, root, model, sims, temperature=temperature)
    tree = out.search_tree
    assert not np.any(tree.children_visits[tree.children_invalid])
    assert not np.any(invalid[np.arange(batch), out.action])
    assert np.all(out.action_weights[invalid] == 0.0)


def test_same_seed_same_result():
    """Same seed: identical noise, visits and actions (temperature 1 sampling too)."""
    rng = np.random.default_rng(5)
    logits, value, rewards = rng.normal(size=(4, 6)), rng.normal(size=4), rng.normal(size=(4, 6))
    runs = [muzero_policy((), seed, RootOutput(logits, value, ()), bandit(rewards), 15,
                          temperature=1.0) for seed in (9, 9)]
    assert np.array_equal(runs[0].action, runs[1].action)
    assert np.array_equal(runs[0].search_tree.children_visits, runs[1].search_tree.children_visits)
    assert np.array_equal(runs[0].search_tree.children_prior_logits,
                          runs[1].search_tree.children_prior_logits)


@pytest.mark.parametrize("kwargs, match", [
    ({"dirichlet_fraction": 1.5}, "dirichlet_fraction"),
    ({"dirichlet_alpha": 0.0}, "dirichlet_alpha"),
    ({"temperature": -1.0}, "temperature"),
])
def test_bad_hyperparameters_raise(kwargs, match):
    """Out-of-range hyperparameters are ValueErrors naming the parameter."""
    root = RootOutput(np.zeros((1, 2)), np.zeros(1), ())
    with pytest.raises(ValueError, match=match):
        muzero_policy((), 0, root, bandit([[0.0, 0.0]]), 3, **kwargs)

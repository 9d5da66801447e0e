"""A tiny game with a known optimum: a deterministic depth-3 decision tree (3 actions per step,
rewards on every step, a deceptive first step). Planning with the true simulator as the model
and an untrained (uniform) prior, each search re-rooted after every move, reaches the optimum."""
import itertools

import numpy as np
import pytest

from heurist.agents.search import (
    RecurrentOutput,
    RootOutput,
    gumbel_muzero_policy,
    muzero_policy,
)

A, DEPTH, BATCH = 3, 3, 6


def games():
    """Per game: step rewards ``r[depth][path]``, negative costs (so an untrained model's zero
    value is optimistic, as for a cost-minimising planner). The cheapest first step leads to an
    expensive end game, so greedy play is not optimal; games are redrawn until the optimum wins by
    a margin of 0.25 at every step of its path (a search that averages returns cannot be asked to
    split near-ties)."""
    rng = np.random.default_rng(2026)
    tables = []
    while len(tables) < BATCH:
        r1 = -rng.uniform(0, 1, size=A)
        r2 = -rng.uniform(0, 1, size=(A, A))
        r3 = -rng.uniform(0, 3, size=(A, A, A))
        r3[int(np.argmax(r1))] -= 2.0  # the greedy first move leads to a poor end game
        if min_margin((r1, r2, r3)) >= 0.25:
            tables.append((r1, r2, r3))
    return tables


def best_from(table, path):
    """The best total reward of the remaining steps after ``path``."""
    if len(path) == DEPTH:
        return 0.0
    return max(step_reward(table, path + (a,)) + best_from(table, path + (a,)) for a in range(A))


def min_margin(table):
    """The smallest gap, along the optimal path, between the best action and the runner-up."""
    path, margin = (), np.inf
    while len(path) < DEPTH:
        values = sorted((step_reward(table, path + (a,)) + best_from(table, path + (a,)), a)
                        for a in range(A))
        margin = min(margin, values[-1][0] - values[-2][0])
        path += (values[-1][1],)
    return margin


def step_reward(table, path):
    return float(table[len(path) - 1][tuple(path)])


def optimum(table):
    return max(sum(step_reward(table, p[:k]) for k in range(1, DEPTH + 1))
               for p in itertools.product(range(A), repeat=DEPTH))


def make_model(tables):
    """The true simulator: the embedding is each row's path so far (a list of tuples)."""

    def recurrent_fn(params, rng, action, embedding):
        paths = [path + (int(a),) for path, a in zip(embedding, action)]
        reward = np.array([step_reward(t, p) if len(p) <= DEPTH else 0.0
                           for t, p in zip(tables, paths)])
        discount = np.array([0.0 if len(p) >= DEPTH else 1.0 for p in paths])
        b = len(action)
        return RecurrentOutput(reward=reward, discount=discount, prior_logits=np.zeros((b, A)),
                               value=np.zeros(b)), paths

    return recurrent_fn


def play(policy, sims, **kwargs):
    tables = games()
    model = make_model(tables)
    paths = [() for _ in tables]
    total = np.zeros(BATCH)
    for move in range(DEPTH):
        root = RootOutput(np.zeros((BATCH, A)), np.zeros(BATCH), list(paths))
        out = policy((), move, root, model, sims, **kwargs)
        paths = [p + (int(a),) for p, a in zip(paths, out.action)]
        total += [step_reward(t, p) for t, p in zip(tables, paths)]
    return tables, total


def test_greedy_is_not_optimal():
    """The game is not trivial: taking the best immediate reward misses the optimum in every
    game."""
    for table in games():
        first = int(np.argmax(table[0]))
        best_after_greedy = table[0][first] + max(
            table[1][first, b] + table[2][first, b, c] for b in range(A) for c in range(A))
        assert best_after_greedy < optimum(table)


@pytest.mark.parametrize("policy, sims, kwargs", [
    (gumbel_muzero_policy, 200, {"gumbel_scale": 0.0}),
    (gumbel_muzero_policy, 200, {"gumbel_scale": 1.0}),
    (muzero_policy, 800, {"dirichlet_fraction": 0.0}),
])
def test_search_finds_the_optimum(policy, sims, kwargs):
    """From a uniform prior and zero values, Gumbel MuZero with 200 simulations per move (with and
    without Gumbel noise) and PUCT with 800 reach the exact optimum of every game."""
    tables, total = play(policy, sims, **kwargs)
    np.testing.assert_allclose(total, [optimum(t) for t in tables], rtol=1e-12)

"""Both policies against a tiny independent pure-Python search (one dict-based tree per row, the
formulas of Danihelka et al. 2022 / Schrittwieser et al. 2020 as mctx states them) on a fake
deterministic model with real depth: visit counts, actions, targets and node values agree."""
import math

import numpy as np
import pytest

from heurist.agents.search import (
    RecurrentOutput,
    RootOutput,
    gumbel_muzero_policy,
    muzero_policy,
    sequential_halving_schedule,
)

A = 4


def model_at(state: int) -> tuple[list[float], float, float, float]:
    """The fake model at a state id: (logits [A], value, reward into it, discount into it)."""
    r = np.random.default_rng(state)
    logits = r.normal(size=A).tolist()
    value, reward = r.uniform(-1, 1), r.uniform(-1, 1)
    discount = 0.0 if state % 7 == 0 else 0.9  # some states are terminal
    return logits, float(value), float(reward), discount


def child_state(state: int, action: int) -> int:
    return state * (A + 1) + action + 1


def batched_model(params, rng, action, embedding):
    """The same model, batched: the embedding is the state id ``[B]``."""
    states = np.array([child_state(int(s), int(a)) for s, a in zip(embedding, action)])
    outs = [model_at(int(s)) for s in states]
    return RecurrentOutput(reward=np.array([o[2] for o in outs]),
                           discount=np.array([o[3] for o in outs]),
                           prior_logits=np.array([o[0] for o in outs]),
                           value=np.array([o[1] for o in outs])), states


class Node:
    def __init__(self, state, logits, value):
        self.state, self.logits, self.raw = state, logits, value
        self.value, self.visits = value, 1
        self.children: dict[int, Node] = {}
        self.reward: dict[int, float] = {}
        self.discount: dict[int, float] = {}

    def probs(self):
        m = max(self.logits)
        e = [math.exp(x - m) for x in self.logits]
        return [x / sum(e) for x in e]

    def n(self, a):
        return self.children[a].visits if a in self.children else 0

    def q(self, a):
        return self.reward[a] + self.discount[a] * self.children[a].value


def sigma_completed_q(node, *, value_scale=0.1, maxvisit_init=50.0):
    """Completed Q (mixed value if unvisited), min-max rescaled, times (c_visit + max N) c_scale."""
    probs = node.probs()
    visited = [a for a in range(A) if node.n(a) > 0]
    total = sum(node.n(a) for a in range(A))
    if visited:
        mass = sum(probs[a] for a in visited)
        mixed = (node.raw + total * sum(probs[a] * node.q(a) for a in visited) / mass) / (total + 1)
    else:
        mixed = node.raw
    q = [node.q(a) if node.n(a) > 0 else mixed for a in range(A)]
    lo, hi = min(q), max(q)
    q = [(x - lo) / max(hi - lo, 1e-8) for x in q]
    scale = (maxvisit_init + max(node.n(a) for a in range(A))) * value_scale
    return [scale * x for x in q]


def argmax(xs):
    return max(range(len(xs)), key=lambda i: (xs[i], -i))


def expand(node, a):
    state = child_state(node.state, a)
    logits, value, reward, discount = model_at(state)
    node.children[a] = Node(state, logits, value)
    node.reward[a], node.discount[a] = reward, discount


def backup(path, leaf):
    g = leaf.value
    for node, a in reversed(path):
        g = node.reward[a] + node.discount[a] * g
        node.value = (node.value * node.visits + g) / (node.visits + 1)
        node.visits += 1


def reference_gumbel(root, gumbel, sims, m):
    schedule = sequential_halving_schedule(min(m, A), sims)
    for sim in range(sims):
        node, path = root, []
        while True:
            sq = sigma_completed_q(node)
            if node is root:
                lmax = max(node.logits)
                score = [gumbel[a] + node.logits[a] - lmax + sq[a]
                         if node.n(a) == schedule[sim] else -math.inf for a in range(A)]
            else:
                z = [node.logits[a] + sq[a] for a in range(A)]
                zm = max(z)
                e = [math.exp(x - zm) for x in z]
                total = sum(node.n(b) for b in range(A))
                score = [e[a] / sum(e) - node.n(a) / (1 + total) for a in range(A)]
            a = argmax(score)
            path.append((node, a))
            if a not in node.children:
                break
            node = node.children[a]
        expand(node, a)
        backup(path, node.children[a])
    sq = sigma_completed_q(root)
    most = max(root.n(a) for a in range(A))
    lmax = max(root.logits)
    score = [gumbel[a] + root.logits[a] - lmax + sq[a] if root.n(a) == most else -math.inf
             for a in range(A)]
    z = [root.logits[a] + sq[a] for a in range(A)]
    e = [math.exp(x - max(z)) for x in z]
    return argmax(score), [x / sum(e) for x in e]


def reference_puct(root, sims, pb_c_init=1.25, pb_c_base=19652.0):
    for _ in range(sims):
        node, path = root, []
        while True:
            visited = [a for a in range(A) if node.n(a) > 0]
            lo = min([node.value] + [node.q(a) for a in visited])
            hi = max([node.value] + [node.q(a) for a in visited])
            c = pb_c_init + math.log((node.visits + pb_c_base + 1) / pb_c_base)
            p = node.probs()
            score = [((node.q(a) - lo) / max(hi - lo, 1e-8) if node.n(a) > 0 else 0.0)
                     + math.sqrt(node.visits) * c * p[a] / (node.n(a) + 1) for a in range(A)]
            a = argmax(score)
            path.append((node, a))
            if a not in node.children:
                break
            node = node.children[a]
        expand(node, a)
        backup(path, node.children[a])
    visits = [root.n(a) for a in range(A)]
    return argmax(visits), [v / sum(visits) for v in visits]


def roots(batch):
    states = np.arange(11, 11 + batch)
    outs = [model_at(int(s)) for s in states]
    root = RootOutput(np.array([o[0] for o in outs]), np.array([o[1] for o in outs]), states)
    return root, [Node(int(s), o[0], o[1]) for s, o in zip(states, outs)]


@pytest.mark.parametrize("sims, m", [(5, 16), (23, 4), (40, 2), (40, 3)])
def test_gumbel_matches_reference(sims, m):
    """Gumbel MuZero (Gumbel noise on) equals the pure-Python search: per-row visit counts, action,
    target, root value, and the number of nodes at depth >= 2 (the trees really are deep)."""
    root, ref_roots = roots(5)
    out = gumbel_muzero_policy((), 1, root, batched_model, sims, max_num_considered_actions=m)
    summary = out.search_tree.summary()
    deep = 0
    for b, ref in enumerate(ref_roots):
        action, weights = reference_gumbel(ref, out.search_tree.root_gumbel[b], sims, m)
        assert summary.visit_counts[b].tolist() == [ref.n(a) for a in range(A)]
        assert out.action[b] == action
        np.testing.assert_allclose(out.action_weights[b], weights, rtol=1e-9, atol=1e-12)
        assert summary.value[b] == pytest.approx(ref.value, rel=1e-9, abs=1e-12)
        deep += sum(child.children != {} for child in ref.children.values())
    assert deep > 0 or sims < 10


@pytest.mark.parametrize("sims", [1, 9, 30])
def test_puct_matches_reference(sims):
    """PUCT MuZero without Dirichlet noise equals the pure-Python search: visit counts, the
    visit-count argmax, the visit distribution and root value."""
    root, ref_roots = roots(5)
    out = muzero_policy((), 1, root, batched_model, sims, dirichlet_fraction=0.0)
    summary = out.search_tree.summary()
    for b, ref in enumerate(ref_roots):
        action, weights = reference_puct(ref, sims)
        assert summary.visit_counts[b].tolist() == [ref.n(a) for a in range(A)]
        assert out.action[b] == action
        np.testing.assert_allclose(out.action_weights[b], weights, atol=1e-15)
        assert summary.value[b] == pytest.approx(ref.value, rel=1e-9, abs=1e-12)

"""The conditional reuse-distance slot channels (input_predictor=conditional_distance): exact
values against a plain-Python recomputation, causal, and the other channels unchanged."""
import math

import numpy as np
import pytest
import torch

from heurist.agents.data import load_split
from heurist.agents.evaluation import eval_instance
from heurist.policies.paging.learned_policy import input_predictor, slot_env

pytestmark = pytest.mark.usefixtures("one_thread")
K = 4


def _surv(p, v):
    """P(x >= v) over log2(1 + x) buckets, linear inside a bucket; "never" counts as beyond."""
    n, u = len(p) - 1, math.log2(1.0 + v)
    return p[n] + sum(p[c] if u <= c else p[c] * (c + 1 - u) if u < c + 1 else 0.0
                      for c in range(n))


def _remaining(p, centres, v):
    """E[log2(1 + x) | x > v], the part of each bucket above v at its mid-point."""
    n, u = len(p) - 1, math.log2(1.0 + v)
    num = den = 0.0
    for b in range(n + 1):
        if b == n:
            w, c = 1.0, centres[b]
        elif u >= b + 1:
            continue
        elif u > b:
            w, c = b + 1 - u, 0.5 * (u + b + 1)
        else:
            w, c = 1.0, centres[b]
        num, den = num + p[b] * w * c, den + p[b] * w
    return centres[n] if den <= 1e-12 else num / den


def _play(trace, spec, policy, check=None):
    """Slot features [decisions, K, F] and pending times of ``policy`` on ``trace``."""
    pred, _ = input_predictor(spec)
    env = slot_env(K, pred)
    td = env.reset(instance=eval_instance([trace], cache_size=K, predictor=pred, seed=0))
    feats, times = [], []
    while not bool(td["done"].all()):
        if check is not None:
            check(env, td, pred)
        feats.append(td["slot_features"][0].clone())
        times.append(int(env.state.t[0]))
        td["action"] = policy(td)
        td = env.step(td)["next"]
    return torch.stack(feats), times


def _far9(td):
    return td["slot_features"][..., 9].masked_fill(~td["action_mask"], -1.0).argmax(-1)


def _slot0(td):
    return torch.zeros(td["action_mask"].shape[0], dtype=torch.int64)


@pytest.fixture(scope="module")
def trace(shared_data):
    split = load_split(shared_data / "paging" / "brightkite", n_train=70)
    return np.asarray(split["test"][1][:200])  # many distinct pages


def test_distance_channels_equal_a_python_recomputation(trace):
    """At every decision, channel 8 = P(D >= s + k | D >= s) and channel 9 = E[log2(1+D) | D > s]
    / never_log2, s = distinct pages requested since the slot page's latest request."""
    n_checked = []

    def check(env, td, pred):
        s, dist = env.state, pred.predictor.distributions(trace)[1]
        t = int(s.t[0])
        for j in range(K):
            r = int(s.slot_last[0, j])
            sd = len({int(q) for q in trace[r + 1:t]})
            p = dist[r]
            got = td["slot_features"][0, j]
            assert abs(float(got[8]) - min(_surv(p, sd + K) / _surv(p, sd), 1.0)) < 1e-5
            want9 = min(_remaining(p, env.centres, sd) / env.centres[-1], 1.0)
            assert abs(float(got[9]) - want9) < 1e-5
        n_checked.append(t)

    _play(trace, "conditional_distance", _far9, check)
    assert len(n_checked) > 30


def test_distance_channels_are_causal_and_leave_the_others_unchanged(trace):
    """A different future after request 100 leaves the features of earlier decisions unchanged;
    every channel but 8-9 equals the conditional env's under the same actions."""
    feats, times = _play(trace, "conditional_distance", _far9)
    altered = trace.copy()
    altered[100:] += 10_000
    feats_alt, times_alt = _play(altered, "conditional_distance", _far9)
    n = sum(t < 100 for t in times)
    assert n > 10 and times_alt[:n] == times[:n]
    torch.testing.assert_close(feats_alt[:n], feats[:n])
    dist, _ = _play(trace, "conditional_distance", _slot0)
    cond, _ = _play(trace, "conditional", _slot0)
    keep = [c for c in range(dist.shape[-1]) if c not in (8, 9)]
    torch.testing.assert_close(dist[..., keep], cond[..., keep])
    assert not torch.equal(dist[..., 8:10], cond[..., 8:10])

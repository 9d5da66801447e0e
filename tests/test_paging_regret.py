"""Cost-sensitive paging imitation labels: the lockstep regret equals a brute-force OPT replay."""
import numpy as np
import pytest
import torch

from heurist.agents.evaluation import eval_instance
from heurist.agents.paging_regret import RegretTeacherEnv, belady_regret, zero_regret_mask
from heurist.envs.paging.env import PagingEnv


def _opt_from(trace, cache, t0, k):
    """Belady's misses on ``trace[t0:]`` from the full cache ``cache`` (plain Python)."""
    cache, miss, T = list(cache), 0, len(trace)
    for s in range(t0, T):
        y = trace[s]
        if y in cache:
            continue
        miss += 1

        def nxt(p):
            return next((u for u in range(s + 1, T) if trace[u] == p), T)

        cache[cache.index(max(cache, key=nxt))] = y
    return miss


@pytest.mark.parametrize("k", [2, 4])
def test_regret_equals_brute_force_opt_replay(k):
    """At every decision of random policies on random traces, regret_j = OPT(evict j) - min_i OPT(evict i)."""
    rng = np.random.default_rng(k)
    traces = [rng.integers(0, 3 * k, size=40) for _ in range(5)]
    env = PagingEnv(cache_size=k)
    td = env.reset(instance=eval_instance(traces, cache_size=k, predictor="none", seed=0))
    n_zero = n_pos = 0
    while not bool(td["done"].all()):
        s = env.state
        reg = belady_regret(s)
        z = zero_regret_mask(s)
        far = env.opt_mask().numpy()
        for b in range(len(traces)):
            if s.done[b]:
                continue
            t, tr = int(s.t[b]), list(s.trace[b, :s.length[b]])
            res = []
            for j in range(k):
                c = list(s.slot_page[b])
                c[j] = tr[t]
                res.append(_opt_from(tr, c, t + 1, k))
            np.testing.assert_allclose(reg[b], np.array(res) - min(res))
            assert set(reg[b]) <= {0.0, 1.0}  # unit costs: one extra miss at most
            assert (z[b] >= far[b]).all() and (z[b] == (reg[b] == 0)).all()
            n_zero += int(z[b].sum() - far[b].sum())
            n_pos += int((reg[b] > 0).sum())
        td["action"] = torch.from_numpy(rng.integers(0, k, size=len(traces)))
        td = env.step(td)["next"]
    assert n_zero > 0 and n_pos > 0  # the relaxed labels do differ from the farthest slots


def test_regret_teacher_env_only_changes_the_mask():
    """RegretTeacherEnv keeps the env's opt_action and replaces opt_mask by the zero-regret set."""
    env = PagingEnv(cache_size=3)
    wrapped = RegretTeacherEnv(env)
    trace = np.array([0, 1, 2, 3, 0, 1, 4, 0, 1, 2])
    wrapped.reset(instance=eval_instance([trace], cache_size=3, predictor="none", seed=0))
    assert int(wrapped.opt_action()[0]) == int(env.opt_action()[0])
    assert wrapped.opt_mask().numpy().tolist() == zero_regret_mask(env.state).tolist()

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

        def nxt(p, s=s):
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


def test_dagger_buffer_concat_and_bad_imitation_options(shared_data, tmp_path):
    """_concat stacks the decision tensors of several rollouts; bad agent options are refused."""
    from hydra import compose, initialize_config_module
    from rich.console import Console

    from heurist.agents.paging_task import PagingTask, _concat
    from heurist.agents.rollout import collect

    env = PagingEnv(cache_size=2)
    inst = eval_instance([np.array([0, 1, 2, 0, 1, 2, 3])], cache_size=2, predictor="none", seed=0)
    rolls = [collect(env, inst.clone(), lambda td: torch.zeros(1, dtype=torch.int64), teacher=True)
             for _ in range(2)]
    both = _concat(rolls)
    n = rolls[0].actions.shape[0]
    assert both.actions.shape[0] == 2 * n and torch.equal(both.teacher[:n], rolls[0].teacher)
    for bad, msg in (("imitation_target=far", "imitation_target=far"),
                     ("dagger_buffer=0", "dagger_buffer=0")):
        with initialize_config_module("heurist.configs", version_base="1.3"):
            cfg = compose("train", overrides=[
                "experiment=slot_zero_regret", "logger=csv", "env.input_predictor=none",
                f"env.data_dir={shared_data / 'paging' / 'brightkite'}",
                f"trainer.run_dir={tmp_path}", f"agent.{bad}"] if "target" in bad else [
                "experiment=slot_dagger_buffer", "logger=csv", "env.input_predictor=none",
                f"env.data_dir={shared_data / 'paging' / 'brightkite'}",
                f"trainer.run_dir={tmp_path}", f"agent.{bad}"])
        with pytest.raises(ValueError, match=msg):
            PagingTask(cfg, console=Console(quiet=True))

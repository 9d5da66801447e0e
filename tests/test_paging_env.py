"""The paging env: exact miss counts on tiny traces, agreement with the simulator's OPT/LRU/LFU/
BlindOracle, the no-decision corner case, weighted costs, and input validation."""
import numpy as np
import pytest
import torch

from heurist.agents.rollout import collect
from heurist.envs.paging.env import REQUEST_FEATURES, SLOT_FEATURES, PagingEnv
from heurist.envs.paging.generator import PagingGenerator, instance_from_traces
from heurist.envs.paging.oracle import check_solution, evaluate, miss_cost, replay
from heurist.envs.paging.predictions import next_arrival_indices
from heurist.envs.paging.traces import load_trace
from heurist.policies.paging import simulate
from heurist.policies.paging.env_policies import (
    BeladyEnvPolicy,
    blind_oracle_policy,
    lfu_policy,
    lru_policy,
)

TINY = [0, 1, 2, 0, 3, 0, 1]


def _play(env, instance, actions):
    td = env.reset(instance=instance)
    rewards, dones = [], []
    for a in actions:
        td["action"] = torch.as_tensor(a).reshape(-1)
        td = env.step(td)["next"]
        rewards.append(td["reward"].reshape(-1).tolist())
        dones.append(td["done"].reshape(-1).tolist())
    return rewards, dones


def _inst(traces, **kw):
    kw.setdefault("predictor", "none")
    return instance_from_traces([np.asarray(t) for t in traces], cache_size=2, **kw)


def test_tiny_trace_rewards_with_chosen_actions():
    """k=2 on 0 1 2 0 3 0 1: evicting slot 1 twice then slot 0 gives rewards -3,-1,-1 (5 misses)."""
    env = PagingEnv(cache_size=2)
    rewards, dones = _play(env, _inst([TINY]), [1, 1, 0])
    assert rewards == [[-3.0], [-1.0], [-1.0]]
    assert dones == [[False], [False], [True]]
    assert float(env.misses()[0]) == 5.0


def test_tiny_trace_always_slot0():
    """Always evicting slot 0 on the tiny trace costs 6 misses over 4 decisions."""
    env = PagingEnv(cache_size=2)
    rewards, dones = _play(env, _inst([TINY]), [0, 0, 0, 0])
    assert rewards == [[-3.0], [-1.0], [-1.0], [-1.0]]
    assert dones[-1] == [True] and dones[-2] == [False]


def test_oracle_replay_independent_counts():
    """The plain replay gives the same tiny-trace miss counts and rejects bad logs."""
    assert replay(TINY, [1, 1, 0], cache_size=2) == (True, 5.0, 3)
    assert replay(TINY, [0, 0, 0, 0], cache_size=2) == (True, 6.0, 4)
    assert replay(TINY, [1, 1], cache_size=2)[0] is False  # log too short
    assert replay(TINY, [1, 2, 0], cache_size=2)[0] is False  # slot 2 does not exist
    inst = _inst([TINY, TINY])
    acts = torch.tensor([[1, 1, 0, 0], [0, 0, 0, 0]])
    assert check_solution(inst, acts, cache_size=2).tolist() == [True, True]
    assert evaluate(inst, acts, cache_size=2).tolist() == [-5.0, -6.0]
    assert not check_solution(inst, torch.tensor([[1, 1], [0, 0]]), cache_size=2).any()


def test_done_rows_are_absorbing_with_mask_on_slot0():
    """A finished row keeps done, gets reward 0 and only action 0 is legal."""
    env = PagingEnv(cache_size=2)
    inst = _inst([TINY, [0, 1, 2, 0, 1, 2, 0, 1, 2]])
    td = env.reset(instance=inst)
    for a in ([1, 0], [1, 0], [0, 0]):
        td["action"] = torch.tensor(a)
        td = env.step(td)["next"]
    assert td["done"].reshape(-1).tolist() == [True, False]
    assert td["action_mask"][0].tolist() == [True, False]
    td["action"] = torch.tensor([0, 0])
    nxt = env.step(td)["next"]
    assert float(nxt["reward"][0]) == 0.0 and bool(nxt["done"][0])


def test_no_decision_corner_case():
    """A trace that never overflows the cache is done at reset: return 0, misses = distinct pages."""
    env = PagingEnv(cache_size=3)
    inst = instance_from_traces([np.array([0, 1, 0, 2, 1])], cache_size=3, predictor="none")
    td = env.reset(instance=inst)
    assert bool(td["done"].all())
    assert float(env.misses()[0]) == 3.0
    empty = torch.zeros(1, 0, dtype=torch.int64)
    assert evaluate(inst, empty, cache_size=3).tolist() == [0.0]
    assert miss_cost(inst, empty, cache_size=3).tolist() == [3.0]


def test_weighted_costs():
    """Per-request costs: each reward is minus the cost of the misses it covers."""
    env = PagingEnv(cache_size=2)
    cost = np.array([1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0], dtype=np.float32)
    inst = instance_from_traces([np.array(TINY)], cache_size=2, predictor="none", costs=[cost])
    rewards, _ = _play(env, inst, [1, 1, 0])
    # misses at t = 0, 1, 2 (first step), 4 (second), 6 (third)
    assert rewards == [[-7.0], [-16.0], [-64.0]]
    assert evaluate(inst, torch.tensor([[1, 1, 0]]), cache_size=2).tolist() == [-87.0]


def test_lru_features_and_mask():
    """At the first decision of 0 1 2 with k=2, slot 0 (page 0) is least recent, both are legal."""
    env = PagingEnv(cache_size=2)
    td = env.reset(instance=_inst([TINY]))
    rec = td["slot_features"][0, :, SLOT_FEATURES.index("recency_rank")]
    assert rec.tolist() == [1.0, 0.0]
    assert td["action_mask"][0].tolist() == [True, True]
    assert td["request_features"][0, REQUEST_FEATURES.index("seen_before")] == 0.0
    assert int(lru_policy(td)[0]) == 0


def _zipf_traces(n, seed, length=300, n_pages=40):
    gen = PagingGenerator(length=length, n_pages=n_pages, alpha=0.8, predictor="none")
    return gen.draw_traces(n, np.random.default_rng(seed))


def _env_misses(policy_fn, traces, k, predictor="none", seed=0):
    env = PagingEnv(cache_size=k)
    inst = instance_from_traces(traces, cache_size=k, predictor=predictor,
                                rng=np.random.default_rng(seed))
    pol = policy_fn(env) if policy_fn is BeladyEnvPolicy else policy_fn
    return collect(env, inst, pol, record=False).misses.numpy(), inst


@pytest.mark.parametrize("k", [3, 8])
def test_belady_replay_equals_simulate_opt(k):
    """The env replaying Belady's choices reproduces simulate's OPT miss count exactly."""
    traces = _zipf_traces(6, seed=k)
    got, _ = _env_misses(BeladyEnvPolicy, traces, k)
    want = [simulate(t, k, "OPT").misses for t in traces]
    assert got.tolist() == want


@pytest.mark.parametrize("name,policy", [("LRU", lru_policy), ("LFU", lfu_policy)])
def test_observation_policies_equal_simulate(name, policy):
    """LRU/LFU acting on the env's observation give simulate's miss counts exactly."""
    traces = _zipf_traces(6, seed=1)
    got, _ = _env_misses(policy, traces, 5)
    assert got.tolist() == [simulate(t, 5, name).misses for t in traces]


def test_blind_oracle_equals_simulate():
    """Following noisy predictions in the env equals simulate's BlindOracle on the same predictions."""
    from heurist.agents.evaluation import predictions_of

    traces = _zipf_traces(4, seed=2)
    got, inst = _env_misses(blind_oracle_policy, traces, 6, predictor="noisy:2", seed=3)
    want = [simulate(t, 6, "BlindOracle", predictions=predictions_of(inst, i)).misses
            for i, t in enumerate(traces)]
    assert got.tolist() == want


def test_brightkite_known_totals(shared_data):
    """On 10 BrightKite users the env's Belady and LRU equal simulate's OPT and LRU (k = 10)."""
    files = sorted((shared_data / "paging" / "brightkite").glob("*.txt"))[:10]
    traces = [load_trace(f) for f in files]
    opt, _ = _env_misses(BeladyEnvPolicy, traces, 10)
    lru, _ = _env_misses(lru_policy, traces, 10)
    assert opt.tolist() == [simulate(t, 10, "OPT").misses for t in traces]
    assert lru.tolist() == [simulate(t, 10, "LRU").misses for t in traces]
    assert opt.sum() < lru.sum()


def test_opt_mask_marks_every_never_again_page():
    """opt_mask holds every slot whose page is never requested again (Belady ties)."""
    env = PagingEnv(cache_size=3)
    td = env.reset(instance=instance_from_traces([np.array([0, 1, 2, 3, 2])], cache_size=3,
                                                 predictor="none"))
    assert env.opt_mask()[0].tolist() == [True, True, False]
    assert int(env.opt_action()[0]) == 0
    assert td["action_mask"][0].all()


def test_predictions_absent_give_zero_prediction_features():
    """Without predictions the prediction features are 0; with them they are not all 0."""
    traces = _zipf_traces(2, seed=4)
    env = PagingEnv(cache_size=4)
    idx = [SLOT_FEATURES.index(n) for n in ("pred_rank", "log_pred_gap")]
    td = env.reset(instance=instance_from_traces(traces, cache_size=4, predictor="none"))
    assert (td["slot_features"][..., idx] == 0).all()
    td = env.reset(instance=instance_from_traces(traces, cache_size=4, predictor="exact"))
    assert (td["slot_features"][..., idx] > 0).any()
    inst = instance_from_traces(traces, cache_size=4, predictor="discard:0")
    assert "next_arrival" not in inst and bool(inst["discard"].any())
    td = env.reset(instance=inst)
    assert (td["slot_features"][..., idx] == 0).all()
    assert (td["slot_features"][..., SLOT_FEATURES.index("discard_bit")] == 1).any()


def test_generator_is_seeded_and_windows_real_traces():
    """Same rng seed, same instance; each row is a re-densified window of a given trace, and its
    noisy predictions lie after the window's exact next arrivals."""
    traces = [np.arange(1000) % 37, np.arange(800) % 11]
    gen = PagingGenerator(traces=traces, length=100, predictor="noisy:1", cache_size=4)
    a = gen(5, np.random.default_rng(9))
    b = gen(5, np.random.default_rng(9))
    assert all(torch.equal(a[k], b[k]) for k in a.keys())  # noqa: SIM118 - td iterates rows
    assert a["trace"].shape == (5, 100) and a["length"].tolist() == [100] * 5
    windows = {tuple(np.unique(t[s:s + 100], return_inverse=True)[1].tolist())
               for t in traces for s in range(t.size - 99)}
    assert all(tuple(row) in windows for row in a["trace"].tolist())
    # noisy:1 adds positive lognormal noise to the exact next arrival (100 = never in the window).
    for row, pred in zip(a["trace"].numpy(), a["next_arrival"].numpy()):
        exact = next_arrival_indices(row)
        assert (pred > np.where(exact < 0, 100, exact)).all()


def test_invalid_inputs_raise_value_error():
    """Bad actions, missing fields and bad constructor values raise ValueError naming the cause."""
    env = PagingEnv(cache_size=2)
    td = env.reset(instance=_inst([TINY]))
    td["action"] = torch.tensor([2])
    with pytest.raises(ValueError, match="outside"):
        env.step(td)
    from tensordict import TensorDict

    with pytest.raises(ValueError, match="'trace'"):
        env.reset(instance=TensorDict({"cost": torch.ones(1, 3)}, batch_size=[1]))
    with pytest.raises(ValueError, match="cache_size"):
        PagingEnv(cache_size=0)
    with pytest.raises(ValueError, match="predictor"):
        PagingEnv(generator=PagingGenerator(), predictor="exact")
    with pytest.raises(ValueError, match="'next_arrival'"):
        env.reset(instance=TensorDict({"trace": torch.zeros(1, 3, dtype=torch.int64),
                                       "next_arrival": torch.zeros(1, 2)}, batch_size=[1]))


def test_render_row_shows_slots_and_done():
    """render_row lists every slot at a decision and the miss count once the row is done."""
    from heurist.envs.paging.render import render_row

    env = PagingEnv(cache_size=2)
    td = env.reset(instance=_inst([TINY]))
    text = render_row(env, 0)
    assert "t=2/7 request page 2" in text and text.count("slot") == 2
    for a in (1, 1, 0):
        td["action"] = torch.tensor([a])
        td = env.step(td)["next"]
    assert render_row(env, 0) == "row 0: done after 7 requests, misses 5"


# ---------------------------------------------------------------- opt-in gap features

GAP_TRACE = [0, 1, 0, 2, 1, 0, 3, 2, 4, 0]


def _first_obs(trace, k, **kw):
    env = PagingEnv(cache_size=k, **kw)
    inst = instance_from_traces([np.asarray(trace)], cache_size=k, predictor="none")
    return env, env.reset(instance=inst)


def test_gap_features_exact_on_tiny_trace():
    """First decision of GAP_TRACE at k = 3 (t = 6, page 3 pending): every gap channel exactly."""
    import math

    from heurist.envs.paging.env import GAP_FEATURES

    env, td = _first_obs(GAP_TRACE, 3, gap_features=True)
    assert int(env.state.t[0]) == 6 and env.state.slot_page[0].tolist() == [0, 1, 2]
    got = td["slot_features"][0, :, len(SLOT_FEATURES):]
    assert got.shape == (3, len(GAP_FEATURES))
    ln = lambda x: math.log1p(x) / math.log1p(10)  # the env's _log_norm, T = 10
    lw = lambda c, w: math.log1p(c) / math.log1p(w)
    g0 = [math.log2(3), math.log2(4)]  # page 0 at 0, 2, 5: gaps 2, 3 (log2(1 + gap))
    std0 = math.sqrt(max(sum(g * g for g in g0) / 2 - (sum(g0) / 2) ** 2, 0.0)) / math.log2(11)
    want = [
        # page 0 (last at 5): last gap 3, mean 2.5, elapsed 1, 3 requests, 1 page since (3)
        [ln(3), ln(2.5), std0, 1 / 3.5, lw(3, 64), lw(3, 512), ln(1)],
        # page 1 (at 1, 4): one gap of 3, elapsed 2; pages 0 and 3 since
        [ln(3), ln(3), 0.0, 2 / 5, lw(2, 64), lw(2, 512), ln(2)],
        # page 2 (at 3 only): no gap yet; pages 1, 0, 3 since
        [1.0, 1.0, 0.0, 0.0, lw(1, 64), lw(1, 512), ln(3)],
    ]
    assert torch.allclose(got, torch.tensor(want, dtype=torch.float32), atol=1e-6)


def test_gap_features_are_causal():
    """Changing a trace after index c leaves every observation of decisions at t <= c unchanged."""
    rng = np.random.default_rng(3)
    a = rng.integers(0, 12, size=120)
    c = 70
    b = a.copy()
    b[c + 1:] = rng.integers(0, 12, size=120 - c - 1)
    assert (a[c + 1:] != b[c + 1:]).any()
    seen = []
    for trace in (a, b):
        env, td = _first_obs(trace, 4, gap_features=True)
        obs = []
        while not bool(td["done"].all()) and int(env.state.t[0]) <= c:
            obs.append((int(env.state.t[0]), td["slot_features"].clone()))
            td["action"] = torch.tensor([int(env.state.t[0]) % 4])
            td = env.step(td)["next"]
        seen.append(obs)
    assert len(seen[0]) == len(seen[1]) >= 10
    for (ta, fa), (tb, fb) in zip(*seen):
        assert ta == tb and torch.equal(fa, fb)


def test_gap_features_default_off_leaves_observations_identical():
    """Default PagingEnv: 11 slot channels, equal to the first 11 of gap_features=True."""
    env0, td0 = _first_obs(GAP_TRACE, 3)
    _, td1 = _first_obs(GAP_TRACE, 3, gap_features=True)
    assert env0.gap_features is False
    assert env0.observation_spec["slot_features"].shape == (3, len(SLOT_FEATURES))
    assert td0["slot_features"].shape == (1, 3, len(SLOT_FEATURES))
    assert torch.equal(td0["slot_features"], td1["slot_features"][..., :len(SLOT_FEATURES)])
    assert torch.equal(td0["request_features"], td1["request_features"])

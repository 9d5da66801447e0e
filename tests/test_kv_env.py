"""The KVCache eviction env: hand-computed episodes, the oracle, the full-cache identity, and the
shared conformance checks on the block and compress variants."""
import numpy as np
import pytest
import torch

from heurist.envs.common import conformance as C
from heurist.envs.kv import SLOT_FEATURES, KVCacheEnv, SyntheticAttention, instance_from_rows
from heurist.envs.kv.oracle import replay

A4 = np.array([[1.0, 0, 0, 0],
               [0.6, 0.4, 0, 0],
               [0.5, 0.2, 0.3, 0],
               [0.1, 0.2, 0.3, 0.4]], dtype=np.float32)
KN4 = np.array([4.0, 10.0, 12.0, 14.0], dtype=np.float32)
F = {name: i for i, name in enumerate(SLOT_FEATURES)}


def _instance(a=A4, kn=KN4, n_prompt=2):
    return instance_from_rows([(a, kn, n_prompt)])


def _run(env, inst, actions):
    td = env.reset(instance=inst)
    obs, rewards = [td], []
    for a in actions:
        td[env.action_key] = torch.tensor([a])
        td = env.step(td)["next"]
        obs.append(td)
        rewards.append(float(td["reward"][0, 0]))
    return obs, rewards


def test_token_episode_known_rewards():
    """Budget 2 on a 4-token trace: two free steps of recall 1, then evicting token 1 keeps 0.8."""
    env = KVCacheEnv(max_len=4, budget=2, n_sink=1, window=2)
    obs, rewards = _run(env, _instance(), [0, 0, 1])
    assert rewards == pytest.approx([1.0, 1.0, 0.8], abs=1e-6)
    assert obs[-1]["done"].all() and not obs[-2]["done"].any()
    assert obs[2]["action_mask"][0].tolist() == [True, True, True]  # 3 cached > budget 2
    assert obs[1]["action_mask"][0].tolist() == [True, False, False]  # no-op only
    assert obs[-1]["position"][0].tolist() == [0, 3, 2]  # the new token filled the freed slot


def test_evicting_the_sink_instead_gives_its_known_recall():
    """Evicting token 0 at the decision keeps tokens 1..3: recall 0.2 + 0.3 + 0.4 = 0.9."""
    env = KVCacheEnv(max_len=4, budget=2)
    _, rewards = _run(env, _instance(), [0, 0, 0])
    assert rewards[-1] == pytest.approx(0.9, abs=1e-6)


def test_features_known_values():
    """At step 2 slot 0's features: acc 2.1, window mean 0.55, current 0.5, sink, key norm 4."""
    env = KVCacheEnv(max_len=4, budget=2, n_sink=1, window=2)
    obs, _ = _run(env, _instance(), [0, 0])
    f = obs[2]["slot_features"][0]
    assert f[0, F["acc_attn"]].item() == pytest.approx(2.1, abs=1e-6)
    assert f[0, F["window_attn"]].item() == pytest.approx(0.55, abs=1e-6)
    assert f[0, F["cur_attn"]].item() == pytest.approx(0.5, abs=1e-6)
    assert f[0, F["sink"]].item() == 1.0 and f[1, F["sink"]].item() == 0.0
    assert f[0, F["key_norm"]].item() == pytest.approx(4.0)
    assert f[:, F["is_new"]].tolist() == [0.0, 0.0, 1.0]
    assert f[2, F["cur_attn"]].item() == pytest.approx(0.3, abs=1e-6)


def test_compress_prefill_known_rewards():
    """Compress, 3-token prompt: prompt steps pay 0, decode keeps 0.8, token 0 sees 0.5."""
    env = KVCacheEnv(max_len=4, budget=2, prefill="compress")
    obs, rewards = _run(env, _instance(n_prompt=3), [0, 0, 1])
    assert rewards == pytest.approx([0.0, 0.0, 0.8], abs=1e-6)
    assert obs[0]["slot_features"][0, 0, F["cur_attn"]].item() == pytest.approx(0.5, abs=1e-6)
    assert obs[0]["global_features"][0, 2].item() == 1.0  # compress phase flag
    assert obs[3]["global_features"][0, 2].item() == 0.0


def test_block_episode_known_reward():
    """Blocks of 2, budget 1 block: evicting block 0 keeps tokens 2..5 for queries 4 and 5."""
    rng = np.random.default_rng(0)
    a = np.tril(rng.random((6, 6))).astype(np.float32)
    a /= a.sum(1, keepdims=True)
    env = KVCacheEnv(max_len=6, budget=2, granularity="block", block_size=2)
    _, rewards = _run(env, instance_from_rows([(a, np.ones(6, np.float32), 2)]), [0, 0])
    assert rewards[0] == pytest.approx(1.0, abs=1e-6)
    assert rewards[1] == pytest.approx(a[4:6, 2:6].sum(1).mean(), abs=1e-6)


def test_out_of_range_action_raises():
    """An action outside the slots raises ValueError."""
    env = KVCacheEnv(max_len=4, budget=1)
    td = env.reset(instance=_instance())
    td[env.action_key] = torch.tensor([0])
    td = env.step(td)["next"]
    td[env.action_key] = torch.tensor([5])
    with pytest.raises(ValueError):
        env.step(td)


@pytest.mark.parametrize("kw", [{"budget": 64}, {"budget": 64, "granularity": "block", "block_size": 4},
                                {"budget": 64, "prefill": "compress"}])
def test_full_cache_recall_is_one_every_step(kw):
    """Budget >= length: every decode step's reward is 1 (compress: prompt steps pay 0)."""
    env = KVCacheEnv(max_len=48, min_length=30, **kw)
    inst = env.generate(3, seed=1)
    _, acts, rews, dones = C.masked_rollout(env, inst, seed=0)
    for b in range(3):
        steps = int(dones[b].long().argmax()) + 1
        p_units = -(-int(inst["n_prompt"][b]) // env.unit) if env.prefill == "compress" else 0
        expect = torch.tensor([1.0 if v >= p_units else 0.0 for v in range(1, steps + 1)])
        assert torch.allclose(rews[b, :steps], expect, atol=1e-6)
        assert (acts[b, :steps] == 0).all()  # never a decision: only no-ops


@pytest.mark.parametrize("kw", [{"budget": 0.25}, {"budget": 16, "granularity": "block", "block_size": 4},
                                {"budget": 0.3, "prefill": "compress"},
                                {"budget": 12, "prefill": "compress", "granularity": "block",
                                     "block_size": 4}])
def test_rewards_equal_oracle_per_step(kw):
    """The env's per-step rewards equal the oracle's token-level replay, row by row."""
    env = KVCacheEnv(max_len=48, min_length=20, **kw)
    inst = env.generate(4, seed=2)
    _, acts, rews, dones = C.masked_rollout(env, inst.clone(), seed=3)
    ok = env.check_solution(inst, acts)
    assert ok.all()
    for b in range(4):
        steps = int(dones[b].long().argmax()) + 1
        valid, _total, per_step = replay(inst["attn"][b].numpy(), int(inst["length"][b]),
                                        int(inst["n_prompt"][b]), acts[b].numpy(),
                                        budget=env.budget, unit=env.unit, n_slots=env.n_slots,
                                        compress=env.prefill == "compress")
        assert valid and len(per_step) == steps
        np.testing.assert_allclose(rews[b, :steps].numpy(), per_step, atol=1e-6)


def test_check_solution_rejects_bad_logs():
    """A masked slot at a decision, a non-zero no-op and a short log are all rejected."""
    env = KVCacheEnv(max_len=4, budget=2)
    inst = _instance()
    assert env.check_solution(inst, torch.tensor([[0, 0, 1]])).tolist() == [True]
    assert env.check_solution(inst, torch.tensor([[1, 0, 1]])).tolist() == [False]
    assert env.check_solution(inst, torch.tensor([[0, 0]])).tolist() == [False]
    env1 = KVCacheEnv(max_len=4, budget=1)
    assert env1.check_solution(inst, torch.tensor([[0, 1, 1]])).tolist() == [True]
    # budget 1: keep {0,1} -> 1.0; evict 1 -> {0,2}: 0.5+0.3; evict 2 -> {0,3}: 0.1+0.4
    assert env1.evaluate(inst, torch.tensor([[0, 1, 1]])).item() == pytest.approx(2.3, abs=1e-6)


@pytest.mark.parametrize("kw", [{"granularity": "block", "block_size": 4, "budget": 12},
                                {"prefill": "compress", "budget": 0.3}])
def test_variants_pass_conformance(kw):
    """Block and compress variants pass the shared checks (the registry runs the token one)."""
    env = KVCacheEnv(max_len=40, min_length=24, **kw)
    C.check_specs(env)
    C.check_rollout_terminates(env)
    C.check_batch_independence(env)
    C.check_rewards_match_evaluate(env)


@pytest.mark.parametrize("kw", [{"budget": 0}, {"budget": 1.5}, {"granularity": "page"},
                                {"prefill": "none"}, {"max_len": 1}, {"window": 0},
                                {"budget": True}, {"budget_scope": "model"},
                                {"budget_scope": "layer", "n_heads": 0}])
def test_constructor_validates(kw):
    """Invalid hyperparameters raise ValueError (a budget of the wrong type: TypeError)."""
    with pytest.raises((TypeError, ValueError)):
        KVCacheEnv(**kw)


def test_budget_of_wrong_type_is_a_type_error():
    """A bool or string budget raises TypeError, not a silent cast."""
    for bad in (True, "0.5"):
        with pytest.raises(TypeError):
            KVCacheEnv(budget=bad)


def test_synthetic_generator_is_seeded_and_causal():
    """Same rng seed, same instance; rows are causal and sum to 1 up to each length."""
    g = SyntheticAttention(length=32, min_length=10)
    a, b = g(3, np.random.default_rng(5)), g(3, np.random.default_rng(5))
    assert torch.equal(a["attn"], b["attn"]) and torch.equal(a["length"], b["length"])
    for i in range(3):
        T = int(a["length"][i])
        rows = a["attn"][i, :T].sum(1)
        assert torch.allclose(rows, torch.ones(T), atol=1e-5)
        assert a["attn"][i, T:].abs().sum() == 0
    assert torch.triu(a["attn"], 1).abs().max() == 0


def _layer_instance():
    a = np.zeros((2, 3, 3), dtype=np.float32)
    a[0] = [[1, 0, 0], [0.7, 0.3, 0], [0.2, 0.3, 0.5]]
    a[1] = [[1, 0, 0], [0.4, 0.6, 0], [0.6, 0.1, 0.3]]
    return instance_from_rows([(a, np.ones((2, 3), np.float32), 1)])


def test_layer_budget_known_episode():
    """Two heads share 2 entries: each step pays half its head's recall; head 1 keeps two."""
    env = KVCacheEnv(max_len=3, budget=1, budget_scope="layer", n_heads=2)
    assert env.n_slots == 3
    obs, rewards = _run(env, _layer_instance(), [0, 0, 1, 2])
    assert rewards == pytest.approx([0.5, 0.5, 0.4, 0.2], abs=1e-6)
    last = obs[-1]
    assert last["done"].all() and not obs[-2]["done"].any()
    assert last["head"][0].tolist() == [1, 0, 1] and last["position"][0].tolist() == [1, 2, 2]
    assert env.evaluate(_layer_instance(), torch.tensor([[0, 0, 1, 2]])).item() == pytest.approx(1.6)


@pytest.mark.parametrize("kw", [{"budget": 0.25}, {"budget": 0.3, "prefill": "compress"},
                                {"budget": 8, "granularity": "block", "block_size": 4}])
def test_layer_budget_rewards_equal_oracle(kw):
    """Per-layer budget: rewards equal the oracle replay; a full budget recalls 1 per unit."""
    env = KVCacheEnv(max_len=40, min_length=20, budget_scope="layer", n_heads=3, **kw)
    inst = env.generate(3, seed=4)
    assert inst["attn"].shape == (3, 3, 40, 40)
    _, acts, rews, dones = C.masked_rollout(env, inst.clone(), seed=5)
    for b in range(3):
        steps = int(dones[b].long().argmax()) + 1
        valid, _, per_step = replay(inst["attn"][b].numpy(), int(inst["length"][b]),
                                    int(inst["n_prompt"][b]), acts[b].numpy(), budget=env.budget,
                                    unit=env.unit, n_slots=env.n_slots,
                                    compress=env.prefill == "compress", layer=True)
        assert valid and len(per_step) == steps
        np.testing.assert_allclose(rews[b, :steps].numpy(), per_step, atol=1e-6)
    full = KVCacheEnv(max_len=40, min_length=20, budget_scope="layer", budget=40)
    _, _, rews, dones = C.masked_rollout(full, full.generate(2, seed=4), seed=0)
    live = ~(dones.cumsum(1) > 1)
    assert torch.allclose(rews[live], torch.full_like(rews[live], 1 / 3), atol=1e-6)


def test_layer_budget_passes_conformance():
    """The per-layer variant passes the shared checks."""
    env = KVCacheEnv(max_len=32, min_length=20, budget=6, budget_scope="layer")
    C.check_specs(env)
    C.check_rollout_terminates(env)
    C.check_batch_independence(env)
    C.check_rewards_match_evaluate(env)


def _unit_attn(a, T, g):
    """Independent unit attention: mean over a unit's queries of the mass on each key unit."""
    U = -(-T // g)
    out = np.zeros((U, U))
    for v in range(U):
        qs = range(v * g, min((v + 1) * g, T))
        for u in range(v + 1):
            out[v, u] = np.mean([a[q, u * g:min((u + 1) * g, T)].sum() for q in qs])
    return out


@pytest.mark.parametrize("kw", [{"budget": 0.3}, {"budget": 0.3, "prefill": "compress"},
                                {"budget": 12, "granularity": "block", "block_size": 4},
                                {"budget": 0.3, "budget_scope": "layer", "prefill": "compress"},
                                {"budget": 8, "budget_scope": "layer", "granularity": "block",
                                     "block_size": 3}])
def test_attention_features_match_direct_recomputation(kw):
    """acc/window/current attention features equal sums recomputed from the instance."""
    env = KVCacheEnv(max_len=36, min_length=30, window=5, **kw)
    inst = env.generate(2, seed=9)
    obs, _acts, _rews, dones = C.masked_rollout(env, inst.clone(), seed=2)
    H, g = env.n_heads, env.unit
    for b in range(2):
        T = int(inst["length"][b])
        attn = inst["attn"][b].numpy().reshape(H, inst["attn"].shape[-1], -1)
        Aq = [_unit_attn(attn[h], T, g) for h in range(H)]
        P = -(-int(inst["n_prompt"][b]) // g) if env.prefill == "compress" else 0
        steps = int(dones[b].long().argmax()) + 1
        for t in range(steps + 1):
            v, hn = divmod(t + H - 1, H)  # newest entry (unit v of head hn) at observation t
            o = obs[t][b]
            for s in np.nonzero(o["slot_valid"].numpy())[0]:
                h, u = int(o["head"][s]), int(o["position"][s]) // g
                vq = P - 1 if v < P else v - (h > hn)
                lo = max(0, vq + 1 - env.window)
                f = o["slot_features"][s].double().numpy()
                col = Aq[h][:, u]
                assert f[F["acc_attn"]] == pytest.approx(col[:vq + 1].sum(), abs=1e-5)
                assert f[F["window_attn"]] == pytest.approx(col[lo:vq + 1].sum() / (vq + 1 - lo),
                                                            abs=1e-5)
                assert f[F["cur_attn"]] == pytest.approx(col[vq], abs=1e-5)

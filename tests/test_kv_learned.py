"""The learned KV scorer (issue 11): kept sets of the budgeted size that keep the sink, decode and
prefill statistics that agree, the shipped artifact's exact KL and kept set on a fixed text,
determinism, the artifact override, the scorer inside kvpress, and a short training run.
96 context tokens of Python's os.py, 16 teacher-forced, 8 greedy."""
import os
import shutil

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from kv_text import os_py_ids

from heurist.agents.kv_scorer.data import EXTRAS, is_test, record_window
from heurist.agents.kv_scorer.train import recall_at, train
from heurist.cli import main
from heurist.policies.kv import PolicyCache, make_policy, n_kept, reference_run, run_policy
from heurist.policies.kv.learned import (
    ATTENTION_FEATURES,
    DEFAULT_ARTIFACT,
    FEATURES,
    KVScorer,
    LearnedScorer,
    observe_step,
    prefill_stats,
)
from heurist.policies.kv.observation import LayerObservation
from heurist.policies.kv.parity import kvpress_kept, prefill_observations, same_sets
from heurist.policies.kv.press import PolicyPress, kvpress_fidelity
from heurist.policies.kv.shared import shared_model

T, C, G = 96, 16, 8
#: Golden values of the shipped artifact on os.py (T=96, C=16, budget 0.25, prefill mode).
GOLDEN_KL = 0.08428534296688385
GOLDEN_LAYER0 = [0, 16, 17, 26, 33, 35, 38, 40, 42, 46, 53, 56]


@pytest.fixture(scope="module")
def setup():
    """Model, ids of os.py, prefill observations of its first T tokens, full-cache reference."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # shared cores: 1 thread is fastest
    model, tok = shared_model()
    ids = os_py_ids(tok)
    obs = prefill_observations(model, ids[:T])
    ref = reference_run(model, ids, context=T, continuation=C, greedy_steps=G)
    yield model, ids, obs, ref
    torch.set_num_threads(threads)


def _synthetic_obs(t: int, seed: int) -> LayerObservation:
    g = torch.Generator().manual_seed(seed)
    s = torch.randn(9, t, t, generator=g)
    s = s.masked_fill(~torch.ones(t, t, dtype=torch.bool).tril(), float("-inf"))
    return LayerObservation(attn=s.softmax(-1), keys=torch.randn(3, t, 64, generator=g),
                            layer=seed % 30, values=torch.randn(3, t, 64, generator=g))


@settings(max_examples=15, deadline=None)
@given(t=st.integers(2, 64), budget=st.floats(0.01, 1.0), sink=st.integers(0, 6),
       seed=st.integers(0, 1000))
def test_prefill_kept_sets_have_the_budget_and_the_sink(t, budget, sink, seed):
    """Prefill: exactly n_kept distinct sorted entries per KV head, the first min(sink, n) kept."""
    obs = _synthetic_obs(t, seed)
    n = n_kept(t, budget)
    kept = LearnedScorer(sink=sink).select(obs, n)
    assert kept.shape == (3, n)
    for row in kept.tolist():
        assert row == sorted(set(row)) and 0 <= row[0] and row[-1] < t
        assert set(range(min(sink, n))) <= set(row)


@pytest.mark.parametrize("sink", [0, 1, 4])
def test_decode_keeps_the_budget_and_the_sink_on_the_model(setup, sink):
    """Decode eviction on SmolLM2: after every token each (layer, head) holds n_kept entries and,
    with sink > 0, still holds positions 0..sink-1."""
    model, ids, _, ref = setup
    policy = LearnedScorer(sink=sink)
    n = n_kept(T, 0.25)
    kept = [policy.select(o, n) for o in ref.observations]
    cache = PolicyCache.from_prefill(model.config, policy, ref.keys, ref.values, ref.observations,
                                     kept, capacity=n, decode_evict=True)
    with torch.inference_mode():
        for i in range(6):
            out = model(ids[None, T + i:T + i + 1], past_key_values=cache,
                        position_ids=torch.tensor([[T + i]]), output_attentions=True,
                        use_cache=True)
            cache.after_step(out.attentions)
            for pos in cache.positions:
                assert pos.shape == (3, n)
                assert all(set(range(sink)) <= set(r) for r in pos.tolist())


def test_decode_statistics_equal_one_more_prefill_query():
    """Observing query T after a T-token prefill gives the (T+1)-token prefill's statistics."""
    obs = _synthetic_obs(41, 3)
    a = obs.attn
    st_ = prefill_stats(a[:, :40, :40], 3)
    st_ = {k: torch.cat([v, torch.zeros_like(v[..., :1])], -1) for k, v in st_.items()}
    observe_step(st_, a[:, 40, :], 3)
    full = prefill_stats(a, 3)
    for k in full:
        torch.testing.assert_close(st_[k], full[k], rtol=1e-5, atol=1e-5)


def test_shipped_artifact_gives_the_known_kl_and_kept_set(setup):
    """The shipped artifact loads and gives the golden KL and layer-0 kept set on os.py."""
    model, _, _, ref = setup
    policy = make_policy("learned")
    assert policy.net.config["n_features"] == len(FEATURES)
    r = run_policy(model, ref, policy, 0.25, greedy=False)
    kept0 = policy.select(ref.observations[0], n_kept(T, 0.25))
    assert r.kl == pytest.approx(GOLDEN_KL, rel=1e-4, abs=1e-6)
    assert kept0[0].tolist()[:12] == GOLDEN_LAYER0


def test_same_input_same_result(setup):
    """Two policies from the shipped artifact give identical decode-mode KL, perplexity, recall."""
    model, _, _, ref = setup
    a = run_policy(model, ref, make_policy("learned"), 0.1, mode="decode", greedy=False)
    b = run_policy(model, ref, make_policy("learned"), 0.1, mode="decode", greedy=False)
    assert (a.kl, a.ppl, a.recall) == (b.kl, b.ppl, b.recall) and a.kl > 0.0


def test_artifact_path_overrides_the_shipped_one(setup, tmp_path):
    """An explicit artifact folder is loaded instead of the shipped one; a broken one is refused."""
    _, _, obs, _ = setup
    copy = tmp_path / "scorer"
    shutil.copytree(DEFAULT_ARTIFACT, copy)
    ours = LearnedScorer(artifact=copy)
    assert ours.net is not make_policy("learned").net
    assert torch.equal(ours.select(obs[3], 24), make_policy("learned").select(obs[3], 24))
    (copy / "weights.safetensors").write_bytes(b"not weights")
    with pytest.raises(ValueError, match="sha256"):
        LearnedScorer(artifact=copy)


def test_cli_artifact_flag(tmp_path, capsys):
    """--artifact without learned, or naming no artifact, exits 2 with one line naming the flag."""
    assert main(["kv", "evaluate", "--text", os.__file__, "--policy", "h2o",
                 "--artifact", str(DEFAULT_ARTIFACT)]) == 2
    assert "--artifact" in capsys.readouterr().err
    assert main(["kv", "evaluate", "--text", os.__file__, "--policy", "learned",
                 "--artifact", str(tmp_path / "none")]) == 2
    err = capsys.readouterr().err
    assert "none" in err and len(err.strip().splitlines()) == 1


def test_learned_scorer_runs_inside_kvpress(setup):
    """Through PolicyPress kvpress keeps exactly the learned policy's sets, and its KL equals ours."""
    model, ids, obs, ref = setup
    policy = make_policy("learned")
    with torch.inference_mode():
        theirs = kvpress_kept(model, PolicyPress(compression_ratio=0.75, policy=policy), ids[:T])
        ours = [policy.select(o, n_kept(T, 0.25)) for o in obs]
    assert same_sets(theirs, ours) == 1.0
    r = kvpress_fidelity(model, ids, ref, PolicyPress(compression_ratio=0.75, policy=policy),
                         greedy=False)
    assert abs(r["kl"] - run_policy(model, ref, policy, 0.25, greedy=False).kl) <= 1e-5


def test_short_training_run_improves_recall(setup):
    """Imitation on one real 64-token window for 30 steps beats the untrained network's recall."""
    model, ids, _, _ = setup
    x, y = record_window(model, ids, context=64, continuation=16)
    data = (x[None], y[None])
    net, history = train(data, data, steps=30, batch=8, lr=1e-2, hidden=16, embed=4, seed=0,
                         budget=0.25, eval_every=30)
    untrained = KVScorer(n_features=len(ATTENTION_FEATURES), hidden=16, embed=4)
    with torch.no_grad():
        before = recall_at(untrained(x, torch.arange(30)), y, 0.25).item()
        after = recall_at(net(x, torch.arange(30)), y, 0.25).item()
    assert after == pytest.approx(max(h["val_recall"] for h in history), abs=1e-6)
    assert after > before
    assert is_test("code", "ast.py") and not is_test("code", "os.py")


def test_recorded_extras_match_the_cache(setup):
    """record_window's extras: value norms equal the prefill's cached values' norms, the max
    future weight lies between the future mass's mean over the C queries and the mass, and the
    value-weighted future of one entry equals its definition computed by loops."""
    model, ids, _, ref = setup
    x, y, ex = record_window(model, ids, context=64, continuation=16, extras=True)
    assert x.shape == (30, 3, 64, len(ATTENTION_FEATURES)) and ex.shape == (30, 3, 64, len(EXTRAS))
    vnorm = torch.stack([torch.linalg.vector_norm(v[:, :64], dim=-1) for v in ref.values])
    torch.testing.assert_close(ex[..., EXTRAS.index("value_norm")], vnorm, rtol=1e-4, atol=1e-4)
    fmax, fval = ex[..., EXTRAS.index("future_max")], ex[..., EXTRAS.index("future_value")]
    assert bool((fmax <= y + 1e-6).all()) and bool((fmax >= y / 16 - 1e-6).all())
    from transformers import DynamicCache

    cache = DynamicCache(config=model.config)
    with torch.inference_mode():
        a = model(ids[None, :80], past_key_values=cache, output_attentions=True,
                  use_cache=True).attentions[5][0]  # [9, 80, 80]
    v = cache.layers[5].values[0]  # [3, 80, 64]
    j, total = 10, 0.0
    for h in (3, 4, 5):  # the query heads of KV head 1
        for q in range(64, 80):
            out = sum(a[h, q, i] * v[1, i] for i in range(80))
            total += float(a[h, q, j] * torch.linalg.vector_norm(v[1, j] - out))
    assert fval[5, 1, j].item() == pytest.approx(total / 3, rel=1e-4)


def test_value_scorer_needs_values_and_keeps_the_window():
    """A scorer reading value features refuses an observation without values; window=w keeps the
    last w positions of every head beside the sink."""
    obs = _synthetic_obs(40, 7)
    net = KVScorer(n_features=len(FEATURES), hidden=8, embed=2)
    kept = LearnedScorer(net=net, sink=1, window=5).select(obs, 10)
    assert all({0, 35, 36, 37, 38, 39} <= set(r) for r in kept.tolist())
    bare = LayerObservation(attn=obs.attn, keys=obs.keys, layer=obs.layer)
    with pytest.raises(ValueError, match="values"):
        LearnedScorer(net=net).select(bare, 10)


def test_layer_split_uses_the_inner_policy_in_its_layers():
    """The validation diagnostic LayerSplit keeps the inner policy's set in layers lo..hi-1 and
    the outer policy's set in the others."""
    from heurist.agents.kv_scorer.validate import LayerSplit

    split = LayerSplit(outer=make_policy("observed"), inner=make_policy("h2o"), lo=0, hi=10)
    for seed, inner in ((5, True), (20, False)):
        obs = _synthetic_obs(30, seed)  # layer = seed
        want = make_policy("h2o" if inner else "observed").select(obs, 8)
        assert torch.equal(split.select(obs, 8), want)
    assert not torch.equal(make_policy("h2o").select(_synthetic_obs(30, 5), 8),
                           make_policy("observed").select(_synthetic_obs(30, 5), 8))

"""Adaptive KV budget split (issue 11): the counts always sum to the uniform total budget, every
kept set keeps the sink, masked padding is exactly eviction in real generation, and the batched
train-window evaluator gives run_policy's KL. Real SmolLM2 on os.py (T=96, C=16) where needed."""

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from kv_text import os_py_ids

from heurist.agents.kv_scorer.allocate import AllocWindow, batched_kl, knot_search, ramp_knots
from heurist.policies.kv import make_policy, n_kept, reference_run, run_policy
from heurist.policies.kv.allocation import (
    Allocation,
    head_counts,
    kept_with_mask,
    knot_weights,
    layer_budgets,
    masked_attention,
    normalise,
    split_evenly,
)
from heurist.policies.kv.fidelity import _cache, allocated_sets
from heurist.policies.kv.learned import LearnedScorer
from heurist.policies.kv.metrics import kl_divergence
from heurist.policies.kv.observation import LayerObservation
from heurist.policies.kv.shared import shared_model

T, C = 96, 16


def _obs(t: int, seed: int, layer: int) -> LayerObservation:
    g = torch.Generator().manual_seed(seed)
    s = torch.randn(9, t, t, generator=g) * 3
    s = s.masked_fill(~torch.ones(t, t, dtype=torch.bool).tril(), float("-inf"))
    return LayerObservation(attn=s.softmax(-1), keys=torch.randn(3, t, 64, generator=g),
                            layer=layer, values=torch.randn(3, t, 64, generator=g))


def test_split_evenly_golden():
    """Largest remainders: 10 over weights 1:2:3 -> 2, 3, 5; a cap of 4 moves the excess on."""
    assert split_evenly(10, torch.tensor([1.0, 2.0, 3.0]), 10).tolist() == [2, 3, 5]
    assert split_evenly(10, torch.tensor([1.0, 2.0, 3.0]), 4).tolist() == [2, 4, 4]
    assert layer_budgets(30, 3, slope=0.0, cap=100).tolist() == [10, 10, 10]
    assert layer_budgets(30, 3, slope=0.5, cap=100).tolist() == [5, 10, 15]
    with pytest.raises(ValueError):
        split_evenly(13, torch.ones(3), 4)


@given(total=st.integers(0, 400), n=st.integers(1, 12), cap=st.integers(1, 40),
       seed=st.integers(0, 99))
@settings(max_examples=40, deadline=None)
def test_split_evenly_sums_and_caps(total, n, cap, seed):
    """Any weights: the parts sum to the total and none exceeds the cap."""
    if total > n * cap:
        return
    w = torch.rand(n, generator=torch.Generator().manual_seed(seed))
    out = split_evenly(total, w, cap)
    assert int(out.sum()) == total and int(out.max()) <= cap and int(out.min()) >= 0


def test_head_counts_brute_force():
    """AdaKV in a layer equals the brute force: floors first, then the largest probabilities."""
    g = torch.Generator().manual_seed(3)
    probs = normalise(torch.rand(3, 20, generator=g) ** 4, "mass")
    got = head_counts(probs, 15, floor=2)
    flat = sorted(((float(probs[h, j]), h, j) for h in range(3) for j in range(20)), reverse=True)
    floors = {(h, j) for h in range(3) for _, _, j in
              sorted(((float(probs[h, j]), h, j) for j in range(20)), reverse=True)[:2]}
    rest = [(h, j) for _, h, j in flat if (h, j) not in floors][:15 - len(floors)]
    want = [sum(1 for h2, _ in floors | set(rest) if h2 == h) for h in range(3)]
    assert got.tolist() == want and int(got.sum()) == 15 and int(got.min()) >= 2


@given(t=st.integers(8, 64), budget=st.floats(0.05, 0.6), slope=st.floats(-1.0, 1.0),
       ada=st.booleans(), floor=st.floats(0.0, 1.0), sink=st.integers(1, 3),
       seed=st.integers(0, 50),
       knots=st.none() | st.lists(st.floats(0.0, 3.0), min_size=2, max_size=5).filter(
           lambda k: sum(k) > 0.1))
@settings(max_examples=20, deadline=None)
def test_allocated_kept_sets_have_the_total_budget_and_the_sink(t, budget, slope, ada, floor,
                                                                sink, seed, knots):
    """Learned scorer, 4 layers (ramp or knot curve): the unmasked entries over all (layer, head)
    number exactly L * Hkv * n_kept, every head keeps at least ``sink`` of them and they include
    0..sink-1."""
    policy = LearnedScorer(sink=sink)
    obs = [_obs(t, seed + i, 7 * i) for i in range(4)]
    n = n_kept(t, budget)
    if n < sink:
        return
    alloc = Allocation(slope=0.0 if knots else slope, across_heads=ada, floor=floor,
                       min_per_head=sink, knots=tuple(knots) if knots else None)
    scores = [policy.prefill_scores(o, n) for o in obs]
    counts = alloc.counts(scores, n, kind="logit")
    assert int(counts.sum()) == 4 * 3 * n and int(counts.min()) >= sink
    width = int(counts.max())
    for s, c in zip(scores, counts):
        idx, masked = kept_with_mask(s, c, width)
        assert idx.shape == (3, width) and (~masked).sum(1).tolist() == c.tolist()
        for row, m in zip(idx.tolist(), masked.tolist()):
            kept = [j for j, off in zip(row, m) if not off]
            assert row == sorted(set(row)) and set(range(sink)) <= set(kept)


@pytest.fixture(scope="module")
def setup():
    """Model and one reference of os.py."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    model, tok = shared_model()
    ids = os_py_ids(tok)
    yield model, reference_run(model, ids, context=T, continuation=C, greedy_steps=4)
    torch.set_num_threads(threads)


def test_full_floor_is_uniform_and_masking_is_eviction(setup):
    """floor=1 gives every head n (== the uniform run, KL to 1e-6); a real split differs and
    sums to the total; n kept entries padded with 20 masked ones give the uniform KL (to 1e-5),
    unmasked they do not; decode mode refuses a split."""
    model, ref = setup
    policy = make_policy("observed")
    uni = run_policy(model, ref, policy, 0.25)
    same = run_policy(model, ref, policy, 0.25, allocation=Allocation(across_heads=True, floor=1.0))
    assert same.policy == "observed+adaf1" and abs(same.kl - uni.kl) < 1e-6
    assert same.agreement == uni.agreement and abs(same.recall - uni.recall) < 1e-6
    ada = run_policy(model, ref, policy, 0.25, allocation=Allocation(across_heads=True, floor=0.0))
    assert abs(ada.kl - uni.kl) > 1e-4
    kept, masks, counts = allocated_sets(ref, policy, n_kept(T, 0.25),
                                         Allocation(across_heads=True, floor=0.0))
    assert int(counts.sum()) == 30 * 3 * n_kept(T, 0.25)
    assert sum(int((~m).sum()) for m in masks) == int(counts.sum())
    assert all(k.shape == m.shape == (3, int(counts.max())) for k, m in zip(kept, masks))
    n = n_kept(T, 0.25)
    pairs = [kept_with_mask(policy.prefill_scores(o, n), torch.full((3,), n), n + 20)
             for o in ref.observations]
    kls = []
    for masks in ([p[1][None] for p in pairs], [None] * 30):
        cache = _cache(model, ref, policy, [p[0] for p in pairs], n, False)
        with torch.inference_mode(), masked_attention(masks):
            out = model(ref.inputs[None], past_key_values=cache,
                        position_ids=torch.arange(T, T + C)[None], use_cache=True)
        kls.append(kl_divergence(ref.logits, out.logits[0]))
    assert abs(kls[0] - uni.kl) < 1e-5 and abs(kls[1] - uni.kl) > 1e-3
    with pytest.raises(ValueError):
        run_policy(model, ref, policy, 0.25, mode="decode", allocation=Allocation(slope=0.5))


def test_batched_evaluator_equals_run_policy(setup):
    """The train-window evaluator gives run_policy's KL (uniform and allocated) to 1e-5."""
    model, ref = setup
    n = n_kept(T, 0.25)
    scores = {p: [make_policy(p).prefill_scores(o, n) for o in ref.observations]
              for p in ("observed", "learned")}
    w = AllocWindow("code", "os.py", scores, torch.stack(ref.keys), torch.stack(ref.values),
                    ref.inputs, ref.logits)
    for p in ("observed", "learned"):
        for alloc in (Allocation(), Allocation(slope=0.5, across_heads=True)):
            got = batched_kl(model, [w, w], p, alloc, 0.25)
            want = run_policy(model, ref, make_policy(p), 0.25, allocation=alloc, greedy=False).kl
            assert abs(got[0] - want) < 1e-5 and abs(got[1] - want) < 1e-5


def test_allocation_labels_round_trip():
    """Allocation.parse inverts label; bad specs raise ValueError."""
    for spec in ("uniform", "ada", "adaf0.5", "s0.75", "ada,s0.75", "adaf0,s-0.5",
                 "ada,k0.25:1:1.75", "k1:0:2.5"):
        a = Allocation.parse(spec)
        assert a.label == spec and Allocation.parse(a.label) == a
    assert Allocation.parse("ada,s0.75") == Allocation(slope=0.75, across_heads=True)
    for bad in ("x", "s", "adax", "s2", "k", "k1:-1", "k0:0", "s0.5,k1:2"):
        with pytest.raises(ValueError):
            Allocation.parse(bad)


def test_knot_weights_and_budgets_golden():
    """Knots interpolate linearly over depth; a ramp written as knots gives the ramp's budgets."""
    assert knot_weights((0.0, 2.0, 0.0), 5).tolist() == [0.0, 1.0, 2.0, 1.0, 0.0]
    assert knot_weights((3.0,), 4).tolist() == [3.0] * 4
    got = layer_budgets(40, 5, slope=0.0, cap=100, least=2, knots=(0.0, 2.0, 0.0))
    assert got.tolist() == [2, 10, 17, 9, 2]  # 30 over 1:2:1 -> 7.5, 15, 7.5; the tie: index 1
    for slope in (-0.5, 0.5, 0.75, 1.0):
        a = ramp_knots(Allocation(slope=slope, across_heads=True), 5)
        assert a.slope == 0.0 and len(a.knots) == 5
        assert torch.equal(layer_budgets(11520, 30, slope=0.0, cap=1536, least=3, knots=a.knots),
                           layer_budgets(11520, 30, slope=slope, cap=1536, least=3))
    assert ramp_knots(Allocation(knots=(0.0, 2.0, 1.0)), 5).knots == (0.0, 1.0, 2.0, 1.5, 1.0)


def test_knot_search_descends_a_toy_loss():
    """Coordinate descent keeps only improving moves: loss sum (k - 1)^2 from (0.25 .. 1.75)."""
    start = ramp_knots(Allocation(slope=0.75), 5)
    hist = knot_search(lambda a: sum((k - 1.0) ** 2 for k in a.knots), start,
                       [[0.6, 1.5], [0.8, 1.25]])
    losses = [h[1] for h in hist]
    assert len(hist) == 3 and losses == sorted(losses, reverse=True) and losses[-1] < 0.3
    assert hist[-1][0].knots == (0.4688, 0.9375, 1.0, 1.0312, 1.05)

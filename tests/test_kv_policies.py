"""KV eviction policies on small hand-built observations: selection, each policy's definition,
the decode form, and the metrics (no model needed; the model-based checks are in test_kv_fidelity)."""
import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from kvpress.utils import compute_n_kept

from heurist.policies.kv import (
    POLICY_NAMES,
    DecodeStep,
    LayerObservation,
    agreement,
    complement,
    group_mean,
    keep_top,
    kl_divergence,
    make_policy,
    n_kept,
    parse_policies,
    perplexity,
    victims,
)


def _causal_attn(hq: int, t: int, seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    logits = torch.randn(hq, t, t, generator=g)
    mask = torch.triu(torch.ones(t, t, dtype=torch.bool), diagonal=1)
    return torch.softmax(logits.masked_fill(mask, float("-inf")), dim=-1)


def _obs(t: int = 12, seed: int = 0, future: bool = False) -> LayerObservation:
    g = torch.Generator().manual_seed(seed + 100)
    keys = torch.randn(3, t, 4, generator=g)
    fut = _causal_attn(9, t + 3, seed + 7)[:, -3:, :t] if future else None
    values = torch.randn(3, t, 4, generator=g)  # the learned scorer reads value norms
    return LayerObservation(attn=_causal_attn(9, t, seed), keys=keys, layer=0, future=fut,
                            values=values)


@settings(max_examples=200, deadline=None)
@given(st.integers(1, 5000), st.sampled_from([0.1, 0.25, 0.5, 0.3, 0.7, 0.05, 1.0]))
def test_n_kept_matches_kvpress(t, budget):
    """n_kept(T, b) is kvpress's compute_n_kept(T, 1 - b) for every length and budget."""
    assert n_kept(t, budget) == compute_n_kept(t, 1.0 - budget)


def test_n_kept_rejects_bad_budget():
    """A budget outside (0, 1] is a ValueError."""
    for b in (0.0, -0.1, 1.5):
        with pytest.raises(ValueError, match="budget"):
            n_kept(100, b)


def test_keep_top_and_victims_choose_by_score():
    """keep_top keeps the highest scores (sorted indices); victims are the lowest; complement is the rest."""
    scores = torch.tensor([[0.5, 0.1, 0.9, 0.3], [4.0, 3.0, 2.0, 1.0]])
    assert keep_top(scores, 2).tolist() == [[0, 2], [0, 1]]
    assert sorted(victims(scores, 1).reshape(-1).tolist()) == [1, 3]
    assert complement(torch.tensor([[1], [3]]), 4).tolist() == [[0, 2, 3], [0, 1, 2]]


def test_group_mean_follows_repeat_kv_order():
    """Query heads k*g..k*g+g-1 average into KV head k."""
    x = torch.arange(9.0)[:, None]
    assert group_mean(x, 3)[:, 0].tolist() == [1.0, 4.0, 7.0]


def test_streaming_keeps_sinks_and_recent_window():
    """StreamingLLM keeps the first 4 positions and the most recent n_kept - 4."""
    kept = make_policy("streaming").select(_obs(t=20), 8)
    assert kept.tolist() == [[0, 1, 2, 3, 16, 17, 18, 19]] * 3


def test_knorm_keeps_lowest_norm_keys():
    """Key norm keeps the entries with the LOWEST key norm (kvpress's -||k|| sign)."""
    obs = _obs(t=10)
    kept = make_policy("knorm").select(obs, 3)
    norms = obs.keys.norm(dim=-1)
    assert kept.tolist() == norms.topk(3, largest=False).indices.sort().values.tolist()


def test_tova_default_scores_each_group_and_kvpress_shares_one_set():
    """TOVA keeps the newest and each group's top last-row attention; kvpress mode one set."""
    obs = _obs(t=16, seed=3)
    kept = make_policy("tova").select(obs, 5)
    row = group_mean(obs.attn[:, -1, :-1], 3)
    expect = torch.cat([row.topk(4).indices, torch.full((3, 1), 15)], 1).sort().values
    assert kept.tolist() == expect.tolist()
    shared = make_policy("tova", parity="kvpress").select(obs, 5)
    assert (shared == shared[0]).all()


def test_h2o_keeps_recent_half_and_heavy_hitters():
    """H2O keeps the newest recent_ratio*n_kept entries plus the largest accumulated attention."""
    obs = _obs(t=16, seed=5)
    kept = make_policy("h2o").select(obs, 6)
    acc = group_mean(obs.attn.sum(1), 3)[:, :13]
    for h in range(3):
        heavy = acc[h].topk(3).indices.tolist()
        assert kept[h].tolist() == sorted(heavy + [13, 14, 15])


def test_oracle_keeps_most_future_mass():
    """The oracle keeps the entries with the largest future attention mass per KV head."""
    obs = _obs(t=12, future=True)
    kept = make_policy("oracle").select(obs, 4)
    mass = group_mean(obs.future.sum(1), 3)
    assert kept.tolist() == mass.topk(4).indices.sort().values.tolist()


def test_oracle_without_future_is_a_value_error():
    """The offline oracle refuses to score without the future attention."""
    with pytest.raises(ValueError, match="future"):
        make_policy("oracle").select(_obs(), 4)


def test_random_same_seed_same_set_and_layers_differ():
    """Random with one seed repeats exactly; another layer or seed draws another set."""
    obs = _obs(t=64)
    a = make_policy("random", seed=3).select(obs, 16)
    assert torch.equal(a, make_policy("random", seed=3).select(obs, 16))
    assert not torch.equal(a, make_policy("random", seed=4).select(obs, 16))
    other = LayerObservation(attn=obs.attn, keys=obs.keys, layer=1)
    assert not torch.equal(a, make_policy("random", seed=3).select(other, 16))
    kv = make_policy("random", seed=3, parity="kvpress")
    assert torch.equal(kv.select(obs, 16), kv.select(other, 16))  # kvpress re-seeds per layer


@pytest.mark.parametrize("name", POLICY_NAMES)
def test_every_policy_keeps_n_distinct_entries_per_head(name):
    """Each policy's prefill form keeps exactly n_kept distinct, sorted, in-range entries per head."""
    obs = _obs(t=40, future=True)
    kept = make_policy(name).select(obs, 12)
    n = 40 if name == "full" else 12
    assert kept.shape == (3, n)
    assert all(len(set(r)) == n and r == sorted(r) and 0 <= r[0] and r[-1] < 40
               for r in kept.tolist())


@pytest.mark.parametrize("name", [n for n in POLICY_NAMES if n != "full"])
def test_decode_form_scores_every_cached_entry(name):
    """Each policy's decode form updates its stats and scores every cached entry with a finite value."""
    obs = _obs(t=20, future=True)
    policy = make_policy(name)
    kept = policy.select(obs, 8)
    stats = {k: v.gather(-1, kept.expand(*v.shape[:-2], *kept.shape)).clone()
             for k, v in policy.prefill_stats(obs).items()}
    # The cache appends a zero column for the new token to every statistic.
    stats = {k: torch.cat([v, torch.zeros_like(v[..., :1])], dim=-1) for k, v in stats.items()}
    pos = torch.cat([kept, torch.full((3, 1), 20)], 1)
    step = DecodeStep(attn=torch.softmax(torch.randn(9, 9), -1), keys=torch.randn(3, 9, 4),
                      positions=pos, layer=0, step=0, capacity=8,
                      future=torch.rand(9, 21), values=torch.randn(3, 9, 4))
    policy.observe(stats, step)
    scores = policy.decode_scores(stats, step)
    assert scores.shape == (3, 9) and bool(torch.isfinite(scores).all())


def test_parse_policies_rejects_unknown_names():
    """An unknown policy name is a ValueError listing the known ones."""
    assert parse_policies("full, h2o") == ["full", "h2o"]
    with pytest.raises(ValueError, match="known"):
        parse_policies("full,lru")


def test_metrics_exact_values():
    """KL of equal logits is 0, uniform logits give perplexity V, agreement counts equal tokens."""
    logits = torch.randn(5, 7)
    assert kl_divergence(logits, logits) == 0.0
    assert kl_divergence(logits, torch.zeros(5, 7)) > 0.0
    assert math.isclose(perplexity(torch.zeros(4, 10), torch.tensor([1, 2, 3, 4])), 10.0)
    assert agreement(torch.tensor([1, 2, 3, 4]), torch.tensor([1, 0, 3, 0])) == 0.5

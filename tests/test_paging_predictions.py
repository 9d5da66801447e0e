"""Exact and noisy predictions for learning-augmented paging (heurist.envs.paging.predictions)."""
from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from heurist.envs.paging import (
    NEVER,
    CombinedPredictor,
    DiscardBits,
    ExactNextArrival,
    LearnedPredictor,
    NoisyNextArrival,
    PhaseBits,
    Predictions,
    belady_miss_flags,
    exact_discard_bits,
    exact_phase_bits,
    make_predictor,
    next_arrivals,
    phase_ids,
)

traces = st.lists(st.integers(0, 5), min_size=1, max_size=30)


def py_belady_misses(trace, k):
    """Straightforward Belady: evict the cached page whose next request is farthest."""
    cache, flags = set(), []
    for t, page in enumerate(trace):
        flags.append(page not in cache)
        if page in cache:
            continue
        if len(cache) == k:
            rest = trace[t + 1:]
            cache.remove(max(sorted(cache),
                             key=lambda q, rest=rest: rest.index(q) if q in rest else math.inf))
        cache.add(page)
    return flags


def py_phases(trace, k):
    phases, current, seen = [], 0, set()
    for page in trace:
        if page not in seen and len(seen) == k:
            current, seen = current + 1, set()
        seen.add(page)
        phases.append(current)
    return phases


def test_next_arrivals_known_values():
    """next_arrivals gives the index of the next request to the same page, inf when none."""
    out = next_arrivals(np.array([1, 2, 1, 3, 2]))
    assert out.tolist() == [2.0, 4.0, NEVER, NEVER, NEVER]
    assert out.dtype == np.float64


@settings(max_examples=60, deadline=None)
@given(traces)
def test_next_arrivals_match_definition(trace):
    """next_arrivals agrees with a direct search for the next occurrence."""
    out = next_arrivals(np.array(trace))
    for t, page in enumerate(trace):
        rest = trace[t + 1:]
        assert out[t] == (t + 1 + rest.index(page) if page in rest else math.inf)


@settings(max_examples=60, deadline=None)
@given(traces, st.integers(1, 4))
def test_belady_flags_match_reference(trace, k):
    """The numba Belady miss count equals a straightforward Python Belady's."""
    assert belady_miss_flags(np.array(trace), k).sum() == sum(py_belady_misses(trace, k))


@settings(max_examples=60, deadline=None)
@given(traces, st.integers(1, 4))
def test_phase_ids_and_bits_match_definition(trace, k):
    """phase_ids is the k-phase partition; phase bit = page requested in the following phase."""
    phases = py_phases(trace, k)
    assert phase_ids(np.array(trace), k).tolist() == phases
    bits = exact_phase_bits(np.array(trace), k)
    for t, page in enumerate(trace):
        expected = any(p == page and ph == phases[t] + 1 for p, ph in zip(trace, phases))
        assert bits[t] == expected


@settings(max_examples=60, deadline=None)
@given(traces, st.integers(1, 4))
def test_discard_bits_match_definition(trace, k):
    """Discard bit = Belady misses the page's next request, or there is none."""
    flags = py_belady_misses(trace, k)
    bits = exact_discard_bits(np.array(trace), k)
    for t, page in enumerate(trace):
        rest = trace[t + 1:]
        expected = True if page not in rest else flags[t + 1 + rest.index(page)]
        assert bits[t] == expected


def test_noisy_predictor_is_seeded_and_adds_lognormal_noise():
    """NoisyNextArrival adds positive lognormal noise; never-again pages start from T."""
    trace = np.array([0, 1, 0, 2, 1, 0])
    a = NoisyNextArrival(sigma=1.0)(trace, cache_size=2, rng=np.random.default_rng(4))
    b = NoisyNextArrival(sigma=1.0)(trace, cache_size=2, rng=np.random.default_rng(4))
    assert np.array_equal(a.next_arrival, b.next_arrival)
    base = np.array([2, 4, 5, 6, 6, 6], dtype=np.float64)
    noise = a.next_arrival - base
    assert (noise > 0).all()
    expected = np.random.default_rng(4).lognormal(0.0, 1.0, 6)
    assert np.allclose(noise, expected)
    zero = NoisyNextArrival(sigma=0.0)(trace, cache_size=2, rng=np.random.default_rng(0))
    assert np.allclose(zero.next_arrival, base + 1.0)


def test_bit_flip_rates():
    """flip_rate 0 gives the exact bits, 1 their complement, 0.3 flips about 30%."""
    rng = np.random.default_rng(0)
    trace = rng.integers(0, 30, 5000)
    exact = exact_discard_bits(trace, 8)
    assert np.array_equal(DiscardBits(flip_rate=0)(trace, cache_size=8, rng=rng).discard, exact)
    assert np.array_equal(DiscardBits(flip_rate=1)(trace, cache_size=8, rng=rng).discard, ~exact)
    flipped = PhaseBits(flip_rate=0.3)(trace, cache_size=8, rng=rng).phase
    assert 0.27 < (flipped != exact_phase_bits(trace, 8)).mean() < 0.33


def test_learned_and_combined_predictors():
    """LearnedPredictor accepts dicts and arrays; CombinedPredictor merges fields."""
    trace = np.array([3, 4, 3])
    arr = LearnedPredictor(lambda tr, k: np.arange(len(tr)) + k)(trace, cache_size=2,
                                                                  rng=np.random.default_rng(0))
    assert arr.next_arrival.tolist() == [2.0, 3.0, 4.0]
    d = LearnedPredictor(lambda tr, k: {"discard": [1, 0, 1]})(trace, cache_size=2,
                                                               rng=np.random.default_rng(0))
    assert d.discard.tolist() == [True, False, True] and d.next_arrival is None
    with pytest.raises(ValueError, match="trace has 3"):
        LearnedPredictor(lambda tr, k: np.zeros(2))(trace, cache_size=2, rng=np.random.default_rng(0))
    both = CombinedPredictor(ExactNextArrival(), PhaseBits(flip_rate=0))(
        trace, cache_size=1, rng=np.random.default_rng(0))
    assert both.next_arrival.tolist() == [2.0, NEVER, NEVER]
    assert both.phase.tolist() == exact_phase_bits(trace, 1).tolist()


def test_predictions_validate_fields():
    """Predictions rejects mismatched lengths, NaN and non-1-D arrays."""
    with pytest.raises(ValueError, match="differ in length"):
        Predictions(next_arrival=np.zeros(3), discard=np.zeros(2))
    with pytest.raises(ValueError, match="NaN"):
        Predictions(next_arrival=np.array([1.0, np.nan]))
    with pytest.raises(ValueError, match="1-D"):
        Predictions(next_arrival=np.zeros((2, 2)))


def test_make_predictor_specs():
    """Predictor specs parse into the right predictors; bad specs are ValueErrors."""
    assert isinstance(make_predictor("exact"), ExactNextArrival)
    assert make_predictor("noisy:2.5").sigma == 2.5
    assert make_predictor("discard:0.1").flip_rate == 0.1
    combined = make_predictor("noisy:1+phase:0.2")
    assert isinstance(combined, CombinedPredictor) and len(combined.predictors) == 2
    for bad in ("noisy", "oracle", "discard:2", "noisy:-1"):
        with pytest.raises(ValueError, match="bad predictor"):
            make_predictor(bad)

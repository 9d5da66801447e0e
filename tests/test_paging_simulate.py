"""The paging simulator: golden BrightKite counts, independent oracles, brute-force optimum and
the consistency of every policy's eviction log."""
from __future__ import annotations

import functools
import math
from collections import OrderedDict

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from heurist.envs.paging import (
    CombinedPredictor,
    DiscardBits,
    ExactNextArrival,
    PhaseBits,
    load_trace,
)
from heurist.policies.paging import LRU, get_policy, list_policies, simulate

EXACT = CombinedPredictor(ExactNextArrival(), DiscardBits(flip_rate=0), PhaseBits(flip_rate=0))
traces = st.lists(st.integers(0, 6), min_size=1, max_size=40)


def py_lru(trace, k):
    """Straightforward LRU with an ordered dict."""
    cache, misses = OrderedDict(), 0
    for page in trace:
        if page in cache:
            cache.move_to_end(page)
            continue
        misses += 1
        if len(cache) == k:
            cache.popitem(last=False)
        cache[page] = True
    return misses


def py_opt(trace, k):
    """Straightforward Belady by scanning the future."""
    cache, misses = set(), 0
    for t, page in enumerate(trace):
        if page in cache:
            continue
        misses += 1
        if len(cache) == k:
            rest = trace[t + 1:]
            cache.remove(max(cache, key=lambda q, rest=rest: rest.index(q) if q in rest
                             else math.inf))
        cache.add(page)
    return misses


def brute_force_optimum(trace, k):
    """Exhaustive search over every eviction choice (demand paging)."""
    trace = tuple(trace)

    @functools.cache
    def best(t, cache):
        if t == len(trace):
            return 0
        page = trace[t]
        if page in cache:
            return best(t + 1, cache)
        if len(cache) < k:
            return 1 + best(t + 1, cache | {page})
        return 1 + min(best(t + 1, (cache - {v}) | {page}) for v in cache)

    return best(0, frozenset())


def check_log(trace, k, result):
    """Replays a result's eviction log and checks it against the miss flags and capacity."""
    cache = set()
    for t, page in enumerate(trace):
        victim = int(result.victims[t])
        if page in cache:
            assert not result.miss_flags[t] and victim == -1, f"t={t}: hit logged as a miss"
            continue
        assert result.miss_flags[t], f"t={t}: miss logged as a hit"
        if len(cache) == k:
            assert victim in cache, f"t={t}: evicted {victim}, not cached"
            cache.remove(victim)
        else:
            assert victim == -1, f"t={t}: evicted before the cache was full"
        cache.add(page)


def test_brightkite_golden_opt_and_lru(shared_data):
    """Summed over the 100 BrightKite traces at k=10: OPT 33,990 and LRU 43,883 misses."""
    files = sorted((shared_data / "paging" / "brightkite").glob("*.txt"))
    assert len(files) == 100
    opt = lru = 0
    for path in files:
        trace = load_trace(path)
        opt += simulate(trace, 10, "OPT").misses
        lru += simulate(trace, 10, "lru").misses
    assert (opt, lru) == (33990, 43883)


@settings(max_examples=80, deadline=None)
@given(traces, st.integers(1, 4))
def test_lru_and_opt_match_independent_python(trace, k):
    """LRU and OPT agree with straightforward pure-Python implementations."""
    arr = np.array(trace)
    assert simulate(arr, k, "LRU").misses == py_lru(trace, k)
    assert simulate(arr, k, "OPT").misses == py_opt(trace, k)


@settings(max_examples=40, deadline=None)
@given(st.lists(st.integers(0, 4), min_size=1, max_size=12), st.integers(1, 3))
def test_opt_equals_brute_force_optimum(trace, k):
    """OPT's miss count equals the exhaustive optimum over all eviction choices."""
    assert simulate(np.array(trace), k, "OPT").misses == brute_force_optimum(trace, k)


@settings(max_examples=25, deadline=None)
@given(traces, st.integers(1, 4), st.integers(0, 3))
def test_every_policy_keeps_a_valid_log_and_never_beats_opt(trace, k, seed):
    """Every policy's log is a valid demand-paging run, with misses >= OPT."""
    arr = np.array(trace)
    preds = EXACT(arr, cache_size=k, rng=np.random.default_rng(seed))
    opt = simulate(arr, k, "OPT").misses
    for name in list_policies():
        result = simulate(arr, k, name, predictions=preds, seed=seed)
        check_log(trace, k, result)
        assert result.misses >= opt, name
        assert result.requests == len(trace) and result.hits == len(trace) - result.misses


def test_policy_logs_on_larger_random_trace():
    """On a 3,000-request Zipf-like trace every policy's eviction log replays consistently."""
    rng = np.random.default_rng(11)
    trace = (rng.zipf(1.3, 3000) % 60).astype(np.int64)
    preds = EXACT(trace, cache_size=8, rng=rng)
    for name in list_policies():
        check_log(trace.tolist(), 8, simulate(trace, 8, name, predictions=preds, seed=1))


def test_ids_need_not_be_dense():
    """Sparse, negative or huge ids give the same misses as their densified trace; victims keep ids."""
    dense = np.array([0, 1, 2, 0, 3, 1, 2, 0])
    sparse = np.array([-5, 10**12, 7, -5, 99, 10**12, 7, -5])
    for name in ("OPT", "LRU", "ARC", "S3-FIFO", "Marker"):
        assert simulate(sparse, 2, name).misses == simulate(dense, 2, name).misses
    victims = simulate(sparse, 2, "LRU").victims
    assert set(victims[victims != -1].tolist()) <= set(sparse.tolist()) | {-1}
    assert simulate(sparse, 2, "LRU").victims[2] == -5


def test_randomized_policies_repeat_with_seed():
    """Randomized policies give identical logs for the same seed and differ across seeds."""
    rng = np.random.default_rng(0)
    trace = rng.integers(0, 40, 2000)
    preds = EXACT(trace, cache_size=10, rng=rng)
    for name in ("Random", "RandomizedMarker", "Robust", "Mark&Predict", "LMarker"):
        a = simulate(trace, 10, name, predictions=preds, seed=3)
        b = simulate(trace, 10, name, predictions=preds, seed=3)
        assert np.array_equal(a.victims, b.victims), name
    runs = {simulate(trace, 10, "Random", seed=s).misses for s in range(5)}
    assert len(runs) > 1


def test_simulate_accepts_a_predictor():
    """A predictor passed as predictions is called with the simulation's seed."""
    trace = np.array([1, 2, 3, 1, 2, 3, 1])
    assert simulate(trace, 2, "BlindOracle", predictions=ExactNextArrival()).misses == \
        simulate(trace, 2, "OPT").misses


def test_simulate_errors():
    """Unknown policies list the valid ones; bad sizes, shapes and missing predictions fail."""
    trace = np.array([1, 2, 1])
    with pytest.raises(ValueError, match="valid: OPT, ARC"):
        simulate(trace, 2, "nosuch")
    with pytest.raises(ValueError, match="cache_size"):
        simulate(trace, 0, "LRU")
    with pytest.raises(ValueError, match="1-D"):
        simulate(trace.reshape(1, 3), 2, "LRU")
    with pytest.raises(ValueError, match="integer page ids"):
        simulate(np.array([1.5, 2.0]), 2, "LRU")
    for name in ("BlindOracle", "PredictiveMarker", "LMarker", "LNonMarker", "Discard",
                 "Mark&Predict", "Robust"):
        with pytest.raises(ValueError, match="needs predictions"):
            simulate(trace, 2, name)


def test_names_are_case_and_separator_insensitive():
    """Policy names match regardless of case and separators; objects pass through."""
    assert get_policy("s3_fifo").name == get_policy("S3-FIFO").name == "S3-FIFO"
    assert get_policy("belady").name == "OPT"
    policy = LRU()
    assert get_policy(policy) is policy
    # 18 classical and learning-augmented policies + the two shipped learned ones + their two
    # distilled scorers
    assert "OPT" == list_policies()[0] and len(list_policies()) == 22

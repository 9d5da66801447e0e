"""Per-policy behaviour: hand-computed miss counts and victims, and the guarantees of the marking
and learning-augmented families."""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from heurist.envs.paging import (
    CombinedPredictor,
    DiscardBits,
    ExactNextArrival,
    NoisyNextArrival,
    PhaseBits,
    Predictions,
    generators,
    next_arrival_indices,
    phase_ids,
)
from heurist.policies.paging import S3FIFO, Robust, simulate

EXACT = CombinedPredictor(ExactNextArrival(), DiscardBits(flip_rate=0), PhaseBits(flip_rate=0))
traces = st.lists(st.integers(0, 7), min_size=1, max_size=50)
BELADY_ANOMALY = [1, 2, 3, 4, 1, 2, 5, 1, 2, 3, 4, 5]


def misses(trace, k, name, **kwargs):
    return simulate(np.array(trace), k, name, **kwargs).misses


def victims(trace, k, name, **kwargs):
    return simulate(np.array(trace), k, name, **kwargs).victims.tolist()


def clean_requests(trace, k):
    """Requests to pages requested in neither the previous nor the current phase (pure Python)."""
    phases, current, seen, last_phase = [], 0, set(), {}
    count = 0
    for page in trace:
        if page not in seen and len(seen) == k:
            current, seen = current + 1, set()
        if page not in seen and last_phase.get(page, -10) < current - 1:
            count += 1
        seen.add(page)
        last_phase[page] = current
        phases.append(current)
    return count


@pytest.mark.parametrize(("k", "expected"), [
    (3, {"OPT": 7, "LRU": 10, "FIFO": 9, "CLOCK": 10, "Marker": 9}),
    (4, {"OPT": 6, "LRU": 8, "FIFO": 10, "CLOCK": 8, "Marker": 10}),
])
def test_belady_anomaly_sequence(k, expected):
    """The textbook sequence: FIFO misses 9 with 3 frames but 10 with 4 (Belady's anomaly)."""
    for name, count in expected.items():
        assert misses(BELADY_ANOMALY, k, name) == count, name


def test_clock_gives_a_second_chance():
    """[1,2,1,3,1], k=2: CLOCK and LRU spare the re-used page 1 (3 misses), FIFO evicts it (4)."""
    trace = [1, 2, 1, 3, 1]
    assert misses(trace, 2, "CLOCK") == 3 and victims(trace, 2, "CLOCK")[3] == 2
    assert misses(trace, 2, "LRU") == 3
    assert misses(trace, 2, "FIFO") == 4 and victims(trace, 2, "FIFO")[3] == 1


def test_lfu_evicts_least_frequent():
    """[1,1,2,3,2,1], k=2: LFU keeps the twice-used page 1 (evicts 2, then 3); LRU evicts 1."""
    trace = [1, 1, 2, 3, 2, 1]
    assert victims(trace, 2, "LFU") == [-1, -1, -1, 2, 3, -1]
    assert victims(trace, 2, "LRU") == [-1, -1, -1, 1, -1, 3]


def test_arc_adapts_with_ghost_hits():
    """[1,1,2,3,2,1], k=2, traced by hand through ARC's cases: victims 2, 1, 3 (5 misses)."""
    assert victims([1, 1, 2, 3, 2, 1], 2, "ARC") == [-1, -1, -1, 2, 1, 3]
    assert victims([1, 2, 1, 3, 1], 2, "ARC") == [-1, -1, -1, 2, -1]


def test_s3fifo_promotes_reused_pages():
    """[1,1,2,3,2,1], k=2: the re-used page 1 is promoted to main; 2 and 3 leave via the small
    queue (4 misses)."""
    assert victims([1, 1, 2, 3, 2, 1], 2, "S3-FIFO") == [-1, -1, -1, 2, 3, -1]
    with pytest.raises(ValueError, match="small_fraction"):
        S3FIFO(small_fraction=1.5)


def test_marker_evicts_earliest_loaded_unmarked_page():
    """[1,2,3,1,2,3], k=2: every request misses under Marker; OPT misses 4."""
    assert victims([1, 2, 3, 1, 2, 3], 2, "Marker") == [-1, -1, 1, 2, 3, 1]
    assert misses([1, 2, 3, 1, 2, 3], 2, "OPT") == 4


def test_scan_resistance():
    """On a hot set interrupted by one-off scans, ARC and S3-FIFO miss less than LRU."""
    trace = generators.scan(20000, n_hot=40, scan_length=200, scan_prob=0.01,
                            rng=np.random.default_rng(0))
    lru = simulate(trace, 50, "LRU").misses
    assert simulate(trace, 50, "ARC").misses < 0.95 * lru
    assert simulate(trace, 50, "S3-FIFO").misses < 0.95 * lru


def test_loop_defeats_lru_but_not_opt():
    """A cyclic scan over k+1 pages: LRU and FIFO miss every request, OPT about one in k."""
    trace = generators.loop(1100, n_pages=11, rng=np.random.default_rng(0))
    assert simulate(trace, 10, "LRU").misses == simulate(trace, 10, "FIFO").misses == 1100
    assert simulate(trace, 10, "OPT").misses <= 10 + 1100 // 10 + 1


def test_marking_adversary_separates_marking_from_opt():
    """On the marking adversary (k=10, one new page per phase) OPT pays about one miss per phase,
    marking algorithms at least twice as much."""
    trace = generators.marking_adversary(4000, cache_size=10, rng=np.random.default_rng(0))
    n_phases = int(phase_ids(trace, 10).max()) + 1
    opt = simulate(trace, 10, "OPT").misses
    assert opt <= n_phases + 10
    for name in ("Marker", "RandomizedMarker", "LRU"):
        assert simulate(trace, 10, name, seed=1).misses >= 2 * opt, name


@settings(max_examples=40, deadline=None)
@given(traces, st.integers(1, 5), st.integers(0, 5))
def test_marking_algorithms_are_k_competitive(trace, k, seed):
    """Marking algorithms miss at most k times per phase, hence at most k * (OPT + 1)."""
    arr = np.array(trace)
    opt = misses(trace, k, "OPT")
    noisy = NoisyNextArrival(sigma=2.0)(arr, cache_size=k, rng=np.random.default_rng(seed))
    bits = PhaseBits(flip_rate=0.3)(arr, cache_size=k, rng=np.random.default_rng(seed))
    n_phases = int(phase_ids(arr, k).max()) + 1
    for name, preds in (("Marker", None), ("RandomizedMarker", None), ("LRU", None),
                        ("PredictiveMarker", noisy), ("LMarker", noisy), ("Mark&Predict", bits)):
        got = misses(trace, k, name, predictions=preds, seed=seed)
        assert got <= k * n_phases <= k * (opt + 1), name


@settings(max_examples=40, deadline=None)
@given(traces, st.integers(1, 5), st.integers(0, 3))
def test_exact_predictions_are_consistent(trace, k, seed):
    """With exact predictions BlindOracle, both discard algorithms and Robust equal OPT, and the
    marking-based predictors pay exactly the clean requests."""
    arr = np.array(trace)
    preds = EXACT(arr, cache_size=k, rng=np.random.default_rng(seed))
    opt = misses(trace, k, "OPT")
    for name in ("BlindOracle", "Discard", "DiscardRandomized", "Robust"):
        assert misses(trace, k, name, predictions=preds, seed=seed) == opt, name
    clean = clean_requests(trace, k)
    for name in ("PredictiveMarker", "LMarker", "Mark&Predict"):
        assert misses(trace, k, name, predictions=preds, seed=seed) == clean, name
    assert opt <= misses(trace, k, "LNonMarker", predictions=preds, seed=seed) <= clean


@pytest.mark.parametrize("seed", range(3))
def test_robust_tracks_the_better_policy(seed):
    """With adversarial (inverted) predictions Robust stays within 2k misses of the better of
    BlindOracle and Randomized Marker; with exact ones it stays optimal."""
    k = 20
    trace = generators.zipf(5000, n_pages=200, alpha=0.8, rng=np.random.default_rng(seed))
    inverted = Predictions(next_arrival=-next_arrival_indices(trace).astype(np.float64))
    blind = simulate(trace, k, "BlindOracle", predictions=inverted).misses
    marker = simulate(trace, k, "RandomizedMarker", seed=seed + 1).misses
    robust = simulate(trace, k, "Robust", predictions=inverted, seed=seed).misses
    assert marker < blind
    assert robust <= min(blind, marker) + 2 * k
    lru_backed = Robust(follow="BlindOracle", fallback="LRU")
    assert simulate(trace, k, lru_backed, predictions=inverted).misses <= \
        simulate(trace, k, "LRU").misses + 2 * k


def test_discard_bits_errors_cost_misses():
    """Flipping discard bits makes the discard algorithm worse than OPT, monotonically on average."""
    trace = generators.zipf(6000, n_pages=150, alpha=0.9, rng=np.random.default_rng(7))
    costs = []
    for rate in (0.0, 0.1, 0.4):
        preds = DiscardBits(flip_rate=rate)(trace, cache_size=15, rng=np.random.default_rng(1))
        costs.append(simulate(trace, 15, "Discard", predictions=preds).misses)
    assert costs[0] == simulate(trace, 15, "OPT").misses
    assert costs[0] < costs[1] < costs[2]


@pytest.fixture(scope="module")
def brightkite(shared_data):
    from heurist.envs.paging import load_trace

    files = sorted((shared_data / "paging" / "brightkite").glob("*.txt"))
    return [load_trace(f) for f in files]


def test_brightkite_regression_counts(brightkite):
    """BrightKite k=10 sums of the deterministic online policies stay at their recorded values,
    ordered as expected: S3-FIFO and ARC beat LRU, LFU is worst."""
    recorded = {"ARC": 42565, "S3-FIFO": 41410, "CLOCK": 44124, "FIFO": 47765, "LFU": 50084,
                "Marker": 46695, "LRU": 43883}
    got = {name: sum(simulate(t, 10, name).misses for t in brightkite) for name in recorded}
    assert got == recorded


def test_robust_rejects_unknown_components():
    """Robust names its components by registry name and rejects unknown ones."""
    with pytest.raises(ValueError, match="unknown paging policy"):
        Robust(follow="psychic")
    assert Robust(follow="Discard", fallback="LRU").needs == ("discard",)

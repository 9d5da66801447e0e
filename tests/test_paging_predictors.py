"""The learned paging predictors (issue 11): causality, robustness, the shipped artifacts, seeds."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from heurist.agents.data import load_split
from heurist.envs.paging import generators as gen
from heurist.envs.paging.predictions import Predictions, next_arrivals
from heurist.policies.paging import simulate
from heurist.policies.paging.learned_features import request_features, stack_distances
from heurist.policies.paging.learned_ftp import LearnedFTP
from heurist.policies.paging.learned_policy import LearnedSlotPolicy
from heurist.policies.paging.learned_predictor import load_predictor


@pytest.fixture(scope="module")
def predictor():
    return load_predictor()


@pytest.fixture(scope="module")
def bk3157():
    split = load_split(None)
    return split["test"][split["test_names"].index("bk3157.txt")]


def test_stack_distances_brute_force():
    """Fenwick stack distances equal the distinct pages counted between two requests."""
    trace = np.random.default_rng(0).integers(0, 12, 400)
    got = stack_distances(trace, 12)
    for t in range(trace.size):
        prev = np.flatnonzero(trace[:t] == trace[t])
        want = -1 if prev.size == 0 else np.unique(trace[prev[-1] + 1:t]).size
        assert got[t] == want


@pytest.mark.parametrize("cut", [1, 500, 1999])
def test_no_future_leak(predictor, bk3157, cut):
    """Altering a trace after ``cut`` leaves every feature and prediction before ``cut`` unchanged."""
    altered = bk3157.copy()
    altered[cut:] = np.random.default_rng(cut).integers(0, 10**6, altered.size - cut)
    assert not np.array_equal(altered, bk3157)
    np.testing.assert_array_equal(request_features(bk3157)[:cut], request_features(altered)[:cut])
    for k in (5, 10, 100):
        a, b = predictor(bk3157, cache_size=k), predictor(altered, cache_size=k)
        for field in ("next_arrival", "discard", "phase"):
            np.testing.assert_array_equal(getattr(a, field)[:cut], getattr(b, field)[:cut])


def _adversarial(trace) -> Predictions:
    """Next arrivals reversed: the page needed soonest is predicted farthest, and vice versa."""
    nxt = next_arrivals(trace)
    return Predictions(next_arrival=-np.where(np.isinf(nxt), 2 * trace.size, nxt))


@pytest.mark.parametrize("which", ["brightkite", "zipf", "scan"])
@pytest.mark.parametrize("k", [5, 10])
def test_robust_bound_adversarial(bk3157, which, k):
    """With adversarial predictions Robust stays within 2x Randomized Marker (same seed) while
    BlindOracle, which trusts them, does worse than that Marker."""
    trace = {"brightkite": bk3157,
             "zipf": gen.zipf(3000, n_pages=200, alpha=0.8, rng=np.random.default_rng(1)),
             "scan": gen.scan(3000, n_hot=30, scan_length=40, scan_prob=0.02,
                              rng=np.random.default_rng(2))}[which]
    adv = _adversarial(trace)
    robust = simulate(trace, k, "Robust", predictions=adv, seed=3).misses
    marker = simulate(trace, k, "RandomizedMarker", seed=4).misses  # Robust's fallback seed
    blind = simulate(trace, k, "BlindOracle", predictions=adv).misses
    assert robust <= 2 * marker
    assert blind > marker


def test_shipped_predictor_exact_misses(predictor, bk3157):
    """The shipped predictor loads and gives the golden miss counts on held-out user bk3157, k=10."""
    assert predictor.manifest["network"]["class"] == "PagingPredictorNet"
    pred = predictor(bk3157, cache_size=10)
    got = {p: simulate(bk3157, 10, p, predictions=pred).misses
           for p in ("BlindOracle", "PredictiveMarker", "Discard", "Mark&Predict", "OPT")}
    assert got == {"BlindOracle": 865, "PredictiveMarker": 742, "Discard": 757,
                   "Mark&Predict": 758, "OPT": 612}
    assert simulate(bk3157, 10, LearnedFTP(predictor=predictor)).misses == 707
    assert simulate(bk3157, 10, "S3-FIFO").misses == 735


def test_shipped_slot_policy_exact_misses(bk3157):
    """The shipped slot-attention policy (learned conditional inputs) loads and misses 180 times
    on bk3157[:300] at k=10."""
    result = simulate(bk3157[:300], 10, LearnedSlotPolicy())
    assert result.misses == 180
    assert simulate(bk3157[:300], 10, "OPT").misses == 163


def test_training_is_deterministic():
    """Two tiny training runs with the same seed give bitwise equal weights and calibration."""
    from heurist.agents.paging_predictors.train import PredictorConfig, train_predictor

    cfg = PredictorConfig(families=("zipf", "loop"), n_synthetic=2, length=400, epochs=1, seed=5)
    (a, rec_a), (b, rec_b) = (train_predictor(cfg, progress=False) for _ in range(2))
    for (name, x), (_, y) in zip(a.net.state_dict().items(), b.net.state_dict().items()):
        assert torch.equal(x, y), name
    assert rec_a["calibration"] == rec_b["calibration"]
    assert rec_a["epoch_loss"] == rec_b["epoch_loss"]


def test_artifact_path_overrides_shipped(tmp_path, predictor, bk3157):
    """An exported predictor folder loads in place of the shipped one (same weights, same bits)."""
    from heurist.policies.export.artifact import export_artifact

    net = predictor.net
    net.config["discard_threshold"] = 0.3  # a different rule, to tell the two apart
    try:
        folder = export_artifact(net, tmp_path / "pred")
    finally:
        net.config["discard_threshold"] = load_predictor().net.config["discard_threshold"]
    other = load_predictor(folder)
    assert other.net.config["discard_threshold"] == 0.3
    assert (other(bk3157, cache_size=10).discard.sum()
            > predictor(bk3157, cache_size=10).discard.sum())


def test_cli_learned_predictor_and_policy(capsys):
    """``heurist simulate --predictor learned`` feeds the five algorithms and matches the golden
    counts; a missing artifact folder is exit 2 with one line."""
    import json

    from heurist.cli import main
    from heurist.envs.common.data import data_dir

    path = str(data_dir("paging/brightkite") / "bk3157.txt")
    assert main(["simulate", path, "-k", "10", "--predictor", "learned", "--json", "--policy",
                 "blindoracle,predictivemarker,discard,markpredict,robust,learnedftp"]) == 0
    rows = {r["policy"]: r["misses"] for r in json.loads(capsys.readouterr().out)}
    assert {p: rows[p] for p in ("BlindOracle", "PredictiveMarker", "Discard", "Mark&Predict",
                                 "LearnedFTP")} == {"BlindOracle": 865, "PredictiveMarker": 742,
                                                    "Discard": 757, "Mark&Predict": 758,
                                                    "LearnedFTP": 707}
    assert main(["simulate", path, "-k", "10", "--predictor", "learned:/no/such/dir",
                 "--policy", "discard"]) == 2
    assert "/no/such/dir" in capsys.readouterr().err

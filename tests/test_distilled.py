"""The distilled runtime scorers (policies/paging/distilled.py): exact agreement of the numba
tree with sklearn and of the linear scorer with a dot product, the simulator's victims equal the
batched scorer's argmin, online features equal offline ones, the shipped policies' golden miss
counts, and the artifact's refusals."""
import json
import shutil

import numpy as np
import pytest

from heurist.policies.paging import get_policy, simulate
from heurist.policies.paging.distilled import (
    FEATURES,
    N_FEATURES,
    DistilledScorer,
    StreamScorer,
    _check_arrays,
    load_distilled,
    log_elapsed,
    shipped_distilled_path,
)
from heurist.policies.paging.learned_features import request_features


def _trace(n=1500, pages=80, seed=3):
    rng = np.random.default_rng(seed)
    return (rng.zipf(1.2, n) % pages).astype(np.int64)


def _features(n=4000, seed=0):
    """Fixed features ``[n, F]`` (float32) shaped like real ones, with some exact repeats."""
    rng = np.random.default_rng(seed)
    x = rng.normal(2.0, 2.0, (n, N_FEATURES)).astype(np.float32)
    x[:, -1] = log_elapsed(rng.integers(0, 5000, n))
    x[::7] = x[1::7][: x[::7].shape[0]]
    return x


def test_numba_tree_equals_sklearn_predict():
    """A depth-6 sklearn tree exported as flat arrays predicts bit-for-bit what sklearn does."""
    from sklearn.tree import DecisionTreeRegressor

    x = _features()
    y = np.sin(x[:, 0]) + 0.3 * x[:, -1] - (x[:, 2] > 1.5)
    tree = DecisionTreeRegressor(max_depth=6, random_state=0).fit(x, y)
    t = tree.tree_
    arrays = _check_arrays({
        "linear_weight": np.zeros(N_FEATURES), "linear_bias": np.zeros(1),
        "tree_feature": t.feature.astype(np.int64), "tree_threshold": t.threshold,
        "tree_left": t.children_left.astype(np.int64),
        "tree_right": t.children_right.astype(np.int64), "tree_value": t.value[:, 0, 0]},
        "test")
    scorer = DistilledScorer("tree", arrays)
    x_new = _features(seed=1)
    # thresholds themselves: a value exactly at a split goes left, as in sklearn
    x_new[:127, t.feature[t.feature >= 0][0]] = t.threshold[t.feature >= 0][0]
    assert np.array_equal(scorer.priorities(x_new), tree.predict(x_new))
    assert scorer.priority(x_new[5]) == tree.predict(x_new[5:6])[0]


def test_linear_scorer_equals_numpy_dot():
    """The shipped linear scorer is ``x @ w + b`` (to float64 rounding of the sum order)."""
    scorer = load_distilled(kind="linear")
    x = _features()
    want = x.astype(np.float64) @ scorer.w + scorer.b
    np.testing.assert_allclose(scorer.priorities(x), want, rtol=0, atol=1e-12)


def test_elapsed_thresholds_equal_the_log_comparison():
    """The tree's integer elapsed thresholds decide exactly as comparing log_elapsed would."""
    scorer = load_distilled(kind="tree")
    nodes = np.flatnonzero(scorer.feat == N_FEATURES - 1)
    assert nodes.size > 0  # the shipped tree does split on log_elapsed
    e = np.arange(70000)
    le = log_elapsed(e).astype(np.float64)
    for i in nodes:
        assert np.array_equal(e <= scorer.elapsed_thr[i], le <= scorer.thr[i])


@pytest.mark.parametrize("kind", ["linear", "tree"])
def test_simulator_victims_are_the_scorers_argmin(kind):
    """Each eviction of ``simulate --policy distilled[-tree]`` is the batched scorer's victim over
    the cached pages' features (lowest priority, the oldest request on ties)."""
    trace = _trace()
    k = 12
    name = "Distilled" if kind == "linear" else "DistilledTree"
    res = simulate(trace, k, name)
    feats = request_features(trace)
    scorer = load_distilled(kind=kind)
    cached, last = [], {}
    for t, p in enumerate(trace.tolist()):
        if p in last and p in cached:
            last[p] = t
            continue
        assert res.miss_flags[t]
        if len(cached) == k:
            r = np.array([last[q] for q in cached])
            x = np.concatenate([feats[r], log_elapsed(t - r)[:, None]], axis=1)
            p_all = scorer.priorities(x)
            lowest = np.flatnonzero(p_all == p_all.min())
            want = cached[lowest[np.argmin(r[lowest])]]
            assert res.victims[t] == want
            cached.remove(want)
        cached.append(p)
        last[p] = t
    assert res.misses == int(res.miss_flags.sum()) > k


def test_stream_features_equal_request_features():
    """The online features (one request at a time, arrays grown on the way) equal the offline
    ``request_features`` rows, and StreamScorer's priorities equal the batched scorer's."""
    trace = _trace(n=900, pages=300)
    s = StreamScorer(load_distilled(kind="tree"), capacity=16)
    feats = request_features(trace)
    for t, p in enumerate(trace.tolist()):
        s.observe(("key", p))
        assert np.array_equal(s._rows[s.ids[("key", p)]], feats[t])
    keys = [("key", p) for p in np.unique(trace)[:50].tolist()]
    x = s.features(keys)
    r = np.array([s.last_request(k) for k in keys])
    assert np.array_equal(x[:, :-1], feats[r])
    assert np.array_equal(x[:, -1], log_elapsed(trace.size - r))
    assert np.array_equal(s.priorities(keys), s.scorer.priorities(x))


def test_shipped_golden_miss_counts():
    """The shipped scorers' misses on BrightKite user bk0 (train split, 2,100 requests) are fixed;
    LRU is shown for scale."""
    from heurist.envs.common.data import data_dir
    from heurist.envs.paging.traces import load_trace

    trace = load_trace(data_dir("paging/brightkite") / "bk0.txt")
    got = {name: [simulate(trace, k, name).misses for k in (10, 50)]
           for name in ("distilled", "distilled-tree", "LRU")}
    assert got == GOLDEN


GOLDEN = {"distilled": [1001, 809], "distilled-tree": [1008, 797], "LRU": [1114, 806]}


def test_names_resolve():
    """``distilled``, ``distilled_linear`` and ``distilled-tree`` name the two policies."""
    assert get_policy("distilled").name == get_policy("distilled_linear").name == "Distilled"
    assert get_policy("distilled-tree").name == "DistilledTree"


def test_manifest_records_layout_and_provenance():
    """The shipped manifest names the features, the teacher and the train/test split."""
    m = json.loads((shipped_distilled_path() / "manifest.json").read_text())
    assert m["env"]["features"] == {"page_features": list(FEATURES)}
    assert m["network"]["config"]["max_depth"] == 6
    assert m["provenance"]["teacher"]["policy"] == "LearnedFTP"
    assert len(m["provenance"]["data"]["train_files"]) == 70
    assert len(m["provenance"]["data"]["test_files"]) == 30


@pytest.fixture()
def artifact_copy(tmp_path):
    dst = tmp_path / "distilled"
    shutil.copytree(shipped_distilled_path(), dst)
    return dst


def test_tampered_weights_are_refused(artifact_copy):
    """One flipped byte in the weights: a ValueError that names the checksum mismatch."""
    w = artifact_copy / "weights.safetensors"
    blob = bytearray(w.read_bytes())
    blob[-3] ^= 0x01
    w.write_bytes(bytes(blob))
    with pytest.raises(ValueError, match="sha256 .* does not match the manifest"):
        load_distilled(artifact_copy, "tree")
    with pytest.raises(ValueError, match="sha256"):
        simulate(_trace(n=50), 4, get_policy("distilled", artifact=artifact_copy))


@pytest.mark.parametrize("edit, message", [
    (lambda m: m["network"].update({"class": "os.system"}), "not a distilled paging scorer"),
    (lambda m: m["env"]["features"]["page_features"].reverse(), "re-distil"),
    (lambda m: m["format"].update({"version": 2}), "format version 2"),
])
def test_manifest_edits_are_refused(artifact_copy, edit, message):
    """Another network class, a reordered feature list or format version 2 are refused."""
    path = artifact_copy / "manifest.json"
    m = json.loads(path.read_text())
    edit(m)
    path.write_text(json.dumps(m))
    with pytest.raises(ValueError, match=message):
        load_distilled(artifact_copy)


def test_malformed_tree_is_refused():
    """A tree whose child points back at its parent (a cycle) is refused before evaluation."""
    arrays = {"linear_weight": np.zeros(N_FEATURES), "linear_bias": np.zeros(1),
              "tree_feature": np.array([0, -2, -2]), "tree_threshold": np.zeros(3),
              "tree_left": np.array([0, -1, -1]), "tree_right": np.array([2, -1, -1]),
              "tree_value": np.zeros(3)}
    with pytest.raises(ValueError, match="malformed tree"):
        _check_arrays(arrays, "x")


def test_inspect_checks_and_prints_the_distilled_artifact(artifact_copy, capsys):
    """heurist inspect runs the distilled loader's checks: the shipped copy prints its manifest
    (exit 0), a flipped weight byte exits 2 with one line naming the checksum."""
    from heurist.cli import main

    assert main(["inspect", str(artifact_copy)]) == 0
    assert "DistilledPagingScorer (269 parameters)" in capsys.readouterr().out
    w = artifact_copy / "weights.safetensors"
    blob = bytearray(w.read_bytes())
    blob[-3] ^= 0x01
    w.write_bytes(bytes(blob))
    assert main(["inspect", str(artifact_copy)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "does not match the manifest" in err[0]

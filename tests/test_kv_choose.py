"""The enlarged KV validation set (issue 11): drawn from train documents only, disjoint from the
documents the scorer and the knot curves were fitted on, reproducible; paired statistics golden."""

import math

import pytest

from heurist.agents.kv_scorer.choose import (
    paired,
    parse_candidates,
    summarise,
    validation_documents,
)
from heurist.agents.kv_scorer.data import KINDS, is_test, load_documents
from heurist.policies.kv.allocation import Allocation
from heurist.policies.kv.shared import shared_model

SPAN = 512 + 64


def test_validation_documents_are_train_side_and_disjoint_from_fits():
    """Validation = docs 13..27 of the train split; never a test doc, never a fitted doc."""
    _, tok = shared_model()
    val = validation_documents(tok, docs=16, val_docs=3, extra=12, span=SPAN)
    again = validation_documents(tok, docs=16, val_docs=3, extra=12, span=SPAN)
    for kind in KINDS:
        ids = [d for d, _ in val[kind]]
        assert ids == [d for d, _ in again[kind]]  # same documents every time
        assert len(ids) == len(set(ids)) and not any(is_test(kind, d) for d in ids)
        test_ids = {d for d, _ in load_documents(tok, kind, "test", count=3, need=SPAN)}
        assert not set(ids) & test_ids  # the benchmark's test documents (--docs 3)
        fitted = [d for d, _ in load_documents(tok, kind, "train", count=13, need=SPAN)]
        assert not set(ids) & set(fitted)  # the scorer's training and the knot fits read these
        old = [d for d, _ in load_documents(tok, kind, "train", count=16, need=SPAN)][13:]
        assert ids[:3] == old  # the 9 windows of the earlier rounds come first
    assert [len(val[k]) for k in KINDS] == [15, 15, 11]  # prose: only 24 train docs >= 576 tokens


def test_paired_statistics_golden():
    """Differences 0.1, -0.1, 0.3 (chat, chat, code): means, SEs, log ratios and wins exact."""
    a = {("chat", "x"): 0.2, ("chat", "y"): 0.1, ("code", "z"): 0.4}
    b = {("chat", "x"): 0.1, ("chat", "y"): 0.2, ("code", "z"): 0.1}
    p = paired(a, b)
    assert p["n"] == 3 and p["wins"] == 1
    assert p["diff"] == pytest.approx(0.1)
    assert p["diff_se"] == pytest.approx(math.sqrt(0.04 / 3))
    assert p["macro_diff"] == pytest.approx((0.0 + 0.3) / 2)
    assert p["macro_diff_se"] == pytest.approx(math.sqrt(0.02 / 2) / 2)
    assert p["log_ratio"] == pytest.approx(math.log(4) / 3)
    rows = [{"policy": "p", "allocation": "uniform", "kind": k, "doc": d, "kl": v}
            for (k, d), v in a.items()]
    rows += [{"policy": "q", "allocation": "s0.5", "kind": k, "doc": d, "kl": v}
             for (k, d), v in b.items()]
    s = summarise(rows)
    assert [r["candidate"] for r in s] == ["q+s0.5", "p+uniform"] and s[0]["vs_best"] is None
    assert s[1]["vs_best"]["macro_diff"] == pytest.approx(0.15)


def test_parse_candidates_round_trip():
    """POLICY=ALLOCATION;... parses to Allocations whose labels read back; junk raises."""
    c = parse_candidates("learned=ada,k0.5:1:2; observed=uniform")
    assert c == [("learned", Allocation(across_heads=True, knots=(0.5, 1.0, 2.0))),
                 ("observed", Allocation())]
    assert c[0][1].label == "ada,k0.5:1:2"
    with pytest.raises(ValueError):
        parse_candidates("learned")

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
    again = validation_documents(tok, docs=16, val_docs=3, extra=12, span=SPAN, kinds=("chat",))
    for kind in KINDS:
        ids = [d for d, _ in val[kind]]
        if kind in again:
            assert ids == [d for d, _ in again[kind]]  # same documents every time
        assert len(ids) == len(set(ids)) and not any(is_test(kind, d) for d in ids)
        test_ids = {d for d, _ in load_documents(tok, kind, "test", count=3, need=SPAN)}
        assert not set(ids) & test_ids  # the benchmark's test documents (--docs 3)
        first = [d for d, _ in load_documents(tok, kind, "train", count=16, need=SPAN)]
        assert not set(ids) & set(first[:13])  # the scorer's training and the knot fits read these
        assert ids[:3] == first[13:]  # the 9 windows of the earlier rounds come first
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


def test_learned_curve_preset_is_the_shipped_scorers_default_in_prefill():
    """The preset parses to the 9-knot AdaKV curve; the shipped scorer (only) defaults to it in
    prefill; evaluate_text applies it there (row learned+label, = run_policy with it), not in decode
    or with an explicit Allocation()."""
    import os

    import torch

    from heurist.policies.kv import make_policy, reference_run, run_policy
    from heurist.policies.kv.allocation import PRESETS
    from heurist.policies.kv.evaluate import evaluate_text
    from heurist.policies.kv.learned import DEFAULT_ARTIFACT, LearnedScorer

    curve = Allocation.parse("learned-curve")
    assert curve.label == PRESETS["learned-curve"] and curve.across_heads and len(curve.knots) == 9
    assert Allocation.parse(curve.label) == curve
    shipped = make_policy("learned")
    assert shipped.default_allocation == curve
    assert LearnedScorer(net=shipped.net).default_allocation is None
    assert LearnedScorer(artifact=DEFAULT_ARTIFACT, sink=0).default_allocation is None
    model, tok = shared_model()
    with open(os.__file__, encoding="utf-8") as f:
        ids = torch.tensor(tok(f.read(), add_special_tokens=False).input_ids)
    ref = reference_run(model, ids, context=96, continuation=16, greedy_steps=0)
    kw = {"policies": ["learned"], "budgets": [0.25], "context": 96, "continuation": 16,
          "greedy_steps": 0, "reference": ref}
    row, = evaluate_text(model, ids, **kw)
    assert row["policy"] == f"learned+{curve.label}"
    assert row["kl"] == run_policy(model, ref, make_policy("learned"), 0.25, greedy=False,
                                   allocation=curve).kl
    plain, = evaluate_text(model, ids, allocation=Allocation(), **kw)
    assert plain["policy"] == "learned"
    assert plain["kl"] == run_policy(model, ref, make_policy("learned"), 0.25, greedy=False).kl

"""The KL-searched KV scorer (issue 11): the residual network starts as observed attention, the
batched evaluator gives run_policy's KL exactly, a short search never reports a worse KL than it
measures, and the new network options survive the artifact format. Real SmolLM2 on os.py (T=96,
C=16), 2 windows."""

import pytest
import torch
from kv_text import os_py_ids

from heurist.agents.kv_scorer.search import (
    batched_kl,
    input_names,
    search,
    window_from_reference,
)
from heurist.policies.export import export_artifact
from heurist.policies.kv import make_policy, reference_run, run_policy
from heurist.policies.kv.learned import FEATURES, KVScorer, LearnedScorer, load_scorer
from heurist.policies.kv.observation import LayerObservation
from heurist.policies.kv.shared import shared_model

T, C = 96, 16


@pytest.fixture(scope="module")
def setup():
    """Model and two windows of os.py (tokens 0.. and 200..)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    model, tok = shared_model()
    ids = os_py_ids(tok)
    refs = [reference_run(model, ids[s:], context=T, continuation=C, greedy_steps=0)
            for s in (0, 200)]
    yield model, refs
    torch.set_num_threads(threads)


def _obs(t: int, seed: int, layer: int) -> LayerObservation:
    g = torch.Generator().manual_seed(seed)
    s = torch.randn(9, t, t, generator=g)
    s = s.masked_fill(~torch.ones(t, t, dtype=torch.bool).tril(), float("-inf"))
    return LayerObservation(attn=s.softmax(-1), keys=torch.randn(3, t, 64, generator=g),
                            layer=layer, values=torch.randn(3, t, 64, generator=g))


def test_untrained_residual_scorer_keeps_observed_attentions_set():
    """A residual scorer before training (correction zero) keeps exactly observed attention's
    set, in and outside its layer range; a nonzero linear correction acts only inside it."""
    net = KVScorer(n_features=len(FEATURES), hidden=0, embed=1, neighbours=1, residual=True,
                   layer_range=[15, 30])
    for layer in (3, 20):
        obs = _obs(48, layer, layer)
        want = make_policy("observed").select(obs, 12)
        assert torch.equal(LearnedScorer(net=net, sink=0).select(obs, 12), want)
    with torch.no_grad():
        net.mlp[0].weight[0, FEATURES.index("rel_pos")] = 1e4  # recency dominates
    assert torch.equal(LearnedScorer(net=net, sink=0).select(_obs(48, 3, 3), 12),
                       make_policy("observed").select(_obs(48, 3, 3), 12))
    assert LearnedScorer(net=net, sink=0).select(_obs(48, 20, 20), 12).tolist() == \
        [list(range(36, 48))] * 3


def test_batched_kl_equals_run_policy(setup):
    """batched_kl over two windows gives each window's run_policy KL (prefill mode, 25 %)."""
    model, refs = setup
    windows = [window_from_reference("code", f"os.py@{i}", r) for i, r in enumerate(refs)]
    net = KVScorer(n_features=len(FEATURES), hidden=0, embed=1, neighbours=1, residual=True,
                   layer_range=[10, 30])
    with torch.no_grad():
        net.mlp[0].weight.copy_(torch.linspace(-1, 1, net.mlp[0].weight.numel())[None])
    got = batched_kl(model, windows, net, 0.25)
    want = [run_policy(model, r, LearnedScorer(net=net), 0.25, greedy=False).kl for r in refs]
    assert got == pytest.approx(want, rel=1e-5, abs=1e-7) and min(got) > 0.0


def test_search_reports_the_kl_of_the_network_it_returns(setup):
    """Three search iterations: the best KL never rises, never exceeds the start (observed
    attention with the sink kept), and equals the returned network's measured KL."""
    model, refs = setup
    windows = [window_from_reference("code", f"os.py@{i}", r) for i, r in enumerate(refs)]
    net, best, history = search(model, windows, iterations=3, sigma=1.0, budget=0.25,
                                neighbours=1, layer_range=[15, 30], seed=0, log=lambda _: None)
    kls = [h["kl"] for h in history]
    assert len(kls) == 4 and kls == sorted(kls, reverse=True) and best == kls[-1]
    measured = batched_kl(model, windows, net, 0.25)
    assert sum(measured) / 2 == pytest.approx(best, rel=1e-9)


def test_ratio_objective_searches_only_the_named_inputs(setup):
    """With objective "ratio" the start scores exactly 0 (log 1) and only the named inputs'
    weights move; an unknown input name is refused."""
    model, refs = setup
    windows = [window_from_reference("code", f"os.py@{i}", r) for i, r in enumerate(refs)]
    net, best, history = search(model, windows, iterations=2, sigma=1.0, budget=0.25,
                                neighbours=1, layer_range=[15, 30], seed=0, log=lambda _: None,
                                inputs=["log_recency", "+1:log_observed"], objective="ratio")
    assert history[0]["kl"] == 0.0 and best <= 0.0
    names = input_names(len(FEATURES), 1)
    w = net.mlp[0].weight[0, :len(names)]
    moved = {names[i] for i in torch.nonzero(w).flatten().tolist()}
    assert moved <= {"log_recency", "+1:log_observed"}
    with pytest.raises(ValueError, match="unknown inputs"):
        search(model, windows, iterations=1, sigma=1.0, budget=0.25, neighbours=0,
               layer_range=[15, 30], seed=0, log=lambda _: None, inputs=["+1:log_mean"])


def test_new_network_options_round_trip_through_the_artifact(tmp_path):
    """hidden=0, neighbours, residual and layer_range are written to the manifest and rebuilt;
    the loaded network scores exactly as the exported one; a range without residual is refused."""
    net = KVScorer(n_features=len(FEATURES), hidden=0, embed=1, neighbours=2, residual=True,
                   layer_range=[15, 30])
    with torch.no_grad():
        net.mlp[0].weight.normal_(generator=torch.Generator().manual_seed(0))
    export_artifact(net, tmp_path / "a")
    back, manifest = load_scorer(tmp_path / "a")
    assert manifest["network"]["config"] == {"n_features": 19, "n_layers": 30, "n_kv_heads": 3,
                                             "hidden": 0, "embed": 1, "neighbours": 2,
                                             "residual": True, "layer_range": [15, 30]}
    x = torch.randn(2, 3, 20, len(FEATURES))
    layers = torch.tensor([4, 22])
    assert torch.equal(back(x, layers), net(x, layers))
    with pytest.raises(ValueError, match="residual"):
        KVScorer(layer_range=[0, 10])

"""heurist KV policies inside kvpress (PolicyPress, a kvpress ScorerPress) on the real SmolLM2:
the sets kvpress's own compress keeps equal our policies' per (layer, KV head); fidelity measured
through kvpress equals ``heurist kv evaluate --parity kvpress``; kvpress's pipeline runs the press;
the decode-time press (kvpress's PrefillDecodingPress + our DecodingPress) is bitwise heurist's
``--mode decode``.
128 context tokens of Python's os.py, 16 teacher-forced, 8 greedy."""

import pytest
import torch
from kv_text import os_py_ids
from transformers import DynamicCache

from heurist.policies.kv import (
    KVPolicy,
    PolicyCache,
    evaluate_text,
    make_policy,
    n_kept,
    reference_run,
    run_policy,
)
from heurist.policies.kv.fidelity import _greedy
from heurist.policies.kv.metrics import kl_divergence
from heurist.policies.kv.parity import kvpress_kept, prefill_observations, same_sets
from heurist.policies.kv.press import (
    PolicyPress,
    decode_press,
    kvpress_fidelity,
    kvpress_greedy,
    kvpress_pipeline,
    policy_press,
)
from heurist.policies.kv.shared import shared_model

T, C, G = 128, 16, 8
#: |KL via kvpress - KL via heurist|: kvpress gathers the kept keys in topk order, our cache in
#: position order, so attention sums run in another order (measured <= 5e-7 on these cases).
KL_TOL = 1e-5
#: Relative perplexity tolerance, for the same reason (measured <= 2e-6).
PPL_RTOL = 1e-5


class LinearKeyScorer(KVPolicy):
    """A learned-style scorer: a seeded linear layer over each cached key (stands in for any
    trained network; the press only calls ``prefill_scores``)."""

    name = "linear-keys"

    def __init__(self, *, seed: int = 0) -> None:
        super().__init__()
        torch.manual_seed(seed)
        self.net = torch.nn.Linear(64, 1)

    def prefill_scores(self, obs, n_kept):
        return self.net(obs.keys).squeeze(-1)  # [Hkv, T, D] -> [Hkv, T]


@pytest.fixture(scope="module")
def setup():
    """Model, tokenizer, ids of os.py, our prefill observations of its first T tokens, reference."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # 2 oversubscribed shared cores: 1 thread is ~8x faster than 2
    model, tok = shared_model()
    ids = os_py_ids(tok)
    obs = prefill_observations(model, ids[:T])
    ref = reference_run(model, ids, context=T, continuation=C, greedy_steps=G)
    yield model, tok, ids, obs, ref
    torch.set_num_threads(threads)


KEPT_CASES = [(name, budget, parity) for name in
              ("streaming", "h2o", "tova", "scissorhands", "snapkv", "knorm", "observed", "random")
              for budget in (0.25, 0.5) for parity in ("heurist",)]
KEPT_CASES += [("h2o", 0.25, "kvpress"), ("tova", 0.1, "kvpress"), ("snapkv", 0.75, "kvpress")]


@pytest.mark.parametrize("name,budget,parity", KEPT_CASES)
def test_press_keeps_the_policys_sets(setup, name, budget, parity):
    """Every (layer, KV head) set kvpress keeps with PolicyPress equals our policy's select()."""
    model, _, ids, obs, _ = setup
    theirs = kvpress_kept(model, policy_press(name, budget, parity=parity), ids[:T])
    policy = make_policy(name, parity=parity)
    ours = [policy.select(o, n_kept(T, budget)) for o in obs]
    assert [t.shape for t in theirs] == [(3, n_kept(T, budget))] * 30
    assert same_sets(theirs, ours) == 1.0


def test_learned_scorer_runs_in_kvpress(setup):
    """A network-scored policy outside the registry keeps, through kvpress, exactly its own sets."""
    model, _, ids, obs, _ = setup
    policy = LinearKeyScorer(seed=1)
    with torch.inference_mode():
        theirs = kvpress_kept(model, PolicyPress(compression_ratio=0.75, policy=policy), ids[:T])
        ours = [policy.select(o, 32) for o in obs]
    assert same_sets(theirs, ours) == 1.0


def test_full_cache_press_keeps_everything(setup):
    """The full cache through kvpress keeps all T entries and gives KL exactly 0."""
    model, _, ids, _, ref = setup
    r = kvpress_fidelity(model, ids, ref, policy_press("full", 0.25))
    assert (r["n_kept"], r["kl"], r["agreement"]) == (T, 0.0, 1.0)


def test_bad_policies_are_refused():
    """The offline oracle, a non-policy and an evicting ratio on the full cache are ValueErrors."""
    with pytest.raises(ValueError, match="offline oracle"):
        policy_press("oracle", 0.25)
    with pytest.raises(ValueError, match="needs a heurist KVPolicy"):
        PolicyPress(compression_ratio=0.5, policy="h2o")
    with pytest.raises(ValueError, match="never evicts"):
        PolicyPress(compression_ratio=0.5, policy=make_policy("full"))


FIDELITY_CASES = [("h2o", 0.25), ("tova", 0.25), ("snapkv", 0.5), ("streaming", 0.25),
                  ("knorm", 0.5), ("random", 0.25)]


@pytest.mark.parametrize("name,budget", FIDELITY_CASES)
def test_fidelity_through_kvpress_equals_evaluate(setup, name, budget):
    """KL and perplexity through kvpress equal `heurist kv evaluate --parity kvpress` within
    KL_TOL / PPL_RTOL; greedy agreement is exactly equal."""
    model, _, ids, _, ref = setup
    row, = evaluate_text(model, ids, policies=[name], budgets=[budget], context=T,
                         continuation=C, greedy_steps=G, reference=ref, parity="kvpress")
    r = kvpress_fidelity(model, ids, ref, policy_press(name, budget, parity="kvpress"))
    assert r["n_kept"] == row["n_kept"] == n_kept(T, budget)
    assert abs(r["kl"] - row["kl"]) <= KL_TOL and r["kl"] > 0.0
    assert r["ppl"] == pytest.approx(row["ppl"], rel=PPL_RTOL)
    assert r["agreement"] == row["agreement"]


def test_kvpress_pipeline_runs_the_press(setup):
    """kvpress's own pipeline answers with the press's greedy tokens, which differ from the full cache's."""
    model, tok, ids, _, ref = setup
    pipe = kvpress_pipeline(model, tok)
    press = policy_press("h2o", 0.1)
    inputs = {"context_ids": ids[None, :T], "questions_ids": [ref.first[None]]}
    answer, = pipe._forward(inputs, press=press, max_new_tokens=G)
    full, = pipe._forward(inputs, press=None, max_new_tokens=G)
    toks = kvpress_greedy(model, press, ids[:T], ref.first, G)
    assert answer == tok.decode(toks, skip_special_tokens=True)
    assert full == tok.decode(ref.greedy, skip_special_tokens=True)
    assert answer != full


DECODE_CASES = ["h2o", "tova", "streaming", "scissorhands", "knorm", "random"]


@pytest.mark.parametrize("name", DECODE_CASES)
def test_decode_press_equals_heurist_decode_mode(setup, name):
    """kvpress's PrefillDecodingPress with our decode press, teacher-forced C tokens at 25 %, gives
    bitwise the KL of `heurist kv evaluate --mode decode` and ends with the same kept positions."""
    model, _, ids, _, ref = setup
    n = n_kept(T, 0.25)
    press = decode_press(name, 0.25, T)
    cache = DynamicCache(config=model.config)
    rows = []
    with torch.inference_mode(), press(model):
        model.model(input_ids=ids[None, :T], past_key_values=cache)
        for i in range(C):
            out = model(ref.inputs[None, i:i + 1], past_key_values=cache,
                        position_ids=torch.tensor([[T + i]]))
            rows.append(out.logits[0, -1])
    theirs = [press.prefilling_press.tracker[i]["positions"] for i in range(30)]
    policy = make_policy(name)
    ours = PolicyCache.from_prefill(model.config, policy, ref.keys, ref.values, ref.observations,
                                    [policy.select(o, n) for o in ref.observations], capacity=n,
                                    decode_evict=True)
    with torch.inference_mode():
        for i in range(C):
            out = model(ref.inputs[None, i:i + 1], past_key_values=ours,
                        position_ids=torch.tensor([[T + i]]), output_attentions=True)
            ours.after_step(out.attentions)
    assert all(lay.keys.shape == (1, 3, n, 64) for lay in cache.layers)
    assert same_sets([p.sort(-1).values for p in theirs],
                     [p.sort(-1).values for p in ours.positions]) == 1.0
    r = run_policy(model, ref, policy, 0.25, mode="decode", greedy=False)
    assert kl_divergence(ref.logits, torch.stack(rows)) == r.kl


def test_pipeline_runs_the_decode_press(setup):
    """kvpress's pipeline with our decode press answers with heurist's decode-mode greedy tokens."""
    model, tok, ids, _, ref = setup
    n = n_kept(T, 0.1)
    policy = make_policy("h2o")
    kept = [policy.select(o, n) for o in ref.observations]
    ours = _greedy(model, ref, policy, kept, n, "decode", True, G)
    pipe = kvpress_pipeline(model, tok)
    inputs = {"context_ids": ids[None, :T], "questions_ids": [ref.first[None]]}
    answer, = pipe._forward(inputs, press=decode_press("h2o", 0.1, T), max_new_tokens=G)
    assert answer == tok.decode(ours, skip_special_tokens=True)
    assert not torch.equal(ours, ref.greedy)

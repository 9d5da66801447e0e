"""Offline texts, attention trace recording on the real model, and trace storage."""
import io

import numpy as np
import pytest
import torch

from heurist.envs.common import conformance as C
from heurist.envs.kv import (
    KVCacheEnv,
    Sample,
    TraceSet,
    load_model,
    load_trace,
    record_trace,
    save_trace,
)
from heurist.envs.kv import texts as X
from heurist.envs.kv.oracle import replay
from heurist.envs.kv.trace_io import pack_tril, trace_nbytes, unpack_tril

LAYERS = [0, 15, 29]


@pytest.fixture(scope="session")
def lm():
    """The real SmolLM2-135M and its tokenizer, loaded once (from the user cache). One torch
    thread: on 2 shared cores, 2 threads run single-token decoding ~4x slower."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield load_model()
    torch.set_num_threads(threads)


@pytest.fixture(scope="session")
def code_sample(lm):
    """The first 40 tokens of the first stdlib file that has them; 30 are the prompt."""
    return X.load_samples(lm[1], kind="code", count=1, n_tokens=40, prompt_fraction=0.75)[0]


@pytest.fixture(scope="session")
def trace(lm, code_sample):
    """A step-by-step decoded trace of the code sample (3 layers)."""
    return record_trace(lm[0], code_sample, layers=LAYERS)


# ---------------------------------------------------------------------------- texts
def test_sharegpt_first_conversation_is_known():
    """The first ShareGPT record is the known Product Launch Formula conversation."""
    conv = next(X.sharegpt_conversations())
    assert conv[0][0] == "user" and conv[1][0] == "assistant"
    assert conv[0][1].startswith("Summarize the main ideas of Jeff Walker's Product Launch Formula")


def test_sharegpt_truncated_file_ends_cleanly():
    """All 17671 complete records of the truncated JSON are read; the cut one is dropped."""
    with open(X.sharegpt_path(), encoding="utf-8") as f:
        starts = sum(1 for line in f if line == "  {\n")
    with open(X.sharegpt_path(), encoding="utf-8") as f:
        n = sum(1 for _ in X.read_conversations(f, name="x"))
    assert (starts, n) == (17672, 17671)
    assert sum(1 for _ in X.sharegpt_conversations()) == 17471  # minus records with empty turns


def test_reader_is_independent_of_the_chunk_size(monkeypatch):
    """Decoding with 4 KiB chunks gives the same first 300 records as 1 MiB chunks."""
    first = [c for c, _ in zip(X.sharegpt_conversations(), range(300))]
    monkeypatch.setattr(X, "_CHUNK", 4096)
    small = [c for c, _ in zip(X.sharegpt_conversations(), range(300))]
    assert small == first


def test_reader_truncation_and_malformed():
    """A record cut off at the end is dropped; a malformed record raises ValueError naming the file."""
    cut = '[{"a": 1}, {"b": "x\\u00'
    assert list(X.read_conversations(io.StringIO(cut), name="t.json")) == [{"a": 1}]
    with pytest.raises(ValueError, match="bad.json"):
        list(X.read_conversations(io.StringIO('[{"a": 1}, {"b": nope}, {"c": 2}]'), name="bad.json"))
    with pytest.raises(ValueError, match="obj.json"):
        list(X.read_conversations(io.StringIO('{"a": 1}'), name="obj.json"))


def test_stdlib_files_are_sorted_python_sources():
    """The stdlib list is sorted, non-empty and holds e.g. os.py."""
    files = X.stdlib_files()
    assert files == sorted(files) and any(p.name == "os.py" for p in files)


def test_chat_sample_marks_the_prompt(lm):
    """The chat prompt ends with the assistant header; the continuation is the reply's text."""
    tok = lm[1]
    s = X.load_samples(tok, kind="chat", count=1, n_tokens=96)[0]
    assert len(s.ids) == 96 and s.source == "sharegpt"
    assert tok.decode(s.ids[:s.n_prompt]).endswith("<|im_start|>assistant\n")
    assert tok.decode(s.ids[s.n_prompt:]).startswith("Here are the main ideas")


# ---------------------------------------------------------------------------- recording
def test_trace_rows_are_causal_distributions(trace, code_sample):
    """Mean-aggregated rows sum to 1 over tokens 0..q, nothing above the diagonal; ids kept."""
    assert trace.attn.shape == (3, 3, 40, 40) and trace.key_norm.shape == (3, 3, 40)
    np.testing.assert_allclose(trace.attn.sum(-1), 1.0, atol=1e-5)
    assert np.triu(trace.attn, 1).max() == 0.0
    assert np.array_equal(trace.ids, code_sample.ids) and trace.n_prompt == 30
    assert trace.layers.tolist() == LAYERS


def test_trace_equals_transformers_full_forward(lm, trace, code_sample):
    """Decoding records what one full forward with output_attentions gives, and key norms."""
    model = lm[0]
    ids = torch.as_tensor(code_sample.ids)[None]
    with torch.no_grad():
        out = model(ids, output_attentions=True, use_cache=True)
    for i, l in enumerate(LAYERS):
        ref = out.attentions[l][0].reshape(3, 3, 40, 40).mean(1).numpy()
        np.testing.assert_allclose(trace.attn[i], ref, atol=2e-5)
        keys = out.past_key_values.layers[l].keys[0]  # [3, T, 64], RoPE applied
        np.testing.assert_allclose(trace.key_norm[i], keys.norm(dim=-1).numpy(), rtol=1e-4)


def test_chunked_teacher_forcing_matches_step_decoding(lm, code_sample, trace):
    """Decoding 5 tokens per pass records the same attention as 1 token per pass."""
    t8 = record_trace(lm[0], code_sample, layers=LAYERS, decode_chunk=5)
    np.testing.assert_allclose(t8.attn, trace.attn, atol=2e-5)


def test_group_aggregations(lm, code_sample, trace):
    """sum = 3 x mean and max >= mean, on the same run."""
    short = Sample(code_sample.ids[:20], 12, code_sample.source)
    ts = record_trace(lm[0], short, layers=[15], agg="sum", decode_chunk=8)
    tm = record_trace(lm[0], short, layers=[15], agg="max", decode_chunk=8)
    assert ts.attn.shape == (1, 3, 20, 20)
    np.testing.assert_allclose(ts.attn[0], 3 * trace.attn[1, :, :20, :20], atol=5e-5)
    assert (tm.attn[0] >= trace.attn[1, :, :20, :20] - 1e-6).all()
    with pytest.raises(ValueError):
        record_trace(lm[0], short, agg="median")


def test_failed_pass_removes_the_hooks_and_progress_records_the_same(lm, code_sample, trace):
    """A failed pass leaves the model's hooks as they were; a progress bar records the same."""
    model = lm[0]

    def hooks():  # transformers keeps its own output-capturing hooks: compare, not count
        mods = [m for layer in (0, 29) for m in (model.model.layers[layer].self_attn,
                                                 model.model.layers[layer].self_attn.k_proj)]
        return [dict(m._forward_hooks) for m in mods]

    before = hooks()
    bad = Sample(np.array([1, 2, 10**6, 3]), 2, "bad ids")
    with pytest.raises(IndexError):
        record_trace(model, bad, layers=[0, 29])
    assert hooks() == before
    shown = record_trace(model, code_sample, layers=LAYERS, progress=True)
    assert np.array_equal(shown.attn, trace.attn) and np.array_equal(shown.key_norm, trace.key_norm)


def test_greedy_mode_matches_generate(lm, code_sample):
    """Greedy recording writes the tokens transformers' generate picks greedily."""
    model = lm[0]
    s = Sample(code_sample.ids[:16], 12, code_sample.source)
    t = record_trace(model, s, layers=[29], mode="greedy")
    with torch.no_grad():
        ref = model.generate(torch.as_tensor(s.ids[:12])[None], max_new_tokens=4, do_sample=False,
                             min_new_tokens=4)[0].numpy()
    assert np.array_equal(t.ids, ref) and t.mode == "greedy"


# ---------------------------------------------------------------------------- storage
def test_tril_pack_round_trip():
    """pack/unpack of a lower triangle is lossless."""
    a = np.tril(np.random.default_rng(0).random((2, 5, 5))).astype(np.float32)
    assert pack_tril(a).shape == (2, 15)
    assert np.array_equal(unpack_tril(pack_tril(a), 5), a)


def test_dense_round_trip(trace, tmp_path):
    """Dense fp16 storage is exact to fp16 rounding; its size is payload plus a small header."""
    n = save_trace(tmp_path / "t.safetensors", trace)
    back = load_trace(tmp_path / "t.safetensors")
    np.testing.assert_allclose(back.attn, trace.attn, atol=5e-4)
    np.testing.assert_allclose(back.key_norm, trace.key_norm, rtol=1e-3)
    assert np.array_equal(back.ids, trace.ids) and back.n_prompt == trace.n_prompt
    assert (back.agg, back.mode, back.source) == (trace.agg, trace.mode, trace.source)
    payload = trace_nbytes(40, 3, 3)
    assert payload == 3 * 3 * 820 * 2 and payload < n < payload + 2000


def test_topk_round_trip(trace, tmp_path):
    """Top-k storage keeps each row's k largest weights and rows still sum to 1."""
    save_trace(tmp_path / "k.safetensors", trace, fmt="topk", k=8)
    back = load_trace(tmp_path / "k.safetensors")
    np.testing.assert_allclose(back.attn.sum(-1), 1.0, atol=2e-3)
    top = np.argsort(-trace.attn, -1)[..., :8]
    ok = top <= np.arange(40)[:, None]
    np.testing.assert_allclose(np.take_along_axis(back.attn, top, -1)[ok],
                               np.take_along_axis(trace.attn, top, -1)[ok], atol=5e-4)
    assert np.triu(back.attn, 1).max() == 0.0


def test_bad_trace_files_name_the_file(trace, tmp_path):
    """Truncated, garbage and wrong-content files raise ValueError naming the file."""
    p = tmp_path / "t.safetensors"
    save_trace(p, trace)
    raw = p.read_bytes()
    (tmp_path / "cut.safetensors").write_bytes(raw[: len(raw) // 2])
    (tmp_path / "junk.safetensors").write_bytes(b"not a trace at all")
    from safetensors.numpy import save_file

    save_file({"x": np.zeros(3)}, str(tmp_path / "other.safetensors"))
    for name in ("cut", "junk", "other"):
        with pytest.raises(ValueError, match=f"{name}.safetensors"):
            load_trace(tmp_path / f"{name}.safetensors")


# ---------------------------------------------------------------------------- env on real traces
def test_env_on_real_trace_matches_oracle_and_full_cache(trace, tmp_path):
    """Real attention: full cache recalls 1 per step; a random run equals the oracle replay."""
    save_trace(tmp_path / "t.safetensors", trace)
    full = KVCacheEnv(traces=tmp_path, max_len=40, budget=40)
    _, _, rews, _dones = C.masked_rollout(full, batch_size=2, seed=0)
    assert torch.allclose(rews, torch.ones_like(rews), atol=2e-3)  # fp16 storage rounding
    env = KVCacheEnv(generator=TraceSet([trace]), max_len=40, budget=8)
    inst = env.generate(3, seed=0)
    _, acts, rews, _ = C.masked_rollout(env, inst.clone(), seed=1)
    for b in range(3):
        ok, total, _ = replay(inst["attn"][b].numpy(), 40, int(inst["n_prompt"][b]), acts[b],
                              budget=8, unit=1, n_slots=env.n_slots, compress=False)
        assert ok and total == pytest.approx(float(rews[b].sum()), abs=1e-5)
    assert float(rews.sum(1).min()) < 39 - 1e-3  # a budget of 8 of 40 loses some attention


def test_per_layer_rows_from_a_real_trace(trace):
    """Per-layer rows hold a layer's 3 KV heads; a full shared budget pays 1/3 per entry step."""
    ts = TraceSet([trace], per_layer=True)
    inst = ts(2, np.random.default_rng(0))
    assert inst["attn"].shape == (2, 3, 40, 40) and inst["key_norm"].shape == (2, 3, 40)
    env = KVCacheEnv(generator=ts, max_len=40, budget=40, budget_scope="layer")
    _, _, rews, _ = C.masked_rollout(env, inst, seed=0)
    assert rews.shape[1] == 39 * 3
    assert torch.allclose(rews, torch.full_like(rews, 1 / 3), atol=1e-5)

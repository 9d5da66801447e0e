"""The model zoo: transformers architectures built from configs with random weights (no download).

Each entry builds ``(model, example_args)`` for a batch size and a sequence length (ignored by the
vision models, which take 224x224 images). Models carry their task head so that training mode has a
real loss (``labels`` passed in the inputs); inference runs the same model without labels. Attention is
the ``eager`` implementation so the graph shows its matmuls (and the FLOP counter sees them).

Depth is reduced where noted (``n_layers``) to keep extraction in seconds; the per-layer structure is
the published one, so a deeper model is the same layers repeated.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch

__all__ = ["ZOO", "ZooEntry", "build"]


@dataclass(frozen=True)
class ZooEntry:
    """One zoo model: ``kind`` is ``"text"`` or ``"vision"``; ``make(n_layers)`` builds the model."""

    name: str
    kind: str
    default_layers: int
    make: Callable[[int], torch.nn.Module]
    vocab: int = 0
    n_classes: int = 0
    note: str = ""


def _gpt2(n_layers: int):
    from transformers import GPT2Config, GPT2LMHeadModel

    cfg = GPT2Config(n_layer=n_layers, n_positions=1024, n_embd=768, n_head=12,
                     attn_implementation="eager")
    return GPT2LMHeadModel(cfg)


def _llama(n_layers: int):
    from transformers import LlamaConfig, LlamaForCausalLM

    # SmolLM2-135M: hidden 576, 9 heads, 3 KV heads, intermediate 1536, vocab 49152 (30 layers).
    cfg = LlamaConfig(hidden_size=576, num_hidden_layers=n_layers, num_attention_heads=9,
                      num_key_value_heads=3, intermediate_size=1536, vocab_size=49152,
                      max_position_embeddings=2048, tie_word_embeddings=True,
                      attn_implementation="eager")
    return LlamaForCausalLM(cfg)


def _bert(n_layers: int):
    from transformers import BertConfig, BertForMaskedLM

    # Untied MLM decoder: AOTAutograd's joint export rejects BERT's tied decoder weight and bias
    # (the alias is seen as a parameter without a gradient); the graph's ops are the same.
    cfg = BertConfig(num_hidden_layers=n_layers, tie_word_embeddings=False,
                     attn_implementation="eager")
    return BertForMaskedLM(cfg)


def _vit(n_layers: int):
    from transformers import ViTConfig, ViTForImageClassification

    cfg = ViTConfig(num_hidden_layers=n_layers, image_size=224, patch_size=16, num_labels=1000,
                    attn_implementation="eager")
    return ViTForImageClassification(cfg)


def _resnet50(n_layers: int):
    from transformers import ResNetConfig, ResNetForImageClassification

    cfg = ResNetConfig(depths=[3, 4, 6, 3], hidden_sizes=[256, 512, 1024, 2048],
                       layer_type="bottleneck", num_labels=1000)
    return ResNetForImageClassification(cfg)


def _mobilenet_v2(n_layers: int):
    from transformers import MobileNetV2Config, MobileNetV2ForImageClassification

    return MobileNetV2ForImageClassification(MobileNetV2Config(num_labels=1000))


ZOO: dict[str, ZooEntry] = {
    e.name: e for e in [
        ZooEntry("gpt2", "text", 12, _gpt2, vocab=50257, note="GPT-2 small (124M), 12 layers"),
        ZooEntry("smollm2", "text", 4, _llama, vocab=49152,
                 note="Llama with the SmolLM2-135M config, 4 of its 30 layers by default"),
        ZooEntry("bert", "text", 12, _bert, vocab=30522, note="BERT-base, 12 layers"),
        ZooEntry("vit", "vision", 12, _vit, n_classes=1000, note="ViT-B/16 at 224x224"),
        ZooEntry("resnet50", "vision", 50, _resnet50, n_classes=1000, note="ResNet-50"),
        ZooEntry("mobilenet_v2", "vision", 53, _mobilenet_v2, n_classes=1000,
                 note="MobileNetV2 1.0 at 224x224"),
    ]
}


class _WithLabels(torch.nn.Module):
    """``forward(x, labels) -> loss``: the model's own task loss (labels passed by keyword)."""

    def __init__(self, model: torch.nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, x, labels):
        return self.model(x, labels=labels).loss


class _Logits(torch.nn.Module):
    """``forward(x) -> logits`` (drops the model's other outputs such as the KV cache)."""

    def __init__(self, model: torch.nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, x):
        kwargs = {"use_cache": False} if hasattr(self.model.config, "use_cache") else {}
        return self.model(x, **kwargs).logits


def build(name: str, *, batch: int = 1, seq: int = 128, mode: str = "inference",
          n_layers: int | None = None, seed: int = 0):
    """``(model, args)`` of zoo model ``name`` with random weights (seeded) and example inputs.

    Text inputs are ``input_ids [batch, seq]`` (+ ``labels`` of the same shape in training); vision
    inputs are ``pixel_values [batch, 3, 224, 224]`` (+ ``labels [batch]``).
    """
    if name not in ZOO:
        raise ValueError(f"unknown zoo model {name!r}; known: {', '.join(ZOO)}")
    if batch < 1 or seq < 1:
        raise ValueError(f"batch and seq must be >= 1, got batch={batch}, seq={seq}")
    e = ZOO[name]
    torch.manual_seed(seed)
    model = e.make(e.default_layers if n_layers is None else int(n_layers))
    g = torch.Generator().manual_seed(seed)
    if e.kind == "text":
        x = torch.randint(0, e.vocab, (batch, seq), generator=g)
        labels = x
    else:
        x = torch.randn(batch, 3, 224, 224, generator=g)
        labels = torch.randint(0, e.n_classes, (batch,), generator=g)
    if mode == "training":
        return _WithLabels(model), (x, labels)
    return _Logits(model), (x,)

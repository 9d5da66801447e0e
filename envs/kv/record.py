"""Attention trace recording: run the real model with the full KV cache and keep, for each layer
and KV head, the attention of every query step over all earlier tokens (itself included).

The prompt is prefilled in one forward pass; the continuation is then decoded with the full cache,
``decode_chunk`` tokens per forward pass: ``1`` is plain step-by-step decoding; a larger chunk is
teacher forcing several tokens at once, which gives the same attention rows (causal masking) up to
float rounding, and is faster. ``mode="greedy"`` replaces the continuation by the model's own greedy
tokens (one token per pass).

GQA: SmolLM2 has 9 query heads over 3 KV heads; query head ``h`` reads KV head ``h // 3``. A KV
head's trace aggregates the attention of its 3 query heads (``agg``: ``mean`` keeps rows summing to
1 and is the default; ``max`` is the per-token peak, rows then sum to >= 1; ``sum`` is 3x mean).
Key norms are taken from ``k_proj``'s output; RoPE rotates pairs of key dims, so the norm is the
same before and after it.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch

from heurist.envs.kv.texts import Sample

__all__ = ["AGGREGATIONS", "Trace", "record_trace"]

AGGREGATIONS = ("mean", "max", "sum")


@dataclass
class Trace:
    """One recorded sequence.

    ``ids`` [T]; ``attn`` [L, H, T, T] float32, lower-triangular (row ``q`` is query step ``q``'s
    attention over tokens ``0..q``) for the recorded ``layers`` [L]; ``key_norm`` [L, H, T] for
    the same layers; the first ``n_prompt`` tokens are the prompt, the rest the continuation
    (``mode`` says whether it was teacher-forced text or greedy generation).
    """

    ids: np.ndarray
    n_prompt: int
    layers: np.ndarray
    attn: np.ndarray
    key_norm: np.ndarray
    agg: str = "mean"
    mode: str = "teacher"
    source: str = ""
    meta: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        T = len(self.ids)
        L = len(self.layers)
        if self.attn.ndim != 4 or self.attn.shape[0] != L or self.attn.shape[2:] != (T, T):
            raise ValueError(f"attn shape {self.attn.shape} does not match [L={L}, H, T={T}, T]")
        if self.key_norm.shape != self.attn.shape[:2] + (T,):
            raise ValueError(f"key_norm shape {self.key_norm.shape} != {self.attn.shape[:2] + (T,)}")
        if not 0 < self.n_prompt <= T:
            raise ValueError(f"n_prompt={self.n_prompt} outside (0, {T}]")
        if self.agg not in AGGREGATIONS:
            raise ValueError(f"agg must be one of {AGGREGATIONS}, got {self.agg!r}")

    @property
    def length(self) -> int:
        return len(self.ids)

    @property
    def n_heads(self) -> int:
        return self.attn.shape[1]


def _aggregate(w: torch.Tensor, n_kv: int, agg: str) -> torch.Tensor:
    """[B, Hq, q, k] query-head weights -> [Hq/g groups, q, k] per KV head (batch 1)."""
    g = w.reshape(n_kv, w.shape[1] // n_kv, *w.shape[2:])
    if agg == "mean":
        return g.mean(1)
    if agg == "max":
        return g.amax(1)
    return g.sum(1)


@torch.no_grad()
def record_trace(model, sample: Sample, *, layers=None, agg: str = "mean", mode: str = "teacher",
                 decode_chunk: int = 1, progress: bool = False) -> Trace:
    """Runs prefill + decoding of ``sample`` on ``model`` (eager attention) and records the trace.

    ``layers``: indices of the layers whose attention is kept (``None``: all). Memory is
    ``4 * L * H * T^2`` bytes for the dense buffer. ``meta`` of the result holds the wall time
    of the prefill and of the decoding (``prefill_s``, ``decode_s``).
    """
    from transformers import DynamicCache

    if agg not in AGGREGATIONS:
        raise ValueError(f"agg must be one of {AGGREGATIONS}, got {agg!r}")
    if mode not in ("teacher", "greedy"):
        raise ValueError(f"mode must be 'teacher' or 'greedy', got {mode!r}")
    if decode_chunk < 1:
        raise ValueError(f"decode_chunk must be >= 1, got {decode_chunk}")
    cfg = model.config
    if getattr(cfg, "_attn_implementation", "eager") != "eager":
        raise ValueError("record_trace needs attn_implementation='eager' (attention weights)")
    n_layers, n_kv = cfg.num_hidden_layers, cfg.num_key_value_heads
    head_dim = getattr(cfg, "head_dim", cfg.hidden_size // cfg.num_attention_heads)
    layers = np.arange(n_layers) if layers is None else np.asarray(sorted(set(layers)), dtype=np.int64)
    if len(layers) == 0 or layers.min() < 0 or layers.max() >= n_layers:
        raise ValueError(f"layers must lie in [0, {n_layers}), got {layers.tolist()}")
    ids = np.asarray(sample.ids, dtype=np.int64).copy()
    T, P = len(ids), sample.n_prompt
    attn = np.zeros((len(layers), n_kv, T, T), dtype=np.float32)
    knorm = np.zeros((len(layers), n_kv, T), dtype=np.float32)
    slot = {int(l): i for i, l in enumerate(layers)}
    cursor = [0]  # first query position of the running forward pass

    def attn_hook(i):
        def hook(_module, _args, out):
            w = out[1]
            q0 = cursor[0]
            q = w.shape[2]
            attn[i, :, q0:q0 + q, :w.shape[3]] = _aggregate(w.float(), n_kv, agg).numpy()
        return hook

    def key_hook(i):
        def hook(_module, _args, out):
            q0 = cursor[0]
            k = out[0].float().reshape(out.shape[1], n_kv, head_dim)
            knorm[i, :, q0:q0 + k.shape[0]] = k.norm(dim=-1).T.numpy()
        return hook

    handles = []
    for l, i in slot.items():
        mod = model.model.layers[l].self_attn
        handles.append(mod.register_forward_hook(attn_hook(i)))
        handles.append(mod.k_proj.register_forward_hook(key_hook(i)))
    step = 1 if mode == "greedy" else decode_chunk
    bar = None
    if progress:  # rich (typed, a dependency already) rather than tqdm (no type information)
        from rich.progress import Progress

        bar = Progress(transient=True)
        task = bar.add_task(f"record {sample.source}", total=T)
        bar.start()
    import time

    times = {"prefill_s": 0.0, "decode_s": 0.0}
    try:
        cache = DynamicCache()
        pos = 0
        while pos < T:
            t0 = time.perf_counter()
            end = P if pos == 0 else min(pos + step, T)
            cursor[0] = pos
            x = torch.as_tensor(ids[pos:end]).unsqueeze(0)
            # Only the last position's logits are ever read (greedy); skip the rest of the LM head.
            out = model(input_ids=x, past_key_values=cache, use_cache=True, logits_to_keep=1)
            cache = out.past_key_values
            if mode == "greedy" and end < T:
                ids[end] = int(out.logits[0, -1].argmax())
            times["prefill_s" if pos == 0 else "decode_s"] += time.perf_counter() - t0
            if bar is not None:
                bar.update(task, advance=end - pos)
            pos = end
    finally:
        for h in handles:
            h.remove()
        if bar is not None:
            bar.stop()
    return Trace(ids=ids, n_prompt=P, layers=layers, attn=attn, key_norm=knorm, agg=agg, mode=mode,
                 source=sample.source, meta={**times, "decode_chunk": step})

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


class _Recorder:
    """Forward hooks that copy each recorded layer's attention ``attn`` [L, H, T, T] (KV heads
    aggregated by ``agg``) and key norms ``key_norm`` [L, H, T] into float32 buffers, at the query
    positions of the pass running now (``cursor``). ``attach`` registers the hooks, ``detach``
    removes them."""

    def __init__(self, model, layers: np.ndarray, T: int, agg: str) -> None:
        cfg = model.config
        self.model, self.agg, self.cursor = model, agg, 0
        self.n_kv = cfg.num_key_value_heads
        self.head_dim = getattr(cfg, "head_dim", cfg.hidden_size // cfg.num_attention_heads)
        self.layers = layers
        self.attn = np.zeros((len(layers), self.n_kv, T, T), dtype=np.float32)
        self.key_norm = np.zeros((len(layers), self.n_kv, T), dtype=np.float32)
        self.handles: list = []

    def _attn_hook(self, i: int):
        def hook(_module, _args, out):
            w = out[1]  # [1, Hq, q, k]
            q0, q = self.cursor, w.shape[2]
            self.attn[i, :, q0:q0 + q, :w.shape[3]] = _aggregate(w.float(), self.n_kv,
                                                                  self.agg).numpy()
        return hook

    def _key_hook(self, i: int):
        def hook(_module, _args, out):
            k = out[0].float().reshape(out.shape[1], self.n_kv, self.head_dim)
            self.key_norm[i, :, self.cursor:self.cursor + k.shape[0]] = k.norm(dim=-1).T.numpy()
        return hook

    def attach(self) -> None:
        for i, layer in enumerate(self.layers.tolist()):
            mod = self.model.model.layers[layer].self_attn
            self.handles.append(mod.register_forward_hook(self._attn_hook(i)))
            self.handles.append(mod.k_proj.register_forward_hook(self._key_hook(i)))

    def detach(self) -> None:
        for h in self.handles:
            h.remove()
        self.handles.clear()


def _check_args(model, layers, agg: str, mode: str, decode_chunk: int) -> np.ndarray:
    """Validates :func:`record_trace`'s arguments; returns the sorted recorded layers [L]."""
    if agg not in AGGREGATIONS:
        raise ValueError(f"agg must be one of {AGGREGATIONS}, got {agg!r}")
    if mode not in ("teacher", "greedy"):
        raise ValueError(f"mode must be 'teacher' or 'greedy', got {mode!r}")
    if decode_chunk < 1:
        raise ValueError(f"decode_chunk must be >= 1, got {decode_chunk}")
    cfg = model.config
    if getattr(cfg, "_attn_implementation", "eager") != "eager":
        raise ValueError("record_trace needs attn_implementation='eager' (attention weights)")
    n_layers = cfg.num_hidden_layers
    layers = np.arange(n_layers) if layers is None else np.asarray(sorted(set(layers)), dtype=np.int64)
    if len(layers) == 0 or layers.min() < 0 or layers.max() >= n_layers:
        raise ValueError(f"layers must lie in [0, {n_layers}), got {layers.tolist()}")
    return layers


def _run(model, ids: np.ndarray, n_prompt: int, rec: _Recorder, *, step: int, greedy: bool,
         progress=None) -> dict[str, float]:
    """Prefills ``ids[:n_prompt]`` in one pass, then feeds the rest ``step`` tokens per pass
    through the growing full cache (``greedy``: overwrites ``ids`` with the model's own argmax
    tokens). ``progress(n)`` is told each pass's token count. Returns the wall times."""
    import time

    from transformers import DynamicCache

    times = {"prefill_s": 0.0, "decode_s": 0.0}
    cache, pos, T = DynamicCache(), 0, len(ids)
    while pos < T:
        t0 = time.perf_counter()
        end = n_prompt if pos == 0 else min(pos + step, T)
        rec.cursor = pos
        x = torch.as_tensor(ids[pos:end]).unsqueeze(0)
        # Only the last position's logits are ever read (greedy); skip the rest of the LM head.
        out = model(input_ids=x, past_key_values=cache, use_cache=True, logits_to_keep=1)
        cache = out.past_key_values
        if greedy and end < T:
            ids[end] = int(out.logits[0, -1].argmax())
        times["prefill_s" if pos == 0 else "decode_s"] += time.perf_counter() - t0
        if progress is not None:
            progress(end - pos)
        pos = end
    return times


@torch.no_grad()
def record_trace(model, sample: Sample, *, layers=None, agg: str = "mean", mode: str = "teacher",
                 decode_chunk: int = 1, progress: bool = False) -> Trace:
    """Runs prefill + decoding of ``sample`` on ``model`` (eager attention) and records the trace.

    ``layers``: indices of the layers whose attention is kept (``None``: all). Memory is
    ``4 * L * H * T^2`` bytes for the dense buffer. ``meta`` of the result holds the wall time
    of the prefill and of the decoding (``prefill_s``, ``decode_s``).
    """
    layers = _check_args(model, layers, agg, mode, decode_chunk)
    ids = np.asarray(sample.ids, dtype=np.int64).copy()
    step = 1 if mode == "greedy" else decode_chunk
    rec = _Recorder(model, layers, len(ids), agg)
    rec.attach()
    try:
        if not progress:
            times = _run(model, ids, sample.n_prompt, rec, step=step, greedy=mode == "greedy")
        else:  # rich (typed, a dependency already) rather than tqdm (no type information)
            from rich.progress import Progress

            with Progress(transient=True) as bar:
                task = bar.add_task(f"record {sample.source}", total=len(ids))
                times = _run(model, ids, sample.n_prompt, rec, step=step,
                             greedy=mode == "greedy",
                             progress=lambda n: bar.update(task, advance=n))
    finally:  # a failed pass must not leave hooks on the shared model
        rec.detach()
    return Trace(ids=ids, n_prompt=sample.n_prompt, layers=layers, attn=rec.attn,
                 key_norm=rec.key_norm, agg=agg, mode=mode, source=sample.source,
                 meta={**times, "decode_chunk": step})

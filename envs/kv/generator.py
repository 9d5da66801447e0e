"""Instances of the KVCache env: one row = one (layer, KV head) attention trace.

Instance keys (batch ``[B]``, padded to a common ``N``):

``attn``      float32 [B, N, N]  lower-triangular attention; row ``q`` is query step ``q`` over
                                 tokens ``0..q`` (rows sum to 1 for ``mean`` aggregation)
``key_norm``  float32 [B, N]     L2 norm of each token's key in that head

Per-layer instances (a layer's ``H`` KV heads sharing one budget) have ``attn`` [B, H, N, N] and
``key_norm`` [B, H, N].
``length``    int64 [B]          real tokens ``T <= N`` of each row (rows/cols past it are 0)
``n_prompt``  int64 [B]          the first ``n_prompt`` tokens are the prompt

``SyntheticAttention`` draws attention rows with a sink, heavy hitters, recency and noise (for
fast tests and smoke runs: no model needed). ``TraceSet`` cuts rows from recorded real traces.
"""
from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from tensordict import TensorDict

from heurist.envs.kv.record import Trace

__all__ = ["SyntheticAttention", "TraceSet", "instance_from_rows", "validate_instance"]


def instance_from_rows(rows: Sequence[tuple[np.ndarray, np.ndarray, int]], *,
                       pad_to: int | None = None) -> TensorDict:
    """Builds an instance from ``(attn [T, T], key_norm [T], n_prompt)`` rows, zero-padded (or
    per-layer rows ``(attn [H, T, T], key_norm [H, T], n_prompt)``)."""
    if not rows:
        raise ValueError("no rows")
    N = max(k.shape[-1] for _, k, _ in rows) if pad_to is None else int(pad_to)
    B = len(rows)
    lead = rows[0][1].shape[:-1]  # () per head, (H,) per layer
    attn = np.zeros((B, *lead, N, N), dtype=np.float32)
    knorm = np.zeros((B, *lead, N), dtype=np.float32)
    length = np.zeros(B, dtype=np.int64)
    n_prompt = np.zeros(B, dtype=np.int64)
    for i, (a, k, p) in enumerate(rows):
        T = k.shape[-1]
        if T > N or a.shape != (*lead, T, T) or k.shape != (*lead, T):
            raise ValueError(f"row {i}: attn {a.shape} / key_norm {k.shape} do not fit N={N}")
        attn[i, ..., :T, :T] = a
        knorm[i, ..., :T] = k
        length[i], n_prompt[i] = T, min(int(p), T)
    return TensorDict({"attn": torch.from_numpy(attn), "key_norm": torch.from_numpy(knorm),
                       "length": torch.from_numpy(length), "n_prompt": torch.from_numpy(n_prompt)},
                      batch_size=[B])


def validate_instance(td, *, max_len: int | None = None, n_heads: int | None = None) -> None:
    """Checks keys, shapes and causality of an instance; raises ``ValueError``. ``n_heads``:
    ``None`` or 1 for per-head rows ``[B, N, N]``, ``H`` for per-layer rows ``[B, H, N, N]``."""
    for k in ("attn", "key_norm", "length", "n_prompt"):
        if k not in td.keys():  # noqa: SIM118 (TensorDict membership is over keys())
            raise ValueError(f"KVCache instance lacks key {k!r}")
    lead = () if not n_heads or n_heads == 1 else (int(n_heads),)
    B, N = td["key_norm"].shape[0], td["key_norm"].shape[-1]
    if td["key_norm"].shape != (B, *lead, N) or td["attn"].shape != (B, *lead, N, N):
        raise ValueError(f"attn {tuple(td['attn'].shape)} / key_norm {tuple(td['key_norm'].shape)}"
                         f" do not match [B, {'H, ' if lead else ''}N, N] / [B, {'H, ' if lead else ''}N]")
    if max_len is not None and N > max_len:
        raise ValueError(f"instance has N={N} tokens > max_len={max_len}")
    L = td["length"]
    if (L < 2).any() or (L > N).any():
        raise ValueError(f"lengths must be in [2, {N}], got {L.tolist()}")
    if (td["n_prompt"] < 1).any() or (td["n_prompt"] > L).any():
        raise ValueError("n_prompt must be in [1, length]")
    if torch.triu(td["attn"], 1).abs().max() > 0:
        raise ValueError("attn must be lower-triangular (causal)")


class SyntheticAttention:
    """Synthetic attention traces ``(batch_size, rng) -> instance``.

    Query ``q``'s logits over ``j <= q``: ``sink`` on token 0, ``heavy`` on ``n_heavy`` salient
    tokens drawn per row, ``recency * exp(-(q - j) / tau)`` and standard normal noise times
    ``noise``; softmax. Key norms are lognormal, the sink's is low (as in real models).
    Lengths are uniform in ``[min_length, length]``.
    """

    def __init__(self, *, length: int = 64, min_length: int | None = None,
                 prompt_fraction: float = 0.5, sink: float = 4.0, heavy: float = 2.5,
                 n_heavy: int = 4, recency: float = 3.0, tau: float = 4.0,
                 noise: float = 1.0, n_heads: int | None = None) -> None:
        self.min_length = length if min_length is None else int(min_length)
        if not 2 <= self.min_length <= length:
            raise ValueError(f"need 2 <= min_length <= length, got {self.min_length}, {length}")
        if not 0 < prompt_fraction <= 1:
            raise ValueError(f"prompt_fraction must be in (0, 1], got {prompt_fraction}")
        self.length, self.prompt_fraction = int(length), float(prompt_fraction)
        self.sink, self.heavy, self.n_heavy = float(sink), float(heavy), int(n_heavy)
        self.recency, self.tau, self.noise = float(recency), float(tau), float(noise)
        if n_heads is not None and n_heads < 1:
            raise ValueError(f"n_heads must be >= 1, got {n_heads}")
        self.n_heads = n_heads

    def row(self, T: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, int]:
        q = np.arange(T)[:, None]
        j = np.arange(T)[None, :]
        logits = self.noise * rng.standard_normal((T, T))
        logits += self.recency * np.exp(-(q - j) / self.tau)
        logits[:, 0] += self.sink
        hh = rng.choice(T, size=min(self.n_heavy, T), replace=False)
        logits[:, hh] += self.heavy
        logits = np.where(j <= q, logits, -np.inf)
        w = np.exp(logits - logits.max(1, keepdims=True))
        w /= w.sum(1, keepdims=True)
        knorm = rng.lognormal(np.log(15.0), 0.3, T)
        knorm[0] = 4.0
        return w.astype(np.float32), knorm.astype(np.float32), max(1, int(T * self.prompt_fraction))

    def __call__(self, batch_size: int, rng: np.random.Generator) -> TensorDict:
        Ts = rng.integers(self.min_length, self.length + 1, size=batch_size)
        if self.n_heads is None:
            return instance_from_rows([self.row(int(T), rng) for T in Ts], pad_to=self.length)
        rows = []
        for T in Ts:
            heads = [self.row(int(T), rng) for _ in range(self.n_heads)]
            rows.append((np.stack([a for a, _, _ in heads]), np.stack([k for _, k, _ in heads]),
                         heads[0][2]))
        return instance_from_rows(rows, pad_to=self.length)


class TraceSet:
    """Rows cut from recorded traces ``(batch_size, rng) -> instance``.

    Each row draws a (trace, layer, KV head) uniformly (``per_layer``: a (trace, layer) with all
    its KV heads) and keeps the first ``length`` tokens (a
    prefix of a causal trace is exact: no row needs renormalizing). ``traces`` are
    :class:`Trace` objects or trace files / directories of ``*.safetensors`` files.
    """

    def __init__(self, traces: Sequence[Trace | str | os.PathLike] | str | os.PathLike, *,
                 length: int | None = None, layers: Sequence[int] | None = None,
                 heads: Sequence[int] | None = None, per_layer: bool = False) -> None:
        from heurist.envs.kv.trace_io import load_trace

        if isinstance(traces, (str, os.PathLike)):
            traces = [traces]
        loaded: list[Trace] = []
        for t in traces:
            if isinstance(t, Trace):
                loaded.append(t)
                continue
            p = Path(t)
            files = sorted(p.glob("*.safetensors")) if p.is_dir() else [p]
            if not files:
                raise ValueError(f"{p}: no *.safetensors trace files")
            loaded += [load_trace(f) for f in files]
        if not loaded:
            raise ValueError("TraceSet needs at least one trace")
        self.traces = loaded
        self.length = min(t.length for t in loaded) if length is None else int(length)
        if self.length < 2 or any(t.length < self.length for t in loaded):
            raise ValueError(f"length={self.length} must be >= 2 and <= every trace's length")
        self.rows = [(i, li, h) for i, t in enumerate(loaded) for li, l in enumerate(t.layers)
                     if layers is None or int(l) in set(layers)
                     for h in range(t.n_heads) if heads is None or h in set(heads)]
        if not self.rows:
            raise ValueError(f"no (trace, layer, head) matches layers={layers}, heads={heads}")
        self.per_layer = bool(per_layer)
        if self.per_layer:  # one row per (trace, layer): all its KV heads
            if heads is not None:
                raise ValueError("per_layer rows hold every head: do not pass heads")
            self.rows = sorted({(i, li, -1) for i, li, _ in self.rows})

    def __call__(self, batch_size: int, rng: np.random.Generator) -> TensorDict:
        pick = rng.integers(0, len(self.rows), size=batch_size)
        T = self.length
        rows = []
        for k in pick:
            i, li, h = self.rows[int(k)]
            t = self.traces[i]
            if h < 0:
                rows.append((t.attn[li, :, :T, :T], t.key_norm[li, :, :T], min(t.n_prompt, T)))
            else:
                rows.append((t.attn[li, h, :T, :T], t.key_norm[li, h, :T], min(t.n_prompt, T)))
        return instance_from_rows(rows, pad_to=T)

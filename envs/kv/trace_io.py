"""Trace storage: one safetensors file per recorded sequence.

Two encodings of the attention (the key norms, ids and metadata are stored the same way in both):

* ``dense``: the lower triangle of every ``[T, T]`` matrix, packed row-major, as float16:
  ``T (T + 1) / 2 * 2`` bytes per (layer, KV head), i.e. ``T + 1`` bytes per token on average. Exact
  to fp16 rounding (relative 5e-4), so recall is reproduced to ~1e-3.
* ``topk``: per query row the ``k`` largest weights (int16 column, float16 value) plus the
  residual mass ``1 - sum(top-k)`` as float16: ``4 k + 2`` bytes per token per (layer, KV head),
  independent of ``T``. Decoding spreads the residual uniformly over the row's other earlier
  tokens, so rows still sum to 1, but the tail's shape is lost: a policy's recall is then exact
  only up to the residual mass it could have kept (the file records it per row).

A file that is not a readable trace (truncated, wrong keys or shapes, a top-k column outside its
row's past, NaN/inf/negative values) raises a one-line ``ValueError`` naming it.
"""
from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np

from heurist.envs.kv.record import Trace

__all__ = ["FORMATS", "load_trace", "pack_tril", "save_trace", "trace_nbytes", "unpack_tril"]

FORMATS = ("dense", "topk")
_VERSION = "1"


def pack_tril(a: np.ndarray) -> np.ndarray:
    """[..., T, T] -> [..., T (T + 1) / 2]: the lower triangle (diagonal included), row-major."""
    T = a.shape[-1]
    r, c = np.tril_indices(T)
    return a[..., r, c]


def unpack_tril(p: np.ndarray, T: int) -> np.ndarray:
    """Inverse of :func:`pack_tril`: [..., T (T + 1) / 2] -> [..., T, T] (zeros above the diagonal)."""
    out = np.zeros(p.shape[:-1] + (T, T), dtype=np.float32)
    r, c = np.tril_indices(T)
    out[..., r, c] = p
    return out


def _topk(attn: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """attn [L, H, T, T] -> (cols int16 [L, H, T, k], vals fp16 [L, H, T, k], residual fp16 [L, H, T]).
    Rows with fewer than k earlier tokens pad with column -1, value 0."""
    T = attn.shape[-1]
    kk = min(k, T)
    cols = np.argsort(-attn, axis=-1, kind="stable")[..., :kk]
    vals = np.take_along_axis(attn, cols, -1)
    valid = cols <= np.arange(T)[:, None]  # a row q only has q + 1 earlier tokens
    cols = np.where(valid, cols, -1)
    vals = np.where(valid, vals, 0.0)
    if kk < k:
        pad = [(0, 0)] * 3 + [(0, k - kk)]
        cols, vals = np.pad(cols, pad, constant_values=-1), np.pad(vals, pad)
    resid = np.clip(attn.sum(-1) - vals.sum(-1), 0.0, None)
    return cols.astype(np.int16), vals.astype(np.float16), resid.astype(np.float16)


def _from_topk(cols: np.ndarray, vals: np.ndarray, resid: np.ndarray) -> np.ndarray:
    L, H, T, _k = cols.shape
    out = np.zeros((L, H, T, T), dtype=np.float32)
    n_rest = np.arange(1, T + 1) - (cols >= 0).sum(-1)  # earlier tokens not in the top-k
    tril = np.tril(np.ones((T, T), dtype=bool))
    fill = np.where(n_rest > 0, resid.astype(np.float32) / np.maximum(n_rest, 1), 0.0)
    out += np.where(tril, fill[..., None], 0.0).astype(np.float32)
    # Padding entries (-1) rewrite the row's first top-k entry with its own value: a no-op write.
    idx = np.where(cols >= 0, cols, cols[..., :1]).astype(np.int64)
    val = np.where(cols >= 0, vals, vals[..., :1]).astype(np.float32)
    np.put_along_axis(out, idx, val, -1)
    return out


def _check_topk(cols: np.ndarray, vals: np.ndarray, resid: np.ndarray, *, L: int, T: int) -> None:
    """Shapes ``[L, H, T, k]`` / ``[L, H, T]`` and causal columns: row ``q`` may name tokens
    ``0..q`` or the padding ``-1`` (a corrupt column would index out of range or into the future)."""
    if cols.ndim != 4 or cols.shape[0] != L or cols.shape[2] != T:
        raise ValueError(f"topk_cols has shape {cols.shape}, expected [L={L}, H, T={T}, k]")
    if vals.shape != cols.shape or resid.shape != cols.shape[:3]:
        raise ValueError(f"topk_vals {vals.shape} / topk_resid {resid.shape} do not match "
                         f"topk_cols {cols.shape}")
    ok = (cols == -1) | ((cols >= 0) & (cols <= np.arange(T)[:, None]))
    if not ok.all():
        bad = tuple(int(i) for i in np.argwhere(~ok)[0])
        raise ValueError(f"topk_cols{list(bad)} = {int(cols[bad])} is not a causal column")


def save_trace(path: str | os.PathLike, trace: Trace, *, fmt: str = "dense", k: int = 32) -> int:
    """Writes ``trace`` to ``path`` (safetensors) in ``fmt``; returns the file size in bytes."""
    from safetensors.numpy import save_file

    if fmt not in FORMATS:
        raise ValueError(f"fmt must be one of {FORMATS}, got {fmt!r}")
    if fmt == "topk" and not 1 <= k <= 32767:
        raise ValueError(f"k must be in [1, 32767], got {k}")
    T = trace.length
    if fmt == "topk" and T > 32767:
        raise ValueError("topk stores int16 columns: T must be <= 32767")
    tensors = {"ids": trace.ids.astype(np.int64), "layers": trace.layers.astype(np.int64),
               "key_norm": trace.key_norm.astype(np.float16)}
    if fmt == "dense":
        tensors["attn_tril"] = pack_tril(trace.attn).astype(np.float16)
    else:
        tensors["topk_cols"], tensors["topk_vals"], tensors["topk_resid"] = _topk(trace.attn, k)
    meta = {"format": fmt, "version": _VERSION, "n_prompt": str(trace.n_prompt), "agg": trace.agg,
            "mode": trace.mode, "source": trace.source, "extra": json.dumps(trace.meta)}
    path = Path(path)
    save_file({k_: np.ascontiguousarray(v) for k_, v in tensors.items()}, str(path), metadata=meta)
    return path.stat().st_size


def load_trace(path: str | os.PathLike) -> Trace:
    """Reads a trace written by :func:`save_trace` (either format) into a dense :class:`Trace`."""
    from safetensors import safe_open

    path = Path(path)
    try:
        with safe_open(str(path), framework="numpy") as f:
            meta = f.metadata() or {}
            arrays = {k: f.get_tensor(k) for k in f.keys()}  # noqa: SIM118 (safe_open: no __iter__)
    except Exception as e:  # safetensors raises its own types for truncation / bad headers
        detail = " ".join(str(e).split())
        raise ValueError(f"{path}: not a readable trace file ({detail})") from e
    try:
        fmt = meta["format"]
        if meta.get("version") != _VERSION:
            raise ValueError(f"unsupported version {meta.get('version')!r}")
        ids, layers, knorm = arrays["ids"], arrays["layers"], arrays["key_norm"].astype(np.float32)
        T = len(ids)
        if fmt == "dense":
            tril = arrays["attn_tril"]
            if tril.shape[-1] != T * (T + 1) // 2:
                raise ValueError(f"attn_tril has {tril.shape[-1]} entries, expected {T * (T + 1) // 2}")
            attn = unpack_tril(tril.astype(np.float32), T)
        elif fmt == "topk":
            cols, vals, resid = arrays["topk_cols"], arrays["topk_vals"], arrays["topk_resid"]
            _check_topk(cols, vals, resid, L=len(layers), T=T)
            attn = _from_topk(cols, vals, resid)
        else:
            raise ValueError(f"unknown format {fmt!r}")
        # Flipped bits decode to NaN, inf or negative weights: refuse them rather than let them
        # reach the env's rewards.
        if not (np.isfinite(attn).all() and (attn >= 0).all() and np.isfinite(knorm).all()):
            raise ValueError("attention or key norms hold NaN, inf or negative values")
        return Trace(ids=ids, n_prompt=int(meta["n_prompt"]), layers=layers, attn=attn,
                     key_norm=knorm, agg=meta["agg"], mode=meta["mode"], source=meta["source"],
                     meta=json.loads(meta.get("extra") or "{}"))
    except (KeyError, ValueError, TypeError) as e:  # JSONDecodeError is a ValueError
        detail = " ".join(str(e).split())  # one line, whatever the file's text holds
        raise ValueError(f"{path}: invalid trace file ({detail})") from e


def trace_nbytes(T: int, n_layers: int, n_heads: int, *, fmt: str = "dense", k: int = 32) -> int:
    """Bytes of the attention payload alone for a trace of ``T`` tokens (no key norms or header)."""
    if fmt == "dense":
        return n_layers * n_heads * T * (T + 1) // 2 * 2
    return n_layers * n_heads * T * (4 * k + 2)

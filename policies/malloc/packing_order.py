"""A learned buffer order for the exact ``minimalloc`` search (issue 10, section 4, packing).

The search's node count moves by orders of magnitude with its static buffer order, and no static
order is best on every instance. ``PackingOrderNet`` scores each buffer from features known
before search (its size, lifespan, section total, overlap counts, and its rank under each static
order of ``STATIC_ORDERS``, plus the instance's mean of them as context); the search takes the
scores as its ``P`` criterion, lower first: ``minimalloc_pack(inst, order=LEARNED_ORDER,
priority=net.priority(inst))``. It only orders, so the search stays exact. Trained by
``heurist.agents.muzero.packing_order`` (imitating, per instance, the static order that needed
the fewest nodes). numpy only: the forward pass is two small matrix products.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from heurist.envs.malloc.instance import MallocInstance
from heurist.policies.malloc.geometry import compressed_times

__all__ = [
    "LEARNED_ORDER",
    "N_CONTEXT",
    "N_FEATURES",
    "STATIC_ORDERS",
    "OrderPickerNet",
    "PackingOrderNet",
    "buffer_features",
    "instance_context",
    "net_inputs",
]

STATIC_ORDERS = ("TLA", "TAL", "LAT", "ATL", "WTL", "W", "A")
"""The static orders (``minimalloc_search._ranks``) whose ranks are features, and among which
the trainer imitates the best one per instance: MiniMalloc's three, ``FILLER_ORDERS``' two more,
size and area alone."""

LEARNED_ORDER = "TP"
"""How the search uses the scores: section total first (recomputed per component by
``rerank``; on perfect tilings every buffer ties at the root), the learned priority among ties."""

_BASE = 11
N_FEATURES = _BASE + len(STATIC_ORDERS)
"""Per-buffer features of ``buffer_features``; the net's input is these, their instance mean,
and two instance scalars (``2 * N_FEATURES + 2``)."""


def buffer_features(inst: MallocInstance, capacity: int | None = None) -> np.ndarray:
    """``float32 [N, N_FEATURES]``, each in about ``[0, 1]``: size / C, lifespan / horizon,
    start and end / horizon, span in sections / sections, first and last section / sections,
    section total over the span / C, buffers overlapping it / N, log(1 + their bytes / C) / 4,
    single-section (a filler), then the rank / (N - 1) under each of ``STATIC_ORDERS``."""
    from heurist.policies.malloc.minimalloc_search import _ranks

    n = inst.n
    cap = float(inst.capacity if capacity is None else capacity)
    size = inst.size.astype(np.int64)
    start = inst.start.astype(np.int64)
    end = inst.end.astype(np.int64)
    t0, t1 = (t.astype(np.int64) for t in compressed_times(inst))
    n_sec = max(int(t1.max()), 1)
    h0, h1 = int(start.min()), int(end.max())
    hor = float(max(h1 - h0, 1))
    diff = np.zeros(n_sec + 1, dtype=np.int64)
    np.add.at(diff, t0, size)
    np.subtract.at(diff, t1, size)
    total = np.cumsum(diff)[:n_sec]
    press = np.array([total[a:b].max() for a, b in zip(t0, t1)], dtype=np.float64)
    # Buffers j overlapping b: all but those ending by b's start or starting at/after its end.
    se, ss = np.sort(end), np.sort(start)
    ie, is_ = np.argsort(end, kind="stable"), np.argsort(start, kind="stable")
    ce = np.concatenate([[0], np.cumsum(size[ie])])
    cs = np.concatenate([[0], np.cumsum(size[is_])])
    before = np.searchsorted(se, start, side="right")
    after = n - np.searchsorted(ss, end, side="left")
    count = n - before - after - 1
    nbytes = int(size.sum()) - ce[before] - (cs[n] - cs[n - after]) - size
    f = np.empty((n, N_FEATURES), dtype=np.float64)
    f[:, 0] = size / cap
    f[:, 1] = (end - start) / hor
    f[:, 2] = (start - h0) / hor
    f[:, 3] = (end - h0) / hor
    f[:, 4] = (t1 - t0) / n_sec
    f[:, 5] = t0 / n_sec
    f[:, 6] = t1 / n_sec
    f[:, 7] = press / cap
    f[:, 8] = count / max(n - 1, 1)
    f[:, 9] = np.log1p(nbytes / cap) / 4.0
    f[:, 10] = (t1 - t0) == 1
    length = end - start
    for i, o in enumerate(STATIC_ORDERS):
        f[:, _BASE + i] = _ranks(size, t0, t1, length, o)[0] / max(n - 1, 1)
    return f.astype(np.float32)


def net_inputs(feats: np.ndarray) -> np.ndarray:
    """``float32 [N, 2 F + 2]``: each buffer's features, the instance mean of them, log N / 8
    and the share of single-section buffers (the same for every row: context)."""
    n = feats.shape[0]
    ctx = np.concatenate([feats.mean(axis=0), [np.log(max(n, 1)) / 8.0, feats[:, 10].mean()]])
    return np.concatenate([feats, np.broadcast_to(ctx, (n, ctx.size))], axis=1).astype(
        np.float32)


class PackingOrderNet:
    """Scores buffers (lower = placed earlier): ``relu(x W1 + b1) w2``, ``x`` from ``net_inputs``.
    Weights: ``w1 [2 F + 2, H]``, ``b1 [H]``, ``w2 [H]`` (float32)."""

    def __init__(self, *, w1: np.ndarray, b1: np.ndarray, w2: np.ndarray) -> None:
        w1, b1, w2 = (np.asarray(a, dtype=np.float32) for a in (w1, b1, w2))
        d = 2 * N_FEATURES + 2
        if w1.ndim != 2 or w1.shape[0] != d or b1.shape != (w1.shape[1],) or \
                w2.shape != (w1.shape[1],):
            raise ValueError(f"PackingOrderNet: want w1 [{d}, H], b1 [H], w2 [H], got "
                             f"{w1.shape}, {b1.shape}, {w2.shape}")
        if not all(np.isfinite(a).all() for a in (w1, b1, w2)):
            raise ValueError("PackingOrderNet: weights must be finite")
        self.w1, self.b1, self.w2 = w1, b1, w2

    def scores(self, x: np.ndarray) -> np.ndarray:
        """``float32 [N]`` scores of ``net_inputs`` rows ``x [N, 2 F + 2]``."""
        return np.maximum(x @ self.w1 + self.b1, 0.0) @ self.w2

    def priority(self, inst: MallocInstance, capacity: int | None = None) -> np.ndarray:
        """``float64 [N]``: the ``priority=`` of ``minimalloc_pack`` for ``inst``."""
        if inst.n == 0:
            return np.zeros(0, dtype=np.float64)
        return self.scores(net_inputs(buffer_features(inst, capacity))).astype(np.float64)

    def save(self, path: str | Path) -> None:
        """Writes the weights as an ``.npz``."""
        np.savez(path, w1=self.w1, b1=self.b1, w2=self.w2)

    @classmethod
    def load(cls, path: str | Path) -> PackingOrderNet:
        """Reads ``save``'s ``.npz``."""
        with np.load(path) as z:
            return cls(w1=z["w1"], b1=z["b1"], w2=z["w2"])


N_CONTEXT = 2 * _BASE + 1
"""Instance features of ``instance_context``."""


def instance_context(feats: np.ndarray) -> np.ndarray:
    """``float32 [N_CONTEXT]`` of ``buffer_features`` rows ``[N, F]``: the mean and standard
    deviation of the non-rank features (the share of single-section buffers among them), and
    log N / 8."""
    base = feats[:, :_BASE].astype(np.float64)
    return np.concatenate([base.mean(axis=0), base.std(axis=0),
                           [np.log(max(feats.shape[0], 1)) / 8.0]]).astype(np.float32)


class OrderPickerNet:
    """Picks one static order of ``STATIC_ORDERS`` per instance (``relu(c W1 + b1) W2 + b2``
    logits, ``c`` from ``instance_context``) and hands its rank to the search as the priority:
    ``order()`` returns the ``(order, priority)`` pair for ``minimalloc_pack`` (``"TP"`` when
    the pick starts with ``T``, so that ``rerank`` still recomputes ``T``; else ``"P"``).
    Weights: ``w1 [N_CONTEXT, H]``, ``b1 [H]``, ``w2 [H, K]``, ``b2 [K]`` (float32)."""

    def __init__(self, *, w1: np.ndarray, b1: np.ndarray, w2: np.ndarray,
                 b2: np.ndarray) -> None:
        w1, b1, w2, b2 = (np.asarray(a, dtype=np.float32) for a in (w1, b1, w2, b2))
        k = len(STATIC_ORDERS)
        if (w1.ndim != 2 or w1.shape[0] != N_CONTEXT or b1.shape != (w1.shape[1],)
                or w2.shape != (w1.shape[1], k) or b2.shape != (k,)):
            raise ValueError(f"OrderPickerNet: want w1 [{N_CONTEXT}, H], b1 [H], w2 [H, {k}], "
                             f"b2 [{k}], got {w1.shape}, {b1.shape}, {w2.shape}, {b2.shape}")
        if not all(np.isfinite(a).all() for a in (w1, b1, w2, b2)):
            raise ValueError("OrderPickerNet: weights must be finite")
        self.w1, self.b1, self.w2, self.b2 = w1, b1, w2, b2

    def logits(self, ctx: np.ndarray) -> np.ndarray:
        """``float32 [K]`` (or ``[B, K]``) of ``instance_context`` ``ctx``."""
        return np.maximum(ctx @ self.w1 + self.b1, 0.0) @ self.w2 + self.b2

    def order(self, inst: MallocInstance,
              capacity: int | None = None) -> tuple[str, np.ndarray]:
        """``(order, priority float64 [N])`` for ``minimalloc_pack(inst, order=...,
        priority=...)``: the rank under the picked static order."""
        if inst.n == 0:
            return "P", np.zeros(0, dtype=np.float64)
        feats = buffer_features(inst, capacity)
        k = int(np.argmax(self.logits(instance_context(feats))))
        pick = STATIC_ORDERS[k]
        return ("TP" if pick[0] == "T" else "P"), feats[:, _BASE + k].astype(np.float64)

    def save(self, path: str | Path) -> None:
        """Writes the weights as an ``.npz``."""
        np.savez(path, w1=self.w1, b1=self.b1, w2=self.w2, b2=self.b2)

    @classmethod
    def load(cls, path: str | Path) -> OrderPickerNet:
        """Reads ``save``'s ``.npz``."""
        with np.load(path) as z:
            return cls(w1=z["w1"], b1=z["b1"], w2=z["w2"], b2=z["b2"])

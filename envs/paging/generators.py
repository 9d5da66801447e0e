"""Synthetic page-request sequences. Each generator returns an int64 trace ``[length]`` and draws
all randomness from the keyword-only ``rng`` (same generator state, same trace)."""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np

__all__ = ["loop", "marking_adversary", "multi_tenant", "prefix_cache_blocks", "scan", "zipf"]


def _positive(name: str, value: int) -> int:
    if int(value) != value or int(value) < 1:
        raise ValueError(f"{name} must be a positive integer, got {value!r}")
    return int(value)


def _length(length: int) -> int:
    if int(length) != length or int(length) < 0:
        raise ValueError(f"length must be a non-negative integer, got {length!r}")
    return int(length)


def zipf(length: int, *, n_pages: int, alpha: float, rng: np.random.Generator) -> np.ndarray:
    """Independent requests with ``P(page of popularity rank r) ~ 1 / r**alpha`` over ``n_pages``
    pages; the page id of each rank is a random permutation, so popularity is not sorted by id."""
    length, n_pages = _length(length), _positive("n_pages", n_pages)
    if not float(alpha) >= 0:
        raise ValueError(f"alpha must be >= 0, got {alpha}")
    weights = np.arange(1, n_pages + 1, dtype=np.float64) ** -float(alpha)
    cdf = np.cumsum(weights)
    ranks = np.searchsorted(cdf, rng.random(length) * cdf[-1], side="right")
    ranks = np.minimum(ranks, n_pages - 1)
    return rng.permutation(n_pages).astype(np.int64)[ranks]


def loop(length: int, *, n_pages: int, rng: np.random.Generator, noise: float = 0.0) -> np.ndarray:
    """Cyclic scan ``0, 1, ..., n_pages-1, 0, 1, ...`` from a random start; each request is replaced by
    a uniformly random page with probability ``noise``. With ``n_pages > k`` LRU and FIFO miss every
    request while OPT misses about one in ``n_pages - k + 1``."""
    length, n_pages = _length(length), _positive("n_pages", n_pages)
    if not 0.0 <= noise <= 1.0:
        raise ValueError(f"noise must lie in [0, 1], got {noise}")
    trace = (rng.integers(n_pages) + np.arange(length, dtype=np.int64)) % n_pages
    swap = rng.random(length) < noise
    trace[swap] = rng.integers(0, n_pages, int(swap.sum()))
    return trace.astype(np.int64)


def scan(length: int, *, n_hot: int, scan_length: int, scan_prob: float,
         rng: np.random.Generator) -> np.ndarray:
    """A hot working set of ``n_hot`` pages requested uniformly, interrupted (each request starts one
    with probability ``scan_prob``) by sequential scans of ``scan_length`` never-reused pages: the
    pattern that flushes LRU and that scan-resistant policies (ARC, S3-FIFO) survive."""
    length = _length(length)
    n_hot, scan_length = _positive("n_hot", n_hot), _positive("scan_length", scan_length)
    if not 0.0 <= scan_prob <= 1.0:
        raise ValueError(f"scan_prob must lie in [0, 1], got {scan_prob}")
    out = np.empty(length, dtype=np.int64)
    fresh, t = n_hot, 0
    while t < length:
        if rng.random() < scan_prob:
            run = min(scan_length, length - t)
            out[t:t + run] = np.arange(fresh, fresh + run)
            fresh += run
            t += run
        else:
            out[t] = rng.integers(n_hot)
            t += 1
    return out


def marking_adversary(length: int, *, cache_size: int, rng: np.random.Generator,
                      n_new: int = 1) -> np.ndarray:
    """Phase-structured sequence that is hard for marking algorithms. Pages come from a universe of
    ``cache_size + n_new``; each phase requests exactly ``cache_size`` distinct pages once each: the
    ``n_new`` pages left out of the previous phase first (they are the faults every algorithm pays),
    then the ``cache_size - n_new`` surviving old pages in random order. A marking algorithm can evict
    any unmarked old page on those faults, so it keeps faulting on old pages (deterministic Marker up
    to ``k`` faults per phase, Randomized Marker about ``n_new * H_k``) while OPT pays about ``n_new``
    per phase by evicting the pages skipped next phase."""
    length, k = _length(length), _positive("cache_size", cache_size)
    n_new = _positive("n_new", n_new)
    if n_new > k:
        raise ValueError(f"n_new must be <= cache_size, got {n_new} > {k}")
    universe = k + n_new
    current = rng.permutation(universe)[:k]
    parts, total = [rng.permutation(current)], k
    while total < length:
        absent = np.setdiff1d(np.arange(universe), current)
        keep = rng.permutation(current)[:k - n_new]
        phase = np.concatenate([rng.permutation(absent), keep])
        parts.append(phase)
        current = phase
        total += k
    return np.concatenate(parts)[:length].astype(np.int64)


def multi_tenant(length: int, *, tenants: Sequence[np.ndarray], rng: np.random.Generator,
                 weights: Sequence[float] | None = None) -> np.ndarray:
    """Interleaves the request streams of several tenants with disjoint id ranges: each request comes
    from tenant ``i`` with probability ``weights[i]`` (default uniform) and is that tenant's next
    request (a tenant's trace repeats when exhausted)."""
    length = _length(length)
    tenants = [np.asarray(t, dtype=np.int64) for t in tenants]
    if not tenants or any(t.ndim != 1 or t.size == 0 for t in tenants):
        raise ValueError("tenants must be a non-empty list of non-empty 1-D traces")
    w = np.ones(len(tenants)) if weights is None else np.asarray(weights, dtype=np.float64)
    if w.shape != (len(tenants),) or (w < 0).any() or w.sum() <= 0:
        raise ValueError(f"weights must be {len(tenants)} non-negative numbers with a positive sum")
    offsets = np.cumsum([0] + [int(t.max()) + 1 for t in tenants[:-1]])
    choice = rng.choice(len(tenants), size=length, p=w / w.sum())
    out = np.empty(length, dtype=np.int64)
    for i, trace in enumerate(tenants):
        where = np.flatnonzero(choice == i)
        out[where] = trace[np.arange(where.size) % trace.size] + offsets[i]
    return out


def prefix_cache_blocks(length: int, *, rng: np.random.Generator, n_system_prompts: int = 8,
                        system_blocks: int = 16, prompt_alpha: float = 1.0, n_active: int = 16,
                        mean_turns: float = 4.0, mean_user_blocks: float = 2.0,
                        mean_reply_blocks: float = 3.0) -> np.ndarray:
    """KV-block requests of an LLM server with prefix caching. ``n_active`` multi-turn conversations
    run concurrently; each picks one of ``n_system_prompts`` shared system prompts (Zipf popularity
    ``prompt_alpha``, ``system_blocks`` blocks each). Every turn re-reads its whole prefix block by
    block (system prompt, then the conversation's history), then appends the new user message and
    model reply blocks (geometric sizes with the given means) to the history. A block id names a
    prefix, so shared system prompt blocks are shared ids and history blocks are private. When a
    conversation ends (after a geometric number of turns, mean ``mean_turns``) a new one replaces it."""
    length = _length(length)
    n_system_prompts = _positive("n_system_prompts", n_system_prompts)
    system_blocks, n_active = _positive("system_blocks", system_blocks), _positive("n_active", n_active)
    for name, mean in (("mean_turns", mean_turns), ("mean_user_blocks", mean_user_blocks),
                       ("mean_reply_blocks", mean_reply_blocks)):
        if not mean >= 1:
            raise ValueError(f"{name} must be >= 1, got {mean}")
    popularity = np.arange(1, n_system_prompts + 1, dtype=np.float64) ** -float(prompt_alpha)
    popularity /= popularity.sum()
    next_id = n_system_prompts * system_blocks

    def new_conversation():
        prompt = int(rng.choice(n_system_prompts, p=popularity))
        system = list(range(prompt * system_blocks, (prompt + 1) * system_blocks))
        return {"prefix": system, "turns_left": int(rng.geometric(1.0 / mean_turns))}

    active = [new_conversation() for _ in range(n_active)]
    out: list[int] = []
    while len(out) < length:
        slot = int(rng.integers(n_active))
        conv = active[slot]
        new_blocks = int(rng.geometric(1.0 / mean_user_blocks))
        conv["prefix"] = conv["prefix"] + list(range(next_id, next_id + new_blocks))
        next_id += new_blocks
        out.extend(conv["prefix"])
        reply = int(rng.geometric(1.0 / mean_reply_blocks))
        out.extend(range(next_id, next_id + reply))
        conv["prefix"] = conv["prefix"] + list(range(next_id, next_id + reply))
        next_id += reply
        conv["turns_left"] -= 1
        if conv["turns_left"] <= 0:
            active[slot] = new_conversation()
    return np.asarray(out[:length], dtype=np.int64)

"""What a real cache knows at request ``t``: causal per-request features of a paging trace.

Every row ``t`` of :func:`request_features` is computed from ``trace[:t + 1]`` alone (the request
itself and the past): the page's recency (time and distinct pages since its previous request, its
LRU stack distance), its frequency, its inter-arrival statistics, and the trace's global history
(how many distinct pages so far, how often requests re-reference a page, recent reuse distances).
Nothing depends on the cache size. The learned predictors read these rows and nothing else, so
a prediction made at ``t`` cannot see the future (tests/test_paging_predictors.py alters a trace's
future and checks).
"""
from __future__ import annotations

import numpy as np
from numba import njit

from heurist.envs.paging.traces import dense_trace

__all__ = ["FEATURES", "N_FEATURES", "request_features", "stack_distances"]

#: Column names of :func:`request_features` (the artifact manifest records them).
FEATURES = (
    "first_request",        # 1 if the page was never requested before
    "log_gap",              # log2(1 + requests since the page's previous request)
    "log_stack_distance",   # log2(1 + distinct pages requested since then: LRU stack distance)
    "log_count",            # log2(1 + previous requests of the page)
    "page_ewma_log_gap",    # exponential average (1/2) of the page's log gaps
    "page_ewma_log_stack",  # ... and of its log stack distances
    "log_prev_gap",         # log2(1 + the gap before the latest one)
    "log_position",         # log2(1 + t)
    "log_distinct",         # log2(1 + distinct pages before t)
    "reuse_fraction",       # fraction of past requests that re-referenced a page
    "recent_reuse",         # exponential average (1/32) of "this request re-references a page"
    "recent_log_stack",     # exponential average (1/32) of the log stack distances of re-references
    "log_relative_count",   # log_count - log_position (the page's share of the history)
)
N_FEATURES = len(FEATURES)
_RECENT = 1.0 / 32.0


@njit(cache=True)
def _fenwick_add(tree, i, v):
    i += 1
    while i < tree.size:
        tree[i] += v
        i += i & -i


@njit(cache=True)
def _fenwick_sum(tree, i):
    """Sum of positions ``[0, i)``."""
    s = 0
    while i > 0:
        s += tree[i]
        i -= i & -i
    return s


@njit(cache=True)
def stack_distances(trace, n_ids):
    """LRU stack distance ``[T]`` of each request of dense ``trace``: the number of distinct pages
    requested since the page's previous request (-1 on a first request). A Fenwick tree over the
    positions of each page's latest request makes it O(T log T)."""
    T = trace.size
    tree = np.zeros(T + 1, dtype=np.int64)
    last = np.full(n_ids, -1, dtype=np.int64)
    out = np.full(T, -1, dtype=np.int64)
    for t in range(T):
        page = trace[t]
        prev = last[page]
        if prev >= 0:
            out[t] = _fenwick_sum(tree, t) - _fenwick_sum(tree, prev + 1)
            _fenwick_add(tree, prev, -1)
        _fenwick_add(tree, t, 1)
        last[page] = t
    return out


@njit(cache=True)
def _features(trace, n_ids, stack):
    T = trace.size
    out = np.zeros((T, 13), dtype=np.float32)
    last = np.full(n_ids, -1, dtype=np.int64)
    count = np.zeros(n_ids, dtype=np.int64)
    prev_gap = np.zeros(n_ids, dtype=np.float64)
    ewma_gap = np.zeros(n_ids, dtype=np.float64)
    ewma_stack = np.zeros(n_ids, dtype=np.float64)
    distinct, reuses = 0, 0
    recent_reuse, recent_stack = 0.0, 0.0
    for t in range(T):
        page = trace[t]
        first = last[page] < 0
        log_pos = np.log2(1.0 + t)
        if first:
            out[t, 0] = 1.0
        else:
            g = np.log2(1.0 + (t - last[page]))
            s = np.log2(1.0 + stack[t])
            out[t, 1] = g
            out[t, 2] = s
            out[t, 6] = prev_gap[page]
            # the page's averages include the gap just observed
            if count[page] == 1:
                ewma_gap[page], ewma_stack[page] = g, s
            else:
                ewma_gap[page] = 0.5 * ewma_gap[page] + 0.5 * g
                ewma_stack[page] = 0.5 * ewma_stack[page] + 0.5 * s
            out[t, 4] = ewma_gap[page]
            out[t, 5] = ewma_stack[page]
        log_count = np.log2(1.0 + count[page])
        out[t, 3] = log_count
        out[t, 7] = log_pos
        out[t, 8] = np.log2(1.0 + distinct)
        out[t, 9] = reuses / t if t > 0 else 0.0
        # global statistics include the current request (it is known at request time)
        recent_reuse = (1.0 - _RECENT) * recent_reuse + _RECENT * (0.0 if first else 1.0)
        if not first:
            recent_stack = (1.0 - _RECENT) * recent_stack + _RECENT * out[t, 2]
            reuses += 1
            prev_gap[page] = out[t, 1]
        else:
            distinct += 1
        out[t, 10] = recent_reuse
        out[t, 11] = recent_stack
        out[t, 12] = log_count - log_pos
        count[page] += 1
        last[page] = t
    return out


def request_features(trace) -> np.ndarray:
    """Causal features ``[T, N_FEATURES]`` (float32, columns :data:`FEATURES`) of integer ``trace [T]``
    (any ids): row ``t`` depends on ``trace[:t + 1]`` only."""
    dense, _, n_ids = dense_trace(np.asarray(trace))
    if dense.size == 0:
        return np.zeros((0, N_FEATURES), dtype=np.float32)
    return _features(dense, n_ids, stack_distances(dense, n_ids))

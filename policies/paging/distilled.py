"""Distilled runtime scorers: the learned paging policy (LearnedFTP over the learned predictor)
compressed into a linear model and a depth-6 regression tree over per-page features, evaluated in
numba with no torch and no sklearn at run time.

The interface is SGLang's ``EvictionStrategy.get_priority(node)``: a page's **priority** is a
float, higher = keep, and eviction takes the **argmin**. A page's features (:data:`FEATURES`,
``[F]`` float32) are the 13 causal request features of its latest request
(:mod:`~heurist.policies.paging.learned_features`, stored when the page was last requested) plus
``log_elapsed = log2(1 + requests since then)``, the one feature that changes between decisions.
Both models regress the teacher's score (LearnedFTP's expected remaining log2 gap, negated), so
the argmin is the teacher's victim where the regression is exact. The fitting lives in
:mod:`heurist.agents.paging_predictors.distill`.

Three evaluation paths give the same numbers:

* :meth:`DistilledScorer.priority` / :meth:`~DistilledScorer.priorities` (``[k, F] -> [k]``),
  batched numba kernels;
* the simulator hooks below (``heurist simulate --policy distilled`` / ``distilled-tree``), which
  do the per-page work once per request: the linear model's dot product over the 13 stored
  features, and for the tree its step function of the elapsed count (the tree restricted to the
  stored features, its ``log_elapsed`` splits turned into integer thresholds at load time); a
  decision then reads a few numbers per cached page, with no ``log2`` and no tree walk;
* :class:`StreamScorer`, the online form for a runtime (vLLM's prefix cache): features maintained
  one request at a time, priorities of any cached subset.

The artifact (``policies/artifacts/paging_distilled``) is the heurist policy format: a manifest
plus ``weights.safetensors`` (numpy arrays), checked (format, sha256, network class, feature
layout, tree structure) before use and never unpickled.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
from numba import njit

from heurist.envs.paging.sim_loop import simulator_for
from heurist.policies.paging.base import PagingPolicy, register_policy
from heurist.policies.paging.learned_features import FEATURES as REQUEST_FEATURES
from heurist.policies.paging.learned_features import _fenwick_add, _fenwick_sum, request_features

__all__ = ["ARTIFACT_NAME", "FEATURES", "KINDS", "NETWORK_CLASS", "N_FEATURES", "DistilledLinear",
           "DistilledScorer", "DistilledTree", "StreamScorer", "export_distilled",
           "load_distilled", "log_elapsed", "scoring_state", "shipped_distilled_path"]

#: Per-page features: the request features of the page's latest request, then ``log_elapsed``.
FEATURES = (*REQUEST_FEATURES, "log_elapsed")
N_FEATURES = len(FEATURES)
_ELAPSED = N_FEATURES - 1
#: The folder of the shipped scorers under ``policies/artifacts``.
ARTIFACT_NAME = "paging_distilled"
#: The manifest's network class (checked on load; no class is imported by this name).
NETWORK_CLASS = "DistilledPagingScorer"
KINDS = ("linear", "tree")
_TENSORS = {"linear_weight": np.float64, "linear_bias": np.float64, "tree_feature": np.int64,
            "tree_threshold": np.float64, "tree_left": np.int64, "tree_right": np.int64,
            "tree_value": np.float64}
# log_elapsed of elapsed counts below this comes from a table (256 KB of float32: a decision
# scans k pages, and a table read is cheaper than log2 and gives the same float32 value; on the
# held-out stream 45% of the cached pages at a decision are more than 4,096 requests old)
_TABLE = 1 << 16


def log_elapsed(elapsed) -> np.ndarray:
    """``log2(1 + elapsed)`` as float32 (the feature's exact value everywhere)."""
    return np.log2(1.0 + np.asarray(elapsed, dtype=np.float64)).astype(np.float32)


_LOG_TABLE = log_elapsed(np.arange(_TABLE))


@njit(cache=True, inline="always")
def _log_elapsed(table, e):
    if e < table.size:
        return np.float64(table[e])
    return np.float64(np.float32(np.log2(1.0 + e)))


@njit(cache=True)
def _linear_batch(x, w, b, out):
    """``out [k] = b + sum_j x[:, j] w[j]`` (float32 features, float64 sums, j in order)."""
    for i in range(x.shape[0]):
        acc = b
        for j in range(x.shape[1]):
            acc += np.float64(x[i, j]) * w[j]
        out[i] = acc


@njit(cache=True)
def _tree_batch(x, feat, thr, left, right, value, out):
    """``out [k]``: the leaf value of each row; left when ``x[f] <= threshold`` (sklearn's rule,
    float32 features compared as float64)."""
    for i in range(x.shape[0]):
        node = 0
        while left[node] >= 0:
            if np.float64(x[i, feat[node]]) <= thr[node]:
                node = left[node]
            else:
                node = right[node]
        out[i] = value[node]


def _elapsed_thresholds(feat: np.ndarray, thr: np.ndarray) -> np.ndarray:
    """``[N]`` int64: for a node splitting on ``log_elapsed``, the largest integer elapsed ``e``
    with ``log_elapsed(e) <= threshold`` (-1 when none), so the tree can compare counts; 0 for
    other nodes. ``log_elapsed`` is non-decreasing in ``e``, so a binary search finds it."""
    out = np.zeros(feat.size, dtype=np.int64)
    for i in np.flatnonzero(feat == _ELAPSED):
        t = float(thr[i])
        if float(log_elapsed(0)) > t:
            out[i] = -1
            continue
        lo, hi = 0, 1
        while float(log_elapsed(hi)) <= t and hi < (1 << 62):
            lo, hi = hi, hi * 2
        while hi - lo > 1:  # log_elapsed(lo) <= t < log_elapsed(hi)
            mid = (lo + hi) // 2
            if float(log_elapsed(mid)) <= t:
                lo = mid
            else:
                hi = mid
        out[i] = lo
    return out


class DistilledScorer:
    """One distilled scorer (``kind`` ``linear`` or ``tree``) over :data:`FEATURES`; priority:
    higher = keep, evict the argmin. Build with :func:`load_distilled`."""

    def __init__(self, kind: str, arrays: dict[str, np.ndarray], manifest: dict | None = None,
                 source: str = "") -> None:
        if kind not in KINDS:
            raise ValueError(f"kind must be one of {KINDS}, got {kind!r}")
        self.kind, self.manifest, self.source = kind, manifest or {}, source
        self.w = np.ascontiguousarray(arrays["linear_weight"], dtype=np.float64)
        self.b = float(arrays["linear_bias"][0])
        self.feat = np.ascontiguousarray(arrays["tree_feature"], dtype=np.int64)
        self.thr = np.ascontiguousarray(arrays["tree_threshold"], dtype=np.float64)
        self.left = np.ascontiguousarray(arrays["tree_left"], dtype=np.int64)
        self.right = np.ascontiguousarray(arrays["tree_right"], dtype=np.int64)
        self.value = np.ascontiguousarray(arrays["tree_value"], dtype=np.float64)
        self.elapsed_thr = _elapsed_thresholds(self.feat, self.thr)
        depth = np.zeros(self.feat.size, dtype=np.int64)
        for i in range(self.feat.size):  # children follow their parent (checked on load)
            if self.left[i] >= 0:
                depth[self.left[i]] = depth[self.right[i]] = depth[i] + 1
        self.depth = int(depth.max())

    def priorities(self, features: np.ndarray) -> np.ndarray:
        """Priorities ``[k]`` (float64) of pages with ``features [k, F]`` (cast to float32)."""
        x = np.ascontiguousarray(features, dtype=np.float32)
        if x.ndim != 2 or x.shape[1] != N_FEATURES:
            raise ValueError(f"features must be [k, {N_FEATURES}], got {list(x.shape)}")
        out = np.empty(x.shape[0], dtype=np.float64)
        if self.kind == "linear":
            _linear_batch(x, self.w, self.b, out)
        else:
            _tree_batch(x, self.feat, self.thr, self.left, self.right, self.value, out)
        return out

    def priority(self, features: np.ndarray) -> float:
        """The priority of one page with ``features [F]`` (SGLang's ``get_priority``)."""
        return float(self.priorities(np.asarray(features).reshape(1, -1))[0])

    def victim(self, features: np.ndarray) -> int:
        """Row to evict among ``features [k, F]``: the lowest priority; on ties the largest
        ``log_elapsed`` (the page requested longest ago), then the first row."""
        x = np.asarray(features, dtype=np.float32)
        p = self.priorities(x)
        lowest = p == p.min()
        return int(np.argmax(np.where(lowest, x[:, _ELAPSED], -np.inf)))

    def __repr__(self) -> str:
        return f"DistilledScorer({self.kind}, {self.source or 'in memory'})"


# ---------------------------------------------------------------------------------------------
# the artifact


def _check_arrays(arrays: dict[str, np.ndarray], where: str) -> dict[str, np.ndarray]:
    missing = sorted(set(_TENSORS) - set(arrays))
    if missing:
        raise ValueError(f"{where}: weights lack tensors {missing}")
    out = {k: np.asarray(arrays[k]) for k in _TENSORS}
    for k, dt in _TENSORS.items():
        if out[k].dtype != dt or out[k].ndim != 1:
            raise ValueError(f"{where}: tensor {k} must be 1-d {np.dtype(dt).name}, got "
                             f"{out[k].dtype} {list(out[k].shape)}")
    if out["linear_weight"].size != N_FEATURES or out["linear_bias"].size != 1:
        raise ValueError(f"{where}: linear model must have {N_FEATURES} weights and 1 bias")
    n = out["tree_feature"].size
    if n < 1 or any(out[k].size != n for k in ("tree_threshold", "tree_left", "tree_right",
                                                 "tree_value")):
        raise ValueError(f"{where}: tree arrays must be non-empty and of equal length")
    left, right, feat = out["tree_left"], out["tree_right"], out["tree_feature"]
    internal = left >= 0
    idx = np.arange(n)
    # children after their parent (sklearn's order) rules out cycles: evaluation terminates
    if (np.any((left[internal] <= idx[internal]) | (left[internal] >= n)
               | (right[internal] <= idx[internal]) | (right[internal] >= n))
            or np.any(right[~internal] >= 0)
            or np.any((feat[internal] < 0) | (feat[internal] >= N_FEATURES))
            or not np.all(np.isfinite(out["tree_value"]))
            or not np.all(np.isfinite(out["linear_weight"]))):
        raise ValueError(f"{where}: malformed tree or weights (children must follow their node, "
                         f"features lie in [0, {N_FEATURES}), values finite)")
    return out


def export_distilled(out_dir, arrays: dict[str, np.ndarray], *, config: dict,
                     training: dict | None = None, metrics: dict | None = None,
                     provenance: dict | None = None, replace: bool = False) -> Path:
    """Writes the scorers' ``arrays`` (the :data:`_TENSORS` names) as an artifact folder; the
    folder appears whole or not at all."""
    from safetensors.numpy import save

    from heurist.policies.export.manifest import (
        FORMAT_NAME,
        FORMAT_VERSION,
        WEIGHTS,
        plain,
        sha256_hex,
        write_folder,
    )

    out_dir = Path(out_dir)
    if out_dir.exists() and not (replace and out_dir.is_dir()):
        raise ValueError(f"{out_dir}: already exists; pass a new folder")
    arrays = _check_arrays(arrays, str(out_dir))
    blob = save({k: np.ascontiguousarray(v) for k, v in arrays.items()})
    n_nodes = int(arrays["tree_feature"].size)
    manifest = {
        "format": {"name": FORMAT_NAME, "version": FORMAT_VERSION},
        "env": {"name": "Paging", "features": {"page_features": list(FEATURES)}},
        "network": {"class": NETWORK_CLASS, "config": plain(config),
                    "parameters": N_FEATURES + 1 + 2 * n_nodes,
                    "priority": "higher = keep; evict the argmin"},
        "weights": {"file": WEIGHTS, "sha256": sha256_hex(blob), "bytes": len(blob),
                    "tensors": len(arrays)},
        "training": plain(training or {}), "metrics": plain(metrics or {}),
        "provenance": plain(provenance or {}),
    }
    return write_folder(out_dir, blob, manifest)


def shipped_distilled_path() -> Path:
    """The folder of the distilled scorers shipped inside the package."""
    return Path(__file__).resolve().parents[1] / "artifacts" / ARTIFACT_NAME


def load_distilled(folder=None, kind: str = "linear") -> DistilledScorer:
    """The ``kind`` scorer of artifact ``folder`` (default: the shipped one). Refuses with one
    ``ValueError`` naming the folder: another format or version, weights whose sha256 differs
    from the manifest's, another network class, another feature layout, malformed arrays."""
    from safetensors import SafetensorError
    from safetensors.numpy import load

    from heurist.policies.export.manifest import read_verified

    if kind not in KINDS:
        raise ValueError(f"kind must be one of {KINDS}, got {kind!r}")
    folder = shipped_distilled_path() if folder is None else Path(folder)
    manifest, blob = read_verified(folder)
    if manifest["network"].get("class") != NETWORK_CLASS:
        raise ValueError(f"{folder}: network {manifest['network'].get('class')!r} is not a "
                         f"distilled paging scorer ({NETWORK_CLASS})")
    trained = manifest["env"].get("features")
    if manifest["env"].get("name") != "Paging" or trained != {"page_features": list(FEATURES)}:
        raise ValueError(f"{folder}: trained on features {trained}, this heurist gives "
                         f"{list(FEATURES)}; re-distil with this heurist")
    try:
        arrays = load(blob)
    except (SafetensorError, ValueError) as exc:
        raise ValueError(f"{folder}: unreadable weights ({str(exc).splitlines()[0]})") from None
    return DistilledScorer(kind, _check_arrays(arrays, str(folder)), manifest, str(folder))


# ---------------------------------------------------------------------------------------------
# the simulator hooks. A page's priority is a function of its latest request ``r`` (fixed until
# it is requested again) and of the requests elapsed since, ``e``. Per request, once:
#   linear: static[r] = b + sum_{j < F-1} feats[r, j] w[j]; a decision adds log_elapsed(e) w[F-1];
#   tree:   the tree restricted to row r's 13 stored features is a step function of e (its
#           log_elapsed splits become integer thresholds): pieces piece_hi/piece_val in
#           piece_off[r]:piece_off[r+1], increasing in e; a decision finds e's piece.
# So a decision reads a few numbers per cached page and takes no log2 and no tree walk.
# Each slot keeps a copy of its page's part (time, static sum or pieces padded to P), written
# when the page is requested, so a decision scans k contiguous slots.
# state = (cached [n_ids] bool, slots [k] (page per slot), slot_of [n_ids], last [n_ids] (the
#          page's latest request), static [T], w [F], piece_off [T+1], piece_hi [M],
#          piece_val [M], log table, mode [1] (0 linear, 1 tree), reg [2] (filled, freed slot),
#          slot_last [k], slot_static [k], slot_hi [k, P], slot_val [k, P])


_E_MAX = np.int64(1) << 62  # "any elapsed count"


@njit(cache=True)
def _row_pieces(feats, r, feat, thr, left, right, value, ethr, stack, hi_out, val_out):
    """Writes the step function ``e -> leaf value`` of row ``r`` as ``(hi, value)`` pieces in
    increasing ``e`` (piece j covers ``e <= hi[j]`` after piece j-1); returns their count. An
    empty ``hi_out`` only counts. ``stack [3, depth + 2]``: node, lo, hi of pending subtrees."""
    stack[0, 0], stack[1, 0], stack[2, 0] = 0, 0, _E_MAX
    top, n = 1, 0
    while top > 0:
        top -= 1
        node, lo, hi = stack[0, top], stack[1, top], stack[2, top]
        while left[node] >= 0:
            f = feat[node]
            if f == _ELAPSED:
                cut = ethr[node]
                if cut >= hi:  # the whole interval goes left
                    node = left[node]
                elif cut < lo:
                    node = right[node]
                else:  # both: the right part waits (pushed), the left part goes on
                    stack[0, top], stack[1, top], stack[2, top] = right[node], cut + 1, hi
                    top += 1
                    hi = cut
                    node = left[node]
            elif np.float64(feats[r, f]) <= thr[node]:
                node = left[node]
            else:
                node = right[node]
        if hi_out.size > 0:
            hi_out[n] = hi
            val_out[n] = value[node]
        n += 1
    return n



@njit(cache=True)
def _tree_pieces(feats, feat, thr, left, right, value, ethr, depth):
    """``(piece_off [T+1], piece_hi [M], piece_val [M])`` of every row of ``feats [T, 13]``."""
    T = feats.shape[0]
    stack = np.zeros((3, depth + 2), dtype=np.int64)
    empty_i, empty_f = np.zeros(0, np.int64), np.zeros(0, np.float64)
    off = np.zeros(T + 1, dtype=np.int64)
    for r in range(T):
        off[r + 1] = off[r] + _row_pieces(feats, r, feat, thr, left, right, value, ethr, stack,
                                          empty_i, empty_f)
    hi = np.zeros(off[T], dtype=np.int64)
    val = np.zeros(off[T], dtype=np.float64)
    for r in range(T):
        _row_pieces(feats, r, feat, thr, left, right, value, ethr, stack, hi[off[r]:off[r + 1]],
                    val[off[r]:off[r + 1]])
    return off, hi, val


@njit(cache=True, inline="always")
def _page_priority(state, r, e):
    static, w, off, hi, val, table, mode = (state[4], state[5], state[6], state[7], state[8],
                                            state[9], state[10])
    if mode[0] == 0:
        return static[r] + _log_elapsed(table, e) * w[w.size - 1]
    j = off[r]
    while e > hi[j]:  # pieces are few (the log_elapsed splits on the row's path) and sorted
        j += 1
    return val[j]


@njit(cache=True, inline="always")
def _load_slot(state, i, t):
    """Copies request ``t``'s scoring part into slot ``i`` (the page there was just requested):
    its time, the linear static sum, or the tree's pieces padded to ``P`` with "any elapsed"."""
    static, off, hi, val, mode = state[4], state[6], state[7], state[8], state[10]
    slot_last, slot_static, slot_hi, slot_val = state[12], state[13], state[14], state[15]
    slot_last[i] = t
    if mode[0] == 0:
        slot_static[i] = static[t]
        return
    a, n = off[t], off[t + 1] - off[t]
    for j in range(slot_hi.shape[1]):
        if j < n:
            slot_hi[i, j] = hi[a + j]
            slot_val[i, j] = val[a + j]
        else:
            slot_hi[i, j] = _E_MAX
            slot_val[i, j] = val[a + n - 1]


@njit(cache=True, inline="always")
def _slot_priority(state, i, e):
    """Priority of the page in slot ``i``, ``e`` requests after its latest request: the same
    value as ``_page_priority`` from the slot's copy (contiguous per slot, branch-free)."""
    w, table, mode = state[5], state[9], state[10]
    if mode[0] == 0:
        return state[13][i] + _log_elapsed(table, e) * w[w.size - 1]
    slot_hi = state[14]
    c = 0
    for j in range(slot_hi.shape[1]):
        c += e > slot_hi[i, j]
    return state[15][i, c]


@njit(cache=True, inline="always")
def _find(state, page, t):
    if state[0][page]:
        state[3][page] = t
        _load_slot(state, state[2][page], t)
        return True
    return False


@njit(cache=True, inline="always")
def _to_evict(state, page, t):
    slots, slot_last = state[1], state[12]
    best, v = _slot_priority(state, 0, t - slot_last[0]), 0
    for i in range(1, slots.size):
        p = _slot_priority(state, i, t - slot_last[i])
        # ties (a tree's leaves are shared): the page requested longest ago, as LRU would
        if p < best or (p == best and slot_last[i] < slot_last[v]):
            best, v = p, i
    return slots[v]


@njit(cache=True, inline="always")
def _evict(state, victim, t):
    state[0][victim] = False
    state[11][1] = state[2][victim]


@njit(cache=True, inline="always")
def _insert(state, page, t):
    cached, slots, slot_of, last, reg = state[0], state[1], state[2], state[3], state[11]
    if reg[0] < slots.size:
        i = reg[0]
        reg[0] += 1
    else:
        i = reg[1]
    slots[i] = page
    slot_of[page] = i
    cached[page] = True
    last[page] = t
    _load_slot(state, i, t)


_simulate = simulator_for(globals())


@njit(cache=True)
def _static_part(feats, w, b):
    """``[T]`` the linear model's ``b + sum_{j < F-1} feats[:, j] w[j]``, in the order of
    :func:`_linear_batch`, so adding ``log_elapsed * w[F-1]`` gives the same float."""
    out = np.empty(feats.shape[0], dtype=np.float64)
    for r in range(feats.shape[0]):
        acc = b
        for j in range(feats.shape[1]):
            acc += np.float64(feats[r, j]) * w[j]
        out[r] = acc
    return out


def scoring_state(scorer: DistilledScorer, feats: np.ndarray, n_ids: int, k: int) -> tuple:
    """The simulator state (layout above) for request features ``feats [T, 13]``: per request,
    the linear static part or the tree's pieces, made once."""
    feats = np.ascontiguousarray(feats, dtype=np.float32)
    if feats.shape[0] == 0:
        feats = np.zeros((1, N_FEATURES - 1), dtype=np.float32)
    if scorer.kind == "linear":
        static = _static_part(feats, scorer.w, scorer.b)
        off, hi, val = np.zeros(1, np.int64), np.zeros(0, np.int64), np.zeros(0)
    else:
        static = np.zeros(0)
        off, hi, val = _tree_pieces(feats, scorer.feat, scorer.thr, scorer.left, scorer.right,
                                    scorer.value, scorer.elapsed_thr, scorer.depth)
    mode = np.array([0 if scorer.kind == "linear" else 1], dtype=np.int64)
    n_pieces = max(1, int(np.diff(off).max())) if off.size > 1 else 1
    k = max(1, int(k))
    return (np.zeros(n_ids, dtype=np.bool_), np.zeros(k, dtype=np.int64),
            np.zeros(n_ids, dtype=np.int64), np.zeros(n_ids, dtype=np.int64), static, scorer.w,
            off, hi, val, _LOG_TABLE, mode, np.zeros(2, dtype=np.int64),
            np.zeros(k, dtype=np.int64), np.zeros(k), np.zeros((k, n_pieces), dtype=np.int64),
            np.zeros((k, n_pieces)))


class _DistilledPolicy(PagingPolicy):
    kind = "linear"

    def __init__(self, *, artifact=None) -> None:
        self.artifact = artifact
        self._scorer: DistilledScorer | None = None

    @property
    def scorer(self) -> DistilledScorer:
        if self._scorer is None:
            self._scorer = (self.artifact if isinstance(self.artifact, DistilledScorer)
                            else load_distilled(self.artifact, self.kind))
        return self._scorer

    def _state(self, trace, n_ids, k, predictions, seed):
        return _simulate, scoring_state(self.scorer, request_features(trace), n_ids, k)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(artifact={str(self.artifact)!r})"


@register_policy
class DistilledLinear(_DistilledPolicy):
    """LearnedFTP distilled into a linear priority over :data:`FEATURES` (module docstring);
    ``artifact``: the folder (default: the shipped one) or a :class:`DistilledScorer`."""

    name = "Distilled"
    aliases = ("distilled_linear",)
    kind = "linear"


@register_policy
class DistilledTree(_DistilledPolicy):
    """LearnedFTP distilled into a depth-6 regression tree over :data:`FEATURES`."""

    name = "DistilledTree"
    aliases = ()
    kind = "tree"


# ---------------------------------------------------------------------------------------------
# the online form: features maintained one request at a time


@njit(cache=True)
def _observe(page, t, row, tree, last, count, prev_gap, ewma_gap, ewma_stack, glob):
    """Writes the request features of request ``t`` (page ``page``) into ``row [13]`` and
    updates the state; the same arithmetic as ``learned_features._features`` (a test checks
    equality). ``glob = [distinct, reuses, recent_reuse, recent_stack]`` (float64)."""
    recent = 1.0 / 32.0
    for j in range(row.size):
        row[j] = 0.0
    prev = last[page]
    first = prev < 0
    log_pos = np.log2(1.0 + t)
    if first:
        row[0] = 1.0
    else:
        stack = _fenwick_sum(tree, t) - _fenwick_sum(tree, prev + 1)
        _fenwick_add(tree, prev, -1)
        g = np.log2(1.0 + (t - prev))
        s = np.log2(1.0 + stack)
        row[1] = g
        row[2] = s
        row[6] = prev_gap[page]
        if count[page] == 1:
            ewma_gap[page], ewma_stack[page] = g, s
        else:
            ewma_gap[page] = 0.5 * ewma_gap[page] + 0.5 * g
            ewma_stack[page] = 0.5 * ewma_stack[page] + 0.5 * s
        row[4] = ewma_gap[page]
        row[5] = ewma_stack[page]
    _fenwick_add(tree, t, 1)
    log_count = np.log2(1.0 + count[page])
    row[3] = log_count
    row[7] = log_pos
    row[8] = np.log2(1.0 + glob[0])
    row[9] = glob[1] / t if t > 0 else 0.0
    glob[2] = (1.0 - recent) * glob[2] + recent * (0.0 if first else 1.0)
    if not first:
        glob[3] = (1.0 - recent) * glob[3] + recent * row[2]
        glob[1] += 1
        prev_gap[page] = row[1]
    else:
        glob[0] += 1
    row[10] = glob[2]
    row[11] = glob[3]
    row[12] = log_count - log_pos
    count[page] += 1
    last[page] = t


@njit(cache=True)
def _gather(pages, t, rows, last, table, out):
    """``out [n, F]``: the stored rows of ``pages [n]`` and their ``log_elapsed`` at ``t``."""
    for i in range(pages.size):
        p = pages[i]
        for j in range(rows.shape[1]):
            out[i, j] = rows[p, j]
        out[i, rows.shape[1]] = _log_elapsed(table, t - last[p])


class StreamScorer:
    """A distilled scorer with its features kept online: :meth:`observe` each request of the
    stream (any hashable key), :meth:`priorities` of any observed keys at the current time."""

    def __init__(self, scorer: DistilledScorer, *, capacity: int = 1024) -> None:
        self.scorer = scorer
        self.ids: dict = {}
        self.t = 0
        cap = max(16, int(capacity))
        self._tree = np.zeros(cap + 1, dtype=np.int64)
        self._last = np.full(cap, -1, dtype=np.int64)
        self._count = np.zeros(cap, dtype=np.int64)
        self._f = np.zeros((3, cap), dtype=np.float64)  # prev_gap, ewma_gap, ewma_stack
        self._rows = np.zeros((cap, N_FEATURES - 1), dtype=np.float32)
        self._glob = np.zeros(4, dtype=np.float64)
        self._row = np.zeros(N_FEATURES - 1, dtype=np.float32)

    def _grow(self) -> None:
        """Doubles the per-page arrays and the Fenwick tree (rebuilt from the latest requests)."""
        cap = 2 * self._last.size
        last = np.full(cap, -1, dtype=np.int64)
        last[:self._last.size] = self._last
        self._last = last
        self._count = np.concatenate([self._count, np.zeros(cap - self._count.size, np.int64)])
        f = np.zeros((3, cap), dtype=np.float64)
        f[:, :self._f.shape[1]] = self._f
        self._f = f
        rows = np.zeros((cap, N_FEATURES - 1), dtype=np.float32)
        rows[:self._rows.shape[0]] = self._rows
        self._rows = rows
        tree = np.zeros(cap + 1, dtype=np.int64)
        for p in np.flatnonzero(self._last >= 0):
            _fenwick_add(tree, int(self._last[p]), 1)
        self._tree = tree

    def observe(self, key) -> None:
        """Request ``key`` at the current time (then the clock advances)."""
        page = self.ids.setdefault(key, len(self.ids))
        while page >= self._last.size or self.t + 1 >= self._tree.size:
            self._grow()
        _observe(page, self.t, self._row, self._tree, self._last, self._count, self._f[0],
                 self._f[1], self._f[2], self._glob)
        self._rows[page] = self._row
        self.t += 1

    def last_request(self, key) -> int:
        """Index of ``key``'s latest request in the stream, -1 if never requested."""
        page = self.ids.get(key)
        return -1 if page is None else int(self._last[page])

    def features(self, keys) -> np.ndarray:
        """``[n, F]`` features of observed ``keys`` at the current time (the time of the next
        request)."""
        pages = np.fromiter((self.ids[k] for k in keys), dtype=np.int64)
        out = np.empty((pages.size, N_FEATURES), dtype=np.float32)
        _gather(pages, self.t, self._rows, self._last, _LOG_TABLE, out)
        return out

    def priorities(self, keys) -> np.ndarray:
        """``[n]`` priorities of observed ``keys`` (higher = keep)."""
        return self.scorer.priorities(self.features(keys))

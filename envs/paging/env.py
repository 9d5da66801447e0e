"""The paging (cache eviction) MDP as a batched TorchRL env: dynamics only.

A decision happens only on a miss while the cache is full; hits and compulsory misses into free
slots are fast-forwarded in numba over the batch rows. The action is the slot to evict. The MDP with
shapes is written in ``envs/paging/README.md``.
"""
from __future__ import annotations

import math

import numpy as np
import torch
from numba import njit
from tensordict import TensorDict, TensorDictBase
from torchrl.data import Binary, Categorical, Composite, Unbounded

from heurist.envs.common import HeuristEnv, register
from heurist.envs.paging.generator import PagingGenerator, validate_instance
from heurist.envs.paging.predictions import next_arrivals_dense
from heurist.envs.paging.state import PagingState

__all__ = ["GAP_FEATURES", "REQUEST_FEATURES", "SLOT_FEATURES", "PagingEnv", "slot_feature_names"]

#: Names of the per-slot features ``slot_features[..., k, F]`` (all in [0, 1]).
SLOT_FEATURES = ("occupied", "recency_rank", "log_age", "rarity_rank", "log_count",
                 "pred_rank", "log_pred_gap", "pred_overdue", "discard_bit", "phase_bit", "marked")
#: Names of the request features ``request_features[..., F2]`` (all in [0, 1]).
REQUEST_FEATURES = ("progress", "seen_before", "log_age", "log_count", "log_pred_gap",
                    "discard_bit", "phase_bit", "marked_fraction")

#: Opt-in per-slot inter-arrival features (``PagingEnv(gap_features=True)``), appended after
#: :data:`SLOT_FEATURES` (all in [0, 1]; causal: they read ``trace[:t + 1]`` at decision ``t``).
GAP_FEATURES = ("log_last_gap", "log_mean_gap", "log2_gap_std", "overdue_ratio", "recent_64",
                "recent_512", "log_stack_distance")

_F = len(SLOT_FEATURES)
_G = len(GAP_FEATURES)


def slot_feature_names(gap_features: bool = False) -> tuple:
    """The names of the ``slot_features`` channels of ``PagingEnv(gap_features=...)``."""
    return SLOT_FEATURES + GAP_FEATURES if gap_features else SLOT_FEATURES
_F2 = len(REQUEST_FEATURES)


# ---------------------------------------------------------------------------- numba kernels
def _true_next(trace, length):
    """Index of the next request of the same page for every position of each row ``[B, T]``;
    ``length`` of the row if none (the single next-arrival kernel, row by row)."""
    out = np.empty_like(trace)
    for b in range(trace.shape[0]):
        L = int(length[b])
        row = trace[b, :L]
        nxt = next_arrivals_dense(row, int(row.max()) + 1 if L else 0)
        out[b, :L] = np.where(nxt >= 0, nxt, L)
        out[b, L:] = L
    return out


@njit(cache=True)
def _touch(b, s, t, fresh, trace, pred, disc, phase, true_next, slot_last, slot_pred,
           slot_disc, slot_phase, slot_next, slot_mark, slot_hits, count, last_seen):
    p = trace[b, t]
    # In-cache frequency: requests since the page was (re)loaded, as in-cache LFU counts them.
    slot_hits[b, s] = 1 if fresh else slot_hits[b, s] + 1
    slot_last[b, s] = t
    slot_pred[b, s] = pred[b, t]
    slot_disc[b, s] = disc[b, t]
    slot_phase[b, s] = phase[b, t]
    slot_next[b, s] = true_next[b, t]
    slot_mark[b, s] = 1
    count[b, p] += 1
    last_seen[b, p] = t


@njit(cache=True)
def _advance(rows, trace, length, cost, pred, disc, phase, true_next, k, slot_page, slot_last,
             slot_pred, slot_disc, slot_phase, slot_next, slot_mark, slot_hits, where, count,
             last_seen, n_used, t_now, done, acc):
    """Serves requests of each row in ``rows`` from ``t_now`` on until a miss with a full cache
    (a decision; ``t_now`` stays on it) or the end of the trace (``done``). Adds the cost of every
    miss served on the way to ``acc``."""
    for i in range(rows.shape[0]):
        b = rows[i]
        t = t_now[b]
        while t < length[b]:
            p = trace[b, t]
            s = where[b, p]
            if s >= 0:  # hit
                _touch(b, s, t, False, trace, pred, disc, phase, true_next, slot_last, slot_pred,
                       slot_disc, slot_phase, slot_next, slot_mark, slot_hits, count, last_seen)
                t += 1
                continue
            if n_used[b] < k:  # compulsory miss into the lowest free slot
                s = n_used[b]
                n_used[b] += 1
                acc[b] += cost[b, t]
                slot_page[b, s] = p
                where[b, p] = s
                _touch(b, s, t, True, trace, pred, disc, phase, true_next, slot_last, slot_pred,
                       slot_disc, slot_phase, slot_next, slot_mark, slot_hits, count, last_seen)
                t += 1
                continue
            # A miss with a full cache: a marking phase ends when every cached page is marked.
            all_marked = True
            for j in range(k):
                if slot_mark[b, j] == 0:
                    all_marked = False
                    break
            if all_marked:
                for j in range(k):
                    slot_mark[b, j] = 0
            break
        t_now[b] = t
        if t >= length[b]:
            done[b] = 1


@njit(cache=True)
def _evict_insert(rows, actions, trace, cost, pred, disc, phase, true_next, slot_page,
                  slot_last, slot_pred, slot_disc, slot_phase, slot_next, slot_mark, slot_hits,
                  where, count, last_seen, t_now, acc):
    """Evicts slot ``actions[b]`` of each pending row and serves its pending miss into it."""
    for i in range(rows.shape[0]):
        b = rows[i]
        s = actions[b]
        t = t_now[b]
        where[b, slot_page[b, s]] = -1
        p = trace[b, t]
        slot_page[b, s] = p
        where[b, p] = s
        acc[b] += cost[b, t]
        _touch(b, s, t, True, trace, pred, disc, phase, true_next, slot_last, slot_pred,
               slot_disc, slot_phase, slot_next, slot_mark, slot_hits, count, last_seen)
        t_now[b] = t + 1


@njit(cache=True)
def _log_norm(x, scale):
    if x <= 0.0:
        return 0.0
    v = math.log1p(x) / scale
    return min(v, 1.0)


@njit(cache=True)
def _features(trace, length, pred, disc, phase, has_pred, k, slot_page, slot_last, slot_pred,
              slot_disc, slot_phase, slot_mark, slot_hits, count, last_seen, t_now, done,
              slot_feat, req_feat, mask):
    """Writes the observation of every row: ``slot_feat`` [B, k, F], ``req_feat`` [B, F2] and
    ``mask`` [B, k] (a done row: zeros and only slot 0 legal)."""
    B = trace.shape[0]
    denom = max(k - 1, 1)
    for b in range(B):
        for j in range(k):
            mask[b, j] = False
            for f in range(slot_feat.shape[2]):
                slot_feat[b, j, f] = 0.0
        for f in range(req_feat.shape[1]):
            req_feat[b, f] = 0.0
        if done[b]:
            mask[b, 0] = True
            continue
        t = t_now[b]
        scale = math.log1p(length[b])
        n_marked = 0
        for j in range(k):
            if slot_page[b, j] < 0:
                continue
            mask[b, j] = True
            n_marked += slot_mark[b, j]
            older = 0
            freq = 0
            nearer = 0
            for i in range(k):
                if i == j or slot_page[b, i] < 0:
                    continue
                if slot_last[b, i] > slot_last[b, j]:
                    older += 1
                if slot_hits[b, i] > slot_hits[b, j]:
                    freq += 1
                if has_pred and slot_pred[b, i] < slot_pred[b, j]:
                    nearer += 1
            slot_feat[b, j, 0] = 1.0
            slot_feat[b, j, 1] = older / denom
            slot_feat[b, j, 2] = _log_norm(t - slot_last[b, j], scale)
            slot_feat[b, j, 3] = freq / denom
            slot_feat[b, j, 4] = _log_norm(count[b, slot_page[b, j]], scale)
            if has_pred:
                gap = slot_pred[b, j] - t
                slot_feat[b, j, 5] = nearer / denom
                slot_feat[b, j, 6] = 1.0 if np.isinf(gap) else _log_norm(gap, scale)
                slot_feat[b, j, 7] = 1.0 if slot_pred[b, j] < t else 0.0
            slot_feat[b, j, 8] = slot_disc[b, j]
            slot_feat[b, j, 9] = slot_phase[b, j]
            slot_feat[b, j, 10] = slot_mark[b, j]
        p = trace[b, t]
        req_feat[b, 0] = t / length[b]
        if last_seen[b, p] >= 0:
            req_feat[b, 1] = 1.0
            req_feat[b, 2] = _log_norm(t - last_seen[b, p], scale)
        else:
            req_feat[b, 2] = 1.0
        req_feat[b, 3] = _log_norm(count[b, p], scale)
        if has_pred:
            gap = pred[b, t] - t
            req_feat[b, 4] = 1.0 if np.isinf(gap) else _log_norm(gap, scale)
        req_feat[b, 5] = disc[b, t]
        req_feat[b, 6] = phase[b, t]
        req_feat[b, 7] = n_marked / k


@njit(cache=True)
def _gap_history(trace, length):
    """Per request ``i`` of every row, from ``trace[:i + 1]`` only: ``prev`` (the page's previous
    request, -1), ``first`` (its first request), ``n`` (its requests so far, i included), ``s1``
    and ``s2`` (sum and sum of squares of its ``log2(1 + gap)`` so far); all [B, T]."""
    B, T = trace.shape
    prev = np.full((B, T), -1, dtype=np.int64)
    first = np.zeros((B, T), dtype=np.int64)
    n = np.zeros((B, T), dtype=np.int64)
    s1 = np.zeros((B, T))
    s2 = np.zeros((B, T))
    for b in range(B):
        last = {}
        for i in range(length[b]):
            p = trace[b, i]
            if p in last:
                q = last[p]
                g = math.log2(1.0 + (i - q))
                prev[b, i] = q
                first[b, i] = first[b, q]
                n[b, i] = n[b, q] + 1
                s1[b, i] = s1[b, q] + g
                s2[b, i] = s2[b, q] + g * g
            else:
                first[b, i] = i
                n[b, i] = 1
            last[p] = i
    return prev, first, n, s1, s2


@njit(cache=True)
def _gap_features(length, k, slot_page, slot_last, t_now, done, prev, first, n, s1, s2, off,
                  slot_feat):
    """Writes the :data:`GAP_FEATURES` of every cached slot into ``slot_feat[b, j, off:]``
    (requests before and at the decision time only; a page requested once has no gap: the gap
    channels read 1, its spread and overdue ratio 0)."""
    B = slot_page.shape[0]
    for b in range(B):
        if done[b]:
            continue
        t = t_now[b]
        scale = math.log1p(length[b])
        lscale = math.log2(1.0 + length[b])
        for j in range(k):
            if slot_page[b, j] < 0:
                continue
            r = slot_last[b, j]
            m = n[b, r]
            e = t - r
            if m >= 2:
                mean = (r - first[b, r]) / (m - 1)
                mu = s1[b, r] / (m - 1)
                var = max(s2[b, r] / (m - 1) - mu * mu, 0.0)
                slot_feat[b, j, off] = _log_norm(r - prev[b, r], scale)
                slot_feat[b, j, off + 1] = _log_norm(mean, scale)
                slot_feat[b, j, off + 2] = min(math.sqrt(var) / lscale, 1.0)
                slot_feat[b, j, off + 3] = e / (e + mean)
            else:
                slot_feat[b, j, off] = 1.0
                slot_feat[b, j, off + 1] = 1.0
            for w in range(2):
                win = 64 if w == 0 else 512
                c = 0
                i = r
                while i >= 0 and i > t - win:
                    c += 1
                    i = prev[b, i]
                slot_feat[b, j, off + 4 + w] = math.log1p(c) / math.log1p(win)
            # Stack distance: distinct pages requested after r (the pending request included).
            d = 0
            for i in range(r + 1, t + 1):
                if prev[b, i] <= r:
                    d += 1
            slot_feat[b, j, off + 6] = _log_norm(d, scale)


@njit(cache=True)
def _farthest_mask(slot_next, slot_page, done):
    """Every Belady-optimal slot per row (ties: pages never requested again); done rows: slot 0."""
    B, k = slot_next.shape
    out = np.zeros((B, k), dtype=np.bool_)
    for b in range(B):
        if done[b]:
            out[b, 0] = True
            continue
        far = -1
        for j in range(k):
            if slot_page[b, j] >= 0 and slot_next[b, j] > far:
                far = slot_next[b, j]
        for j in range(k):
            out[b, j] = slot_page[b, j] >= 0 and slot_next[b, j] == far
    return out


# ---------------------------------------------------------------------------- the env
@register("Paging")  # declared, with its test_kwargs, in heurist.envs.ENVS
class PagingEnv(HeuristEnv):
    """Cache eviction over a page-request trace; one decision per miss with a full cache.

    Keyword-only hyperparameters: ``cache_size`` k (slots), and, for the default generator,
    ``trace_length``, ``n_pages``, ``alpha`` (Zipf) and ``predictor`` (default
    :func:`~heurist.envs.paging.generator.default_predictor`: noisy next-arrival predictions).
    ``generator`` replaces the default generator (then ``predictor`` must be left ``None``: the
    generator owns its predictor). ``gap_features`` (default off) appends the causal
    inter-arrival channels :data:`GAP_FEATURES` to ``slot_features`` (F = 11 + 7).

    Observation (batch ``[B]``): ``slot_features`` [B, k, F], ``request_features`` [B, F2],
    ``action_mask`` [B, k]. Action: ``action`` [B] slot to evict. Reward [B, 1]: minus the cost of
    every miss served since the last decision (see README for the no-decision corner case).
    """

    def __init__(self, *, cache_size: int = 10, generator=None, predictor=None,
                 trace_length: int = 256, n_pages: int = 64, alpha: float = 0.9, seed: int = 0,
                 gap_features: bool = False, device: str | torch.device = "cpu") -> None:
        if int(cache_size) < 1:
            raise ValueError(f"cache_size must be >= 1, got {cache_size}")
        if generator is None:
            generator = PagingGenerator(length=trace_length, n_pages=n_pages, alpha=alpha,
                                        predictor=predictor, cache_size=cache_size)
        elif predictor is not None:
            raise ValueError("pass the predictor to the generator, not to PagingEnv, when you "
                             "inject a generator")
        super().__init__(generator=generator, seed=seed, device=device)
        self.cache_size = k = int(cache_size)
        self.gap_features = bool(gap_features)
        self._n_slot_feat = len(slot_feature_names(self.gap_features))
        self._gap_hist: tuple | None = None
        # A trace that never fills the cache needs no decision: its row is done at reset.
        self._allow_done_after_reset = True
        self.observation_spec = Composite(
            slot_features=Unbounded(shape=(k, self._n_slot_feat), dtype=torch.float32),
            request_features=Unbounded(shape=(_F2,), dtype=torch.float32),
            action_mask=Binary(n=k, shape=(k,), dtype=torch.bool),
            shape=(),
        )
        self.action_spec = Categorical(n=k, shape=(), dtype=torch.int64)
        self.reward_spec = Unbounded(shape=(1,), dtype=torch.float32)
        self.done_spec = Composite(
            done=Categorical(n=2, shape=(1,), dtype=torch.bool),
            terminated=Categorical(n=2, shape=(1,), dtype=torch.bool),
            shape=(),
        )

    # ------------------------------------------------------------------ episode
    def _reset_instance(self, instance: TensorDictBase) -> TensorDictBase:
        arr = validate_instance(instance)
        B = arr["trace"].shape[0]
        st = PagingState.empty(arr, _true_next(arr["trace"], arr["length"]),
                               cache_size=self.cache_size)
        self.state = st
        if self.gap_features:
            self._gap_hist = _gap_history(np.ascontiguousarray(st.trace, dtype=np.int64),
                                          np.ascontiguousarray(st.length, dtype=np.int64))
        self._advance(np.arange(B, dtype=np.int64))
        # Misses served before the first decision are paid with the first step's reward; a row
        # that ends without any decision pays nothing (README: the no-decision corner case).
        st.total[:] = st.acc
        st.carry[:] = np.where(st.done == 1, 0.0, st.acc)
        st.acc[:] = 0.0
        return self._observe(None)

    def _advance(self, rows: np.ndarray) -> None:
        s = self.state
        _advance(rows, s.trace, s.length, s.cost, s.pred, s.disc, s.phase,
                 s.true_next, self.cache_size, s.slot_page, s.slot_last, s.slot_pred,
                 s.slot_disc, s.slot_phase, s.slot_next, s.slot_mark, s.slot_hits,
                 s.where, s.count, s.last_seen, s.n_used, s.t, s.done, s.acc)

    def _step_batch(self, tensordict: TensorDictBase) -> TensorDictBase:
        s = self.state
        if s is None:
            raise RuntimeError("PagingEnv.step before reset")
        actions = tensordict[self.action_key].reshape(-1).to(torch.int64).cpu().numpy()
        B = s.trace.shape[0]
        if actions.shape[0] != B:
            raise ValueError(f"action batch {actions.shape[0]} != episode batch {B}")
        rows = np.flatnonzero(s.done == 0).astype(np.int64)
        bad = rows[(actions[rows] < 0) | (actions[rows] >= self.cache_size)]
        if bad.size:
            raise ValueError(f"action of row {int(bad[0])} is {int(actions[bad[0]])}, outside "
                             f"[0, {self.cache_size})")
        s.acc[:] = 0.0
        s.decided[rows] += 1
        _evict_insert(rows, actions, s.trace, s.cost, s.pred, s.disc, s.phase,
                      s.true_next, s.slot_page, s.slot_last, s.slot_pred,
                      s.slot_disc, s.slot_phase, s.slot_next, s.slot_mark,
                      s.slot_hits, s.where, s.count, s.last_seen, s.t, s.acc)
        self._advance(rows)
        s.total[rows] += s.acc[rows]
        s.acc[rows] += s.carry[rows]
        s.carry[rows] = 0.0
        reward = torch.from_numpy(-s.acc).to(torch.float32).reshape(B, 1)
        return self._observe(reward)

    def _observe(self, reward: torch.Tensor | None) -> TensorDict:
        s = self.state
        B = s.trace.shape[0]
        k = self.cache_size
        slot_feat = np.empty((B, k, self._n_slot_feat), dtype=np.float32)
        req_feat = np.empty((B, _F2), dtype=np.float32)
        mask = np.empty((B, k), dtype=np.bool_)
        _features(s.trace, s.length, s.pred, s.disc, s.phase, s.has_pred, k,
                  s.slot_page, s.slot_last, s.slot_pred, s.slot_disc, s.slot_phase,
                  s.slot_mark, s.slot_hits, s.count, s.last_seen, s.t, s.done,
                  slot_feat,
                  req_feat, mask)
        if self.gap_features:
            prev, first, n, s1, s2 = self._gap_hist
            _gap_features(s.length, k, s.slot_page, s.slot_last, s.t, s.done, prev, first, n,
                          s1, s2, _F, slot_feat)
        done = torch.from_numpy(s.done.astype(np.bool_)).reshape(B, 1)
        out = {"slot_features": torch.from_numpy(slot_feat),
               "request_features": torch.from_numpy(req_feat),
               "action_mask": torch.from_numpy(mask), "done": done, "terminated": done.clone()}
        if reward is not None:
            out["reward"] = reward
        return TensorDict(out, batch_size=[B], device=self.device)

    # ------------------------------------------------------------------ privileged views
    def opt_action(self) -> torch.Tensor:
        """Belady's choice for the pending decision of every row -> int64 [B] (0 for done rows).

        Uses the true future of the trace: a teacher for imitation, never part of the observation.
        """
        s = self.state
        # The first Belady-optimal slot (argmax returns the first True).
        return torch.from_numpy(_farthest_mask(s.slot_next, s.slot_page, s.done)
                                .argmax(1).astype(np.int64))

    def opt_mask(self) -> torch.Tensor:
        """Every Belady-optimal slot of the pending decision -> bool [B, k] (a teacher, like
        :meth:`opt_action`; several slots when pages are never requested again)."""
        s = self.state
        return torch.from_numpy(_farthest_mask(s.slot_next, s.slot_page, s.done))

    def misses(self) -> torch.Tensor:
        """Cost of all misses served so far per row -> float64 [B] (including the no-decision
        rows, whose rewards are zero)."""
        return torch.from_numpy(self.state.total.copy())

    # ------------------------------------------------------------------ oracles
    def check_solution(self, instance: TensorDictBase, actions: torch.Tensor) -> torch.Tensor:
        """Every decision of each row has an action in ``[0, k)`` -> bool [B] (oracle replay)."""
        from heurist.envs.paging.oracle import check_solution

        return check_solution(instance, actions, cache_size=self.cache_size)

    def evaluate(self, instance: TensorDictBase, actions: torch.Tensor) -> torch.Tensor:
        """Summed rewards of each row's action log -> float64 [B] (oracle replay)."""
        from heurist.envs.paging.oracle import evaluate

        return evaluate(instance, actions, cache_size=self.cache_size)

    def legal_actions(self, instance: TensorDictBase, actions: torch.Tensor) -> torch.Tensor:
        """The legal evictions after a log prefix [B, t] -> bool [B, k] (``oracle.legal_actions``,
        a plain Python replay, independent of the kernels and their mask)."""
        from heurist.envs.paging.oracle import legal_actions

        return legal_actions(instance, actions, cache_size=self.cache_size)

    # ------------------------------------------------------------------ snapshot / restore
    #: the evolving part of ``PagingState`` (the trace and its predictions stay fixed)
    snapshot_fields = ("slot_page", "slot_last", "slot_pred", "slot_disc", "slot_phase",
                       "slot_next", "slot_mark", "slot_hits", "where", "count", "last_seen",
                       "n_used", "t", "done", "acc", "total", "carry", "decided")

    def _restored_td(self) -> TensorDict:
        return self._observe(None)

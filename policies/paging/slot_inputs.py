"""The paging env as the slot policy sees it when it reads a learned predictor
(``input_predictor=learned``): the prediction channels of every slot are recomputed at each
decision from the predictor's gap *distribution*, conditioned on the time elapsed since the page's
latest request (LearnedFTP's signal, :mod:`heurist.policies.paging.learned_ftp`), instead of the
point prediction frozen at that request, which goes stale.

Channels overwritten in ``slot_features`` [B, k, F] (the others are the env's):

* ``pred_rank`` (5): share of the other cached pages with a smaller conditional expected log2 gap;
* ``log_pred_gap`` (6): the conditional expected ``log2(1 + gap)``, divided by ``never_log2``;
* ``pred_overdue`` (7): the predicted probability that the page would be back by now.

With ``distance=True`` (``input_predictor=conditional_distance``) the predictor's reuse-distance
distribution (distinct pages until the next request) is conditioned the same way on the page's
current LRU stack distance ``s`` (distinct pages requested since its latest request), and
replaces the point predictor's 1-bit channels, which it refines:

* ``discard_bit`` (8): ``P(D >= s + k | D >= s)``, the probability that the page is not back
  within the next k distinct pages (the discard bit's event, conditioned on now);
* ``phase_bit`` (9): the conditional expected remaining ``log2(1 + D)``, divided by
  ``never_log2``.

The distributions come from the trace causally (row ``t`` reads ``trace[:t + 1]``): no oracle.
"""
from __future__ import annotations

import math

import numpy as np
import torch
from numba import njit

from heurist.envs.paging.env import PagingEnv
from heurist.policies.paging.learned_ftp import _remaining

__all__ = ["LearnedInputsPagingEnv", "gap_distributions"]


@njit(cache=True)
def _conditional(probs, length, centres, slot_page, slot_last, t_now, done, feat):
    """Writes channels 5-7 of ``feat`` [B, k, F] from ``probs`` [B, T, C] (rows past a trace's
    length are never read)."""
    B, k = slot_page.shape
    n = centres.size - 1
    denom = max(k - 1, 1)
    m = np.empty(k)
    for b in range(B):
        if done[b]:
            continue
        t = t_now[b]
        for j in range(k):
            m[j] = np.inf
            if slot_page[b, j] < 0:
                continue
            r = slot_last[b, j]
            e = t - r
            m[j] = _remaining(probs[b], centres, r, e)
            u = math.log2(1.0 + e)
            passed = 0.0
            for c in range(n):
                if u >= c + 1:
                    passed += probs[b, r, c]
                elif u > c:
                    passed += probs[b, r, c] * (u - c)
            feat[b, j, 6] = min(m[j] / centres[n], 1.0)
            feat[b, j, 7] = min(passed, 1.0)
        for j in range(k):
            if slot_page[b, j] < 0:
                continue
            nearer = 0
            for i in range(k):
                if i != j and slot_page[b, i] >= 0 and m[i] < m[j]:
                    nearer += 1
            feat[b, j, 5] = nearer / denom


@njit(cache=True)
def _survival(p, v):
    """``P(x >= v)`` of bucket probabilities ``p`` [C] over ``log2(1 + x)`` ("never" counts as
    beyond), linear inside the bucket holding ``v``."""
    n = p.size - 1
    u = math.log2(1.0 + v)
    tot = p[n]
    for c in range(n):
        if u <= c:
            tot += p[c]
        elif u < c + 1:
            tot += p[c] * (c + 1 - u)
    return tot


@njit(cache=True)
def _conditional_distance(dprobs, centres, slot_page, slot_last, last_seen, t_now, done, feat):
    """Writes channels 8-9 of ``feat`` [B, k, F] from the reuse-distance distributions
    ``dprobs`` [B, T, C] and each slot's current stack distance (pages whose latest request is
    after the slot page's)."""
    B, k = slot_page.shape
    P = last_seen.shape[1]
    n = centres.size - 1
    for b in range(B):
        if done[b]:
            continue
        for j in range(k):
            if slot_page[b, j] < 0:
                continue
            r = slot_last[b, j]
            s = 0
            for q in range(P):
                if last_seen[b, q] > r:
                    s += 1
            p = dprobs[b, r]
            den = _survival(p, s)
            feat[b, j, 8] = 1.0 if den <= 1e-12 else min(_survival(p, s + k) / den, 1.0)
            feat[b, j, 9] = min(_remaining(dprobs[b], centres, r, s) / centres[n], 1.0)


def gap_distributions(predictor, traces: np.ndarray, length: np.ndarray, *,
                      which: int = 0) -> np.ndarray:
    """The predictor's gap (``which=0``) or reuse-distance (``which=1``) distribution of every
    request of every row -> float64 [B, T, C]; ``predictor``: a :class:`LearnedPagingPredictor`,
    or one wrapped with a ``predictor`` attribute (cached per trace)."""
    base = getattr(predictor, "predictor", predictor)
    cache = getattr(predictor, "dist_cache", None)
    rows = []
    for b in range(traces.shape[0]):
        tr = np.ascontiguousarray(traces[b, :int(length[b])], dtype=np.int64)
        key = (int(which), tr.tobytes())  # the bytes themselves: a hash could collide
        if cache is not None and key in cache:
            rows.append(cache[key])
            continue
        probs = base.distributions(tr)[int(which)]
        if cache is not None:
            cache[key] = probs
        rows.append(probs)
    C = rows[0].shape[1]
    out = np.zeros((traces.shape[0], traces.shape[1], C))
    for b, p in enumerate(rows):
        out[b, :p.shape[0]] = p
    return out


class LearnedInputsPagingEnv(PagingEnv):
    """:class:`PagingEnv` whose slot prediction channels are the learned predictor's conditional
    ones (module docstring). Keyword-only: ``cache_size``, ``predictor`` (the learned predictor,
    possibly cached), ``gap_features`` (the env's opt-in inter-arrival channels), ``distance``
    (the conditional reuse-distance channels 8-9, module docstring). Dynamics, rewards, teacher
    and oracles are the env's."""

    def __init__(self, *, cache_size: int = 10, predictor, gap_features: bool = False,
                 distance: bool = False) -> None:
        super().__init__(cache_size=cache_size, gap_features=gap_features)
        self.input_predictor = predictor
        self.distance = bool(distance)
        self._dprobs: np.ndarray | None = None
        from heurist.policies.paging.learned_predictor import N_BUCKETS

        base = getattr(predictor, "predictor", predictor)
        # The log2 value of each gap class, as LearnedFTP and the predictor use them.
        self.centres = np.append(np.arange(N_BUCKETS) + 0.5, float(base.net.config["never_log2"]))
        self._probs: np.ndarray | None = None  # [B, T, C] of the current episode

    def _reset_instance(self, instance):
        trace = instance["trace"].cpu().numpy()
        length = (instance["length"].cpu().numpy() if "length" in instance
                  else np.full(trace.shape[0], trace.shape[1]))
        self._probs = gap_distributions(self.input_predictor, trace, length)
        if self.distance:
            self._dprobs = gap_distributions(self.input_predictor, trace, length, which=1)
        return super()._reset_instance(instance)

    def _observe(self, reward):
        td = super()._observe(reward)
        s = self.state
        feat = td["slot_features"].numpy()
        _conditional(self._probs, s.length, self.centres, s.slot_page, s.slot_last, s.t, s.done,
                     feat)
        if self.distance:
            _conditional_distance(self._dprobs, self.centres, s.slot_page, s.slot_last,
                                  s.last_seen, s.t, s.done, feat)
        td["slot_features"] = torch.from_numpy(feat)
        return td

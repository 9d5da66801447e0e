"""Cost-sensitive Belady labels for paging imitation: the regret of every candidate victim.

At a decision (request ``t`` missed, cache full) evicting slot ``j`` and then playing Belady costs
``regret_j`` more than evicting Belady's own choice and then playing Belady (``regret = 0`` for
Belady's choice). With unit costs the regret is 0 or 1 (the two caches differ in one page; one
extra miss re-unites them), so imitation can target the whole zero-regret set instead of
only the farthest slot: every slot whose page Belady would drop before its next request anyway
is an equally good eviction, and cross-entropy to the farthest slot alone asks the policy to
guess a distinction that costs nothing (AggreVaTe-style cost-to-go labels).

The regret is exact: both caches are replayed with Belady in lockstep from ``t + 1`` until they
hold the same pages, or differ only in pages never requested again, or the trace ends. Uses the
true future of the trace: a teacher for training, never an input.
"""
from __future__ import annotations

import numpy as np
import torch
from numba import njit

__all__ = ["RegretTeacherEnv", "belady_regret", "zero_regret_mask"]


@njit(cache=True)
def _holds_live(x_pages, x_next, y_pages, length):
    """Whether every page of cache X still requested before ``length`` is also in cache Y."""
    k = x_pages.size
    for i in range(k):
        if x_next[i] < length:
            found = False
            for j in range(k):
                if y_pages[j] == x_pages[i]:
                    found = True
                    break
            if not found:
                return False
    return True


@njit(cache=True)
def _belady_step(pages, nxt, y, y_next):
    """Serves request ``y`` (next use ``y_next``) with Belady on a full cache; True on a miss."""
    k = pages.size
    for i in range(k):
        if pages[i] == y:
            nxt[i] = y_next
            return False
    far, v = -1, -1
    for i in range(k):
        if nxt[i] > far:
            far, v = nxt[i], i
    pages[v] = y
    nxt[v] = y_next
    return True


@njit(cache=True)
def _lockstep(trace, true_next, cost, length, t, a_pages, a_next, b_pages, b_next):
    """Replays Belady on caches A and B (pages / next use, full, ``k`` each, already holding the
    request ``t``) over ``trace[t + 1:length]`` until they merge; returns cost(B) - cost(A)."""
    diff = 0.0
    for s in range(t + 1, length):
        # Merged: the same pages, or the pages that differ are never requested again.
        if (_holds_live(a_pages, a_next, b_pages, length)
                and _holds_live(b_pages, b_next, a_pages, length)):
            return diff
        if _belady_step(a_pages, a_next, trace[s], true_next[s]):
            diff -= cost[s]
        if _belady_step(b_pages, b_next, trace[s], true_next[s]):
            diff += cost[s]
    return diff


@njit(cache=True)
def _regrets(trace, true_next, cost, length, slot_page, slot_next, t_now, done, out):
    """``out`` [B, k]: the regret of evicting each occupied slot (``inf`` when empty or done)."""
    B, k = slot_page.shape
    a_pages = np.empty(k, dtype=np.int64)
    a_next = np.empty(k, dtype=np.int64)
    b_pages = np.empty(k, dtype=np.int64)
    b_next = np.empty(k, dtype=np.int64)
    for b in range(B):
        for j in range(k):
            out[b, j] = np.inf
        if done[b]:
            continue
        t = t_now[b]
        n = length[b]
        far = -1
        jb = -1
        for j in range(k):
            if slot_page[b, j] >= 0 and slot_next[b, j] > far:
                far, jb = slot_next[b, j], j
        if jb < 0:
            continue
        for j in range(k):
            if slot_page[b, j] < 0:
                continue
            if slot_next[b, j] == far:  # Belady's choice, or a tie among dead pages
                out[b, j] = 0.0
                continue
            for i in range(k):
                a_pages[i] = slot_page[b, i]
                a_next[i] = slot_next[b, i]
                b_pages[i] = slot_page[b, i]
                b_next[i] = slot_next[b, i]
            a_pages[jb] = trace[b, t]
            a_next[jb] = true_next[b, t]
            b_pages[j] = trace[b, t]
            b_next[j] = true_next[b, t]
            out[b, j] = _lockstep(trace[b], true_next[b], cost[b], n, t, a_pages, a_next,
                                  b_pages, b_next)


def belady_regret(state) -> np.ndarray:
    """The regret of evicting each slot at the pending decision of a
    :class:`~heurist.envs.paging.state.PagingState` -> float64 [B, k] (``inf``: empty slot or
    done row)."""
    s = state
    out = np.empty(s.slot_page.shape, dtype=np.float64)
    _regrets(s.trace, s.true_next, s.cost.astype(np.float64), s.length, s.slot_page, s.slot_next,
             s.t, s.done, out)
    return out


def zero_regret_mask(state, *, tol: float = 1e-9) -> np.ndarray:
    """Every slot whose eviction costs nothing more than Belady's -> bool [B, k] (a superset of
    the env's ``opt_mask``; done rows: slot 0, as there)."""
    mask = belady_regret(state) <= tol
    mask[state.done.astype(bool), 0] = True
    return mask


class RegretTeacherEnv:
    """A paging env whose ``opt_mask`` is the zero-regret set (:func:`zero_regret_mask`) instead
    of the farthest slots; everything else (``opt_action`` included) is the wrapped env's."""

    def __init__(self, env) -> None:
        self.env = env

    def __getattr__(self, name):
        return getattr(self.env, name)

    def opt_mask(self) -> torch.Tensor:
        return torch.from_numpy(zero_regret_mask(self.env.state))

"""A fast greedy-rollout leaf value for Malloc mapping search (the same values as
``MallocEnv.greedy_rollout``, bit for bit, without moving the env).

The env's rollout steps the full env: per decision it walks the time-block index of placed
buffers (a buffer is listed in every block it covers, so on the training graphs, where weights,
gradients and optimizer state live across the whole program, one gather visits the same long
buffers hundreds of times), then fills the whole observation (K candidates, features, occupancy
and skyline bins) that a rollout never reads. Profiled on mobilenet_v2's training graph (N 1,940)
from the root: 0.26 s per rollout.

The greedy policy only needs the lowest canonical offset (action 0) or ``LEAVE_IN_SLOW`` when
there is none, so this kernel keeps the placed buffers in one list sorted by offset (with their
live ranges) and per decision sweeps it from address 0, skipping buffers not live with the
current one, until the first gap that fits: the sweep of ``candidates.candidate_offsets``
(whose first candidate does not depend on how ties in offset are ordered), and the same
``dynamics._move`` for the reward, summed in the same order. Only copies of the per-op byte counters are written; the env is untouched.
"""
from __future__ import annotations

import numpy as np
from numba import njit

from heurist.envs.malloc.dynamics import _move

__all__ = ["mapping_rollout", "mapping_rollout_rows"]


@njit(cache=True)
def _insert(n, lo, hi, s, e, pl_lo, pl_hi, pl_s, pl_e):
    """Inserts a placed buffer into the first ``n`` entries of the lists kept sorted by offset
    ``pl_lo`` (after its equals); returns the new length."""
    q = np.searchsorted(pl_lo[:n], lo, side="right")
    for r in range(n, q, -1):
        pl_lo[r] = pl_lo[r - 1]
        pl_hi[r] = pl_hi[r - 1]
        pl_s[r] = pl_s[r - 1]
        pl_e[r] = pl_e[r - 1]
    pl_lo[q], pl_hi[q], pl_s[q], pl_e[q] = lo, hi, s, e
    return n + 1


@njit(cache=True)
def _first_offset(n, pl_lo, pl_hi, pl_s, pl_e, s, e, sz, cap, align):
    """The lowest canonical feasible offset for a buffer of ``sz`` bytes live in ``[s, e)`` (the
    first candidate of ``candidates.candidate_offsets``), or -1 when there is none.

    The sweep of ``candidate_offsets`` over the placed buffers that overlap ``[s, e)`` in time,
    taken straight from the offset-sorted list (no gather, no sort) and stopped at the first gap
    that fits: a candidate at the aligned frontier needs ``x + sz <= lo`` of the next range."""
    frontier = 0
    for q in range(n):
        if pl_s[q] >= e or pl_e[q] <= s:
            continue
        lo = pl_lo[q]
        if lo > frontier:
            x = (frontier + align - 1) // align * align
            if x + sz <= lo and x + sz <= cap:
                return x
        hi = pl_hi[q]
        if hi > frontier:
            frontier = hi
            if frontier >= cap:  # every placed range lies below cap: no later gap can fit
                return -1
    if cap > frontier:
        x = (frontier + align - 1) // align * align
        if x + sz <= cap:
            return x
    return -1


@njit(cache=True)
def mapping_rollout_rows(size, start, end, order, n_valid, pos, off, cap, align, ptr, u_op,
                         u_bytes, comp, op_fast, op_slow, bwf, bws, t_slow, done, returns):
    """Plays every row of a Malloc *mapping* state [B] greedily to its end (lowest feasible
    offset, else slow) and writes each row's return from here to ``returns`` float64 [B].

    ``op_fast``/``op_slow`` [B, O] are modified: pass copies. Every other array is read only.
    """
    B, N = size.shape
    # placed buffers sorted by offset: address range [lo, hi), live range [s, e)
    pl_lo = np.empty(N, np.int64)
    pl_hi = np.empty(N, np.int64)
    pl_s = np.empty(N, np.int64)
    pl_e = np.empty(N, np.int64)
    for i in range(B):
        returns[i] = 0.0
        if done[i]:
            continue
        n = 0
        for j in range(n_valid[i]):
            if off[i, j] >= 0:
                n = _insert(n, off[i, j], off[i, j] + size[i, j], start[i, j], end[i, j],
                            pl_lo, pl_hi, pl_s, pl_e)
        ret = 0.0
        for p in range(pos[i], n_valid[i]):
            b = order[i, p]
            s, e, sz = start[i, b], end[i, b], size[i, b]
            x = _first_offset(n, pl_lo, pl_hi, pl_s, pl_e, s, e, sz, cap[i], align[i])
            r = 0.0
            if x >= 0:
                n = _insert(n, x, x + sz, s, e, pl_lo, pl_hi, pl_s, pl_e)
                r = _move(i, b, True, ptr, u_op, u_bytes, comp, op_fast, op_slow, bwf, bws)
                r = r / t_slow[i] if t_slow[i] > 0 else 0.0
            ret += r  # a slow buffer adds 0.0, as the env's reward for LEAVE_IN_SLOW
        returns[i] = ret
    return returns


def mapping_rollout(env) -> np.ndarray:
    """``float64 [B]``: the return of the greedy rollout from the current state of a Malloc
    mapping env's rows, equal to ``env.greedy_rollout()``'s, but the env is left where it is."""
    if not env.mapping:
        raise ValueError("mapping_rollout: the env is in packing mode")
    s = env.state
    returns = np.zeros(s.done.shape[0], np.float64)
    mapping_rollout_rows(s.size, s.start, s.end, s.order, s.n_valid, s.pos, s.off, s.cap,
                         s.align, s.ptr, s.u_op, s.u_bytes, s.comp, s.op_fast.copy(),
                         s.op_slow.copy(), s.bwf, s.bws, s.t_slow, s.done, returns)
    return returns

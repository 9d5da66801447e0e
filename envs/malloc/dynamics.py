"""The malloc env's per-row dynamics in numba: one decision, and the observation after it.

All arrays are ``[B, ...]`` fields of the env's :class:`~heurist.envs.malloc.state.MallocState`.
Placement codes in ``off``: ``>= 0`` fast-memory offset, ``-1`` slow, ``-2`` undecided.
"""
from __future__ import annotations

import numpy as np
from numba import njit

from heurist.envs.malloc.candidates import (
    candidate_offsets,
    gather,
    index_add,
    index_remove,
    sort_gathered,
)

__all__ = ["UNDECIDED", "greedy_rows", "observe_row", "observe_rows", "op_time", "step_rows"]

UNDECIDED = -2


@njit(cache=True)
def op_time(comp, fast, slow, bwf, bws):
    """Roofline seconds of one op (the cost model's formula)."""
    return max(comp, fast / bwf + slow / bws)


@njit(cache=True)
def observe_row(i, mapping, undo_on, n_cand_slots, size, start, end, order, n_valid, pos, off,
                cap, align, n_steps, saving, peak, saved, undos_left, max_undos, done,
                bs, head, pool_buf, pool_next, stamp, ctr, g_off, g_top, g_start, g_end,
                cand_off, cand_gap, n_cand, mask, buf_feat, cand_feat, occ, sky, prog):
    """Fills row ``i``'s candidates, mask and features; returns the number of candidates."""
    mask[i, :] = False
    buf_feat[i, :, :] = 0.0
    cand_feat[i, :, :] = 0.0
    occ[i, :] = 0.0
    sky[i, :] = 0.0
    c = max(cap[i], 1)
    nv = max(n_valid[i], 1)
    prog[i, 0] = pos[i] / nv
    prog[i, 1] = peak[i] / c
    prog[i, 2] = saved[i]
    prog[i, 3] = undos_left[i] / max(max_undos, 1)
    if done[i]:
        n_cand[i] = 0
        mask[i, 0] = True
        return 0
    b = order[i, pos[i]]
    s, e = start[i, b], end[i, b]
    m = gather(i, s, e, start, end, off, size, bs, head, pool_buf, pool_next, stamp, ctr,
               g_off, g_top, g_start, g_end)
    sort_gathered(i, m, g_off, g_top, g_start, g_end)
    n = candidate_offsets(i, m, size[i, b], cap[i], align[i], g_off, g_top, cand_off, cand_gap,
                          occ)
    n_cand[i] = n
    for k in range(n):
        mask[i, k] = True
        cand_feat[i, k, 0] = cand_off[i, k] / c
        cand_feat[i, k, 1] = (cand_off[i, k] + size[i, b]) / c
        cand_feat[i, k, 2] = cand_gap[i, k] / c
        cand_feat[i, k, 3] = 1.0
    slot = n_cand_slots
    if mapping:
        mask[i, slot] = True
        slot += 1
    if undo_on:
        mask[i, slot] = pos[i] > 0 and undos_left[i] > 0
    # time skyline: the highest occupied address in each time bin of [s, e)
    n_bins = sky.shape[1]
    span = e - s
    for r in range(m):
        q0 = (max(g_start[i, r], s) - s) * n_bins // span
        q1 = ((min(g_end[i, r], e) - s) * n_bins + span - 1) // span
        for q in range(q0, min(q1, n_bins)):
            sky[i, q] = max(sky[i, q], g_top[i, r] / c)
    t = max(n_steps[i], 1)
    for l in range(buf_feat.shape[1]):
        p = pos[i] + l
        if p >= n_valid[i]:
            break
        bb = order[i, p]
        buf_feat[i, l, 0] = size[i, bb] / c
        buf_feat[i, l, 1] = start[i, bb] / t
        buf_feat[i, l, 2] = end[i, bb] / t
        buf_feat[i, l, 3] = (end[i, bb] - start[i, bb]) / t
        buf_feat[i, l, 4] = saving[i, bb]
        buf_feat[i, l, 5] = 1.0
    return n


@njit(cache=True)
def _move(i, b, to_fast, ptr, u_op, u_bytes, comp, op_fast, op_slow, bwf, bws):
    """Moves buffer ``b``'s use bytes between slow and fast; returns the seconds saved."""
    saved = 0.0
    for k in range(ptr[i, b], ptr[i, b + 1]):
        o = u_op[i, k]
        before = op_time(comp[i, o], op_fast[i, o], op_slow[i, o], bwf[i], bws[i])
        if to_fast:
            op_fast[i, o] += u_bytes[i, k]
            op_slow[i, o] -= u_bytes[i, k]
        else:
            op_fast[i, o] -= u_bytes[i, k]
            op_slow[i, o] += u_bytes[i, k]
        saved += before - op_time(comp[i, o], op_fast[i, o], op_slow[i, o], bwf[i], bws[i])
    return saved


@njit(cache=True)
def step_rows(actions, mapping, undo_on, n_cand_slots, size, start, end, order, n_valid, pos,
              off, cap, align, ptr, u_op, u_bytes, comp, op_fast, op_slow, bwf, bws, t_slow,
              total_bytes, peak, peak_stack, reward_stack, saved, undos_left, done, failed,
              bs, head, pool_buf, pool_next, pool_top, cand_off, n_cand, reward):
    """Applies one action per row (before the new observation). Returns the first row whose
    action was illegal, or -1. ``reward[i]`` gets the step reward; a packing dead end is handled
    by ``observe_rows``."""
    leave = n_cand_slots
    undo = n_cand_slots + (1 if mapping else 0)
    for i in range(actions.shape[0]):
        reward[i] = 0.0
        if done[i]:
            if actions[i] != 0:
                return i
            continue
        a = actions[i]
        p = pos[i]
        if a < n_cand_slots:
            if a >= n_cand[i]:
                return i
            b = order[i, p]
            x = cand_off[i, a]
            off[i, b] = x
            index_add(i, b, start, end, bs, head, pool_buf, pool_next, pool_top)
            peak_stack[i, p] = peak[i]
            top = x + size[i, b]
            if mapping:
                r = _move(i, b, True, ptr, u_op, u_bytes, comp, op_fast, op_slow, bwf, bws)
                r = r / t_slow[i] if t_slow[i] > 0 else 0.0
                peak[i] = max(peak[i], top)
            else:
                r = -(max(peak[i], top) - peak[i]) / max(cap[i], 1)
                peak[i] = max(peak[i], top)
            reward_stack[i, p] = r
            pos[i] = p + 1
        elif mapping and a == leave:
            b = order[i, p]
            off[i, b] = -1
            peak_stack[i, p] = peak[i]
            reward_stack[i, p] = 0.0
            r = 0.0
            pos[i] = p + 1
        elif undo_on and a == undo:
            if p == 0 or undos_left[i] <= 0:
                return i
            p -= 1
            b = order[i, p]
            if off[i, b] >= 0:
                index_remove(i, b, start, end, bs, head, pool_buf, pool_next, pool_top)
                if mapping:
                    _move(i, b, False, ptr, u_op, u_bytes, comp, op_fast, op_slow, bwf, bws)
            off[i, b] = UNDECIDED
            peak[i] = peak_stack[i, p]
            r = -reward_stack[i, p]
            undos_left[i] -= 1
            pos[i] = p
        else:
            return i
        saved[i] += r if mapping else 0.0
        reward[i] = r
        if pos[i] >= n_valid[i]:
            done[i] = True
    return -1


@njit(cache=True)
def observe_rows(mapping, undo_on, n_cand_slots, size, start, end, order, n_valid, pos, off,
                 cap, align, n_steps, saving, peak, saved, undos_left, max_undos, done, failed,
                 total_bytes, bs, head, pool_buf, pool_next, stamp, ctr, g_off, g_top, g_start,
                 g_end, cand_off, cand_gap, n_cand, mask, buf_feat, cand_feat, occ, sky, prog,
                 reward):
    """Observes every row; a packing row whose current buffer fits nowhere and cannot UNDO
    ends with the penalty ``-(1 + unplaced bytes / total bytes)`` added to ``reward``."""
    for i in range(done.shape[0]):
        n = observe_row(i, mapping, undo_on, n_cand_slots, size, start, end, order, n_valid, pos,
                        off, cap, align, n_steps, saving, peak, saved, undos_left, max_undos,
                        done, bs, head, pool_buf, pool_next, stamp, ctr, g_off, g_top, g_start,
                        g_end, cand_off, cand_gap, n_cand, mask, buf_feat, cand_feat, occ, sky,
                        prog)
        if done[i] or mapping or n > 0:
            continue
        if undo_on and pos[i] > 0 and undos_left[i] > 0:
            continue  # dead end, but UNDO is legal (the mask allows only it)
        unplaced = 0
        for p in range(pos[i], n_valid[i]):
            unplaced += size[i, order[i, p]]
        reward[i] += -(1.0 + unplaced / max(total_bytes[i], 1))
        done[i] = True
        failed[i] = True
        observe_row(i, mapping, undo_on, n_cand_slots, size, start, end, order, n_valid, pos,
                    off, cap, align, n_steps, saving, peak, saved, undos_left, max_undos, done,
                    bs, head, pool_buf, pool_next, stamp, ctr, g_off, g_top, g_start, g_end,
                    cand_off, cand_gap, n_cand, mask, buf_feat, cand_feat, occ, sky, prog)


@njit(cache=True)
def greedy_rows(mapping, undo_on, n_cand_slots, size, start, end, order, n_valid, pos, off, cap,
                align, n_steps, saving, ptr, u_op, u_bytes, comp, op_fast, op_slow, bwf, bws,
                t_slow, total_bytes, peak, peak_stack, reward_stack, saved, undos_left, max_undos,
                done, failed, bs, head, pool_buf, pool_next, pool_top, stamp, ctr, g_off, g_top,
                g_start, g_end, cand_off, cand_gap, n_cand, mask, buf_feat, cand_feat, occ, sky,
                prog, reward, returns):
    """Plays every row to its end with the lowest legal action, all inside numba (the same
    ``step_rows``/``observe_rows`` as ``env.step``); ``returns[i]`` gets each row's return.
    Returns the number of steps."""
    B = done.shape[0]
    actions = np.zeros(B, np.int64)
    t = 0
    while not done.all():
        for i in range(B):
            actions[i] = 0
            for a in range(mask.shape[1]):
                if mask[i, a]:
                    actions[i] = a
                    break
        step_rows(actions, mapping, undo_on, n_cand_slots, size, start, end, order, n_valid, pos,
                  off, cap, align, ptr, u_op, u_bytes, comp, op_fast, op_slow, bwf, bws, t_slow,
                  total_bytes, peak, peak_stack, reward_stack, saved, undos_left, done, failed,
                  bs, head, pool_buf, pool_next, pool_top, cand_off, n_cand, reward)
        observe_rows(mapping, undo_on, n_cand_slots, size, start, end, order, n_valid, pos, off,
                     cap, align, n_steps, saving, peak, saved, undos_left, max_undos, done,
                     failed, total_bytes, bs, head, pool_buf, pool_next, stamp, ctr, g_off, g_top,
                     g_start, g_end, cand_off, cand_gap, n_cand, mask, buf_feat, cand_feat, occ,
                     sky, prog, reward)
        for i in range(B):
            returns[i] += reward[i]
        t += 1
    return t

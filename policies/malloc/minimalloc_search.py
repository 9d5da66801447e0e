"""Exact packing by MiniMalloc-style search over canonical solutions (after Moffitt, ASPLOS 2023).

**Canonical solutions.** Push every buffer of a packing down until it rests on another one (or
on 0) and list the buffers by (offset, rank). In that order each buffer sits exactly on the
*skyline* of the earlier ones over its span (the highest top of an earlier buffer live with it),
and the offsets never decrease. So the search places, one buffer per step, any unplaced buffer
at its skyline offset ``o``, provided ``o`` is not below the last placed offset ``L`` (and, when
``o == L``, its rank is above the last one's; identical buffers go in rank order). This is
complete: every packing has a canonical twin that is a leaf of the tree.

**Section inference** (sound cuts). Time is cut into sections between buffer endpoints. Every
unplaced buffer ``b`` will sit at ``e_b = max(L, skyline over its span) or higher``, and the
unplaced buffers of a section are disjoint in address, so a section ``k`` needs
``min_b e_b + rem_k <= C`` (``rem_k``: its unplaced bytes), and each buffer ``e_b + size_b <= C``.
On zero-slack sections this leaves no room for any gap: it is what makes MiniMalloc's
challenging instances easy. A candidate whose offset exceeds ``C - max_k rem_k`` is skipped
(its child would fail that test at once). A buffer whose skyline is below ``L`` (or at ``L``
with a lower rank than the last) can only rest on an unplaced buffer live with it, so its ``e`` is
at least the least ``e + size`` of those.

**Decomposition.** When no unplaced buffer crosses a section boundary, the time ranges are
independent: they are solved one after another (each from the current ``L``), and one that fails
fails the node that split them.

**Dominance** (MiniMalloc's gap check). Among all packings take one with the least sum of
offsets: listed canonically, no unplaced buffer ``b`` ever has ``off_b + size_b <= o`` for the
next offset ``o`` (it could drop to its skyline, under every later buffer, lowering the sum). So
no child is tried at or above ``min (off_b + size_b)`` over the active buffers. **Hatless**: a
buffer live with no other unplaced buffer keeps its skyline for good and, in that packing, sits
exactly there, so no child after it in (offset, rank) order is tried (MiniMalloc breaks after a
failed hatless child; this cuts the same branches before they are tried). **Monotonic floor**
(``e_b >= L``) and **unallocated floor** (a section's floor is its lowest ``e_b``) are the
section inference above; **dynamic ordering** tries children by (offset, rank) rather than by
rank. **Re-ranking** (``rerank``, as MiniMalloc re-sorts each sub-problem): when a component
becomes active its buffers are re-sorted by the static order with ``T`` taken from the bytes
still unplaced, keeping the rank values they held; the tie rule at ``L`` restarts there, and the
assignment is hashed into the memo key. **Tightest**: components are solved least slack first
(else left to right, as MiniMalloc). Each rule can be switched off (``rules=``) to measure what
it buys; every combination is complete.

**Cover branching** (``cover``, for zero-slack tilings): a busy section with ``rem_k == C - L``
is filled exactly from ``L`` up in every packing below the node, so exactly one unplaced buffer
lies at ``L`` over it; the node branches on which (the section with the fewest such buffers,
as in exact cover), keeping its parent's tie rule at ``L``. A partition of the node's packings,
so complete; it runs as a second portfolio member per order (see ``minimalloc_pack``).
**Wells** (``wells``): a run of sections of one floor ``f >= L`` between walls (higher floors,
finished sections, the active range's border) whose tight sections must be covered at ``f`` by
buffers inside it, disjoint in time: a 1-D reachability test over the run.

**Memo.** A state whose subtree was exhausted (placed set, skyline, ``L``, last rank) is hashed
(64 bits) and not searched again; a collision could wrongly prune (probability ~2**-64 per
lookup). Everything else is exhaustive, so ``infeasible`` is a proof; ``feasible`` packings are
re-checked by ``check_plan`` in the registry and tests. Bounded by a node count: deterministic.
"""
from __future__ import annotations

import numpy as np
from numba import njit

from heurist.envs.malloc.instance import MallocInstance
from heurist.envs.malloc.peak import peak_live_bytes
from heurist.policies.malloc.filler_search import filler_pack, perfect_tiling
from heurist.policies.malloc.geometry import compressed_times
from heurist.policies.malloc.search_common import (
    SkylineResult,
    grow,
    memo_slot,
    node_budget,
    prepare_search,
    section_index,
    span_max,
)

__all__ = ["FILLER_ORDERS", "MINIMALLOC_NODES_PER_SECOND", "MINIMALLOC_ORDERS", "RULES",
           "minimalloc_pack", "minimalloc_plan"]

RULES = ("dominance", "hatless", "monotonic", "unallocated", "dynamic", "decompose", "memo",
         "tightest", "rerank", "cover", "wells", "filler")
"""The search rules ``minimalloc_pack(rules=...)`` can switch off one by one (ablation; each
keeps the search complete): see the module doc. All are on by default."""
(_DOMINANCE, _HATLESS, _MONOTONIC, _UNALLOCATED, _DYNAMIC, _DECOMPOSE, _MEMO, _TIGHTEST,
 _RERANK, _COVER, _WELLS, _FILLER) = (1 << i for i in range(len(RULES)))

MINIMALLOC_ORDERS = ("TLA", "TAL", "LAT")
"""The default static-order portfolio (see ``_ranks``): MiniMalloc's TWA, TAW and WAT (its ``W``
is the lifespan's length, our ``L``), tried in this order (on A..K the fewest nodes in all of the
orders of the three and of portfolios with ``AW``, ``Tla``)."""

FILLER_ORDERS = ("TLA", "TAL", "LAT", "ATL", "WTL")
"""The static orders of the elastic-filler members on perfect tilings when ``order`` is the
default: MiniMalloc's three, then area-first and size-first (the filler search's runs are
heavy-tailed and differ by order: on the tests family's N=400 seed 0 only ``ATL``, ``WTL`` and
``aTL`` of ten orders pack within 100,000 nodes, in 21,551-27,807)."""

MINIMALLOC_NODES_PER_SECOND = 50_000
"""``minimalloc_plan`` turns ``time_limit`` into this many nodes per second (deterministic;
rates measured on A..K span 15,000-500,000 nodes/s on one core, so a limit is approximate)."""

# The kernels below share the search's arrays: ``size``, ``lo``, ``hi`` (buffer spans in
# sections), ``placed``, ``floor`` (skyline height per section), ``rem`` (unplaced bytes per
# section), the active component ``[A0, A1)`` of sections, ``L`` (last offset) and ``last``
# (last buffer, -1 at the root). "Active" buffers are the unplaced ones inside ``[A0, A1)``.


@njit(cache=True, inline="always")
def _place(b, d, size, lo, hi, floor, rem, placed, save, save_ptr, zob, lin, h_set, h_floor,
           out):
    """Puts ``b`` on the skyline at depth ``d`` (saving the floors it covers for ``_undo``);
    returns its offset and the updated hashes."""
    o = span_max(floor, lo[b], hi[b])
    placed[b] = True
    h_set ^= zob[b]
    out[b] = o
    p = save_ptr[d]
    for k in range(lo[b], hi[b]):
        save[p] = floor[k]
        p += 1
        h_floor += (o + size[b] - floor[k]) * lin[k]
        floor[k] = o + size[b]
        rem[k] -= size[b]
    save_ptr[d + 1] = p
    return o, h_set, h_floor


@njit(cache=True, inline="always")
def _undo(b, d, size, lo, hi, floor, rem, placed, save, save_ptr, zob, lin, h_set, h_floor):
    """Takes back ``_place(b, d, ...)``; returns the restored hashes."""
    placed[b] = False
    h_set ^= zob[b]
    p = save_ptr[d]
    for k in range(lo[b], hi[b]):
        h_floor += (save[p] - floor[k]) * lin[k]
        floor[k] = save[p]
        rem[k] += size[b]
        p += 1
    return h_set, h_floor


@njit(cache=True, inline="always")
def _skyline_offsets(size, lo, hi, placed, floor, off, A0, A1, L, cap):
    """``off[b]`` := the skyline over ``b``'s span, for every active buffer; False as soon as
    one cannot fit even at ``max(off, L)`` (``L`` = 0 without the monotonic floor)."""
    for b in range(len(size)):
        if placed[b] or lo[b] < A0 or hi[b] > A1:
            continue
        off[b] = span_max(floor, lo[b], hi[b])
        if max(off[b], L) + size[b] > cap:
            return False
    return True


@njit(cache=True, inline="always")
def _lowest_rest(size, lo, hi, live_ptr, live_idx, rank, placed, rem, off, ev, best1, best2,
                 id1, A0, A1, L, last, cap, rules):
    """``ev[b]`` := the lowest offset each active buffer can still take. At its skyline when
    that is above ``L`` (or at ``L`` with a rank above the last one's: ties go in rank order);
    else it can only rest on an unplaced buffer live with it: the least ``e + size`` of those
    (per section the two least, so a buffer never rests on itself). False when one cannot fit."""
    big = np.int64(4 * cap + 4)
    if not rules & _MONOTONIC:
        # Without the monotonic floor nothing is known beyond the skyline.
        for b in range(len(size)):
            if not placed[b] and lo[b] >= A0 and hi[b] <= A1:
                ev[b] = off[b]
        return True
    for k in range(A0, A1):
        best1[k] = big
        best2[k] = big
        id1[k] = -1
        if rem[k] == 0:
            continue
        for p in range(live_ptr[k], live_ptr[k + 1]):
            b = live_idx[p]
            if placed[b]:
                continue
            v = max(off[b], L) + size[b]
            if v < best1[k]:
                best2[k] = best1[k]
                best1[k] = v
                id1[k] = b
            elif v < best2[k]:
                best2[k] = v
    last_rank = rank[last] if last >= 0 else -1
    for b in range(len(size)):
        if placed[b] or lo[b] < A0 or hi[b] > A1:
            continue
        if off[b] > L or (off[b] == L and rank[b] > last_rank):
            ev[b] = off[b]
            continue
        r = big
        for k in range(lo[b], hi[b]):
            r = min(r, best2[k] if id1[k] == b else best1[k])
        ev[b] = r
        if r + size[b] > cap:
            return False
    return True


@njit(cache=True, inline="always")
def _section_slack(live_ptr, live_idx, placed, rem, ev, floor, slack, A0, A1, L, cap, rules):
    """``slack[k]`` := ``C - (lowest reachable height + unplaced bytes)`` of each busy active
    section; False as soon as one is negative (the unplaced bytes cannot fit). The lowest
    height is the least ``e_b`` of the section's unplaced buffers (unallocated floor), else the
    section's own floor (raised to ``L`` by the monotonic floor)."""
    for k in range(A0, A1):
        if rem[k] == 0:
            continue
        if not rules & _UNALLOCATED:
            low = max(floor[k], L) if rules & _MONOTONIC else floor[k]
            slack[k] = cap - low - rem[k]
            if slack[k] < 0:
                return False
            continue
        low = cap
        for p in range(live_ptr[k], live_ptr[k + 1]):
            b = live_idx[p]
            if not placed[b] and ev[b] < low:
                low = ev[b]
        slack[k] = cap - low - rem[k]
        if slack[k] < 0:
            return False
    return True


@njit(cache=True, inline="always")
def _wells_tileable(size, lo, hi, live_ptr, live_idx, rank, placed, floor, rem, reach, A0, A1,
                    L, last, cap):
    """Well test: False when some *closed well* cannot be tiled. A well is a maximal run
    ``[s, e)`` of busy active sections of one floor ``f >= L`` whose neighbours are walls (a
    higher floor, a finished section, or the active range's border: no unplaced buffer crosses
    one). In a *tight* section of it (``rem_k == C - f``) the unplaced buffers fill ``[f, C)``
    exactly, so one lies at exactly ``f``; a buffer at ``f`` over the well cannot cross its walls,
    and those at ``f`` are disjoint in time. So the spans of the unplaced buffers inside the well
    (at ``f == L`` only ranks above the last's: the tie rule) must tile it, tight sections
    covered, others maybe not: a 1-D reachability over the well's sections."""
    last_rank = rank[last] if last >= 0 else -1
    s = A0
    while s < A1:
        if rem[s] == 0:
            s += 1
            continue
        f = floor[s]
        e = s + 1
        while e < A1 and rem[e] > 0 and floor[e] == f:
            e += 1
        closed = (f >= L and (s == A0 or rem[s - 1] == 0 or floor[s - 1] > f)
                  and (e == A1 or rem[e] == 0 or floor[e] > f))
        tight = False
        for k in range(s, e):
            if rem[k] == cap - f:
                tight = True
                break
        if closed and tight:
            for k in range(s, e + 1):
                reach[k] = False
            reach[s] = True
            for k in range(s, e):
                if not reach[k]:
                    continue
                if rem[k] != cap - f:
                    reach[k + 1] = True
                for p in range(live_ptr[k], live_ptr[k + 1]):
                    b = live_idx[p]
                    if (lo[b] == k and not placed[b] and hi[b] <= e
                            and (f > L or rank[b] > last_rank)):
                        reach[hi[b]] = True
            if not reach[e]:
                return False
        s = e
    return True


@njit(cache=True, inline="always")
def _mark_crossings(lo, hi, placed, cross, A0, A1):
    """``cross[k]`` (after a prefix sum from ``A0``): active buffers spanning boundary ``k``."""
    for k in range(A0, A1 + 1):
        cross[k] = 0
    for b in range(len(lo)):
        if placed[b] or lo[b] < A0 or hi[b] > A1 or hi[b] - lo[b] < 2:
            continue
        cross[lo[b] + 1] += 1
        cross[hi[b]] -= 1


@njit(cache=True, inline="always")
def _tightest_component(rem, slack, cross, A0, A1, cap, tightest):
    """Of the independent components of ``[A0, A1)`` (no active buffer crosses their borders),
    the one with the least slack (the leftmost busy one unless ``tightest``), and how many busy
    ones there are: ``(s0, s1, count)``."""
    best_s = -1
    best_e = -1
    best_slack = cap + 1
    n_comp = 0
    s0 = A0
    run = 0
    for k in range(A0, A1 + 1):
        if k > A0:
            run += cross[k]
        if k == A1 or (k > A0 and run == 0):
            if k > s0:
                mn = cap + 1
                for q in range(s0, k):
                    if rem[q] > 0 and slack[q] < mn:
                        mn = slack[q]
                if mn <= cap:
                    n_comp += 1
                    if mn < best_slack and (tightest or best_s < 0):
                        best_slack = mn
                        best_s = s0
                        best_e = k
            s0 = k
    return best_s, best_e, n_comp


@njit(cache=True, inline="always")
def _push_others(rem, cross, pend, ptop, A0, A1, best_s, L, d, h_ctx, mul, tightest):
    """Pushes every busy component of ``[A0, A1)`` but the one starting at ``best_s`` on the
    pending stack (each with ``L`` and the node ``d`` that split it), the rightmost on top if
    ``tightest``, else the leftmost; returns ``(ptop, h_ctx)``."""
    p0 = ptop
    s0 = A0
    run = 0
    for k in range(A0, A1 + 1):
        if k > A0:
            run += cross[k]
        if k == A1 or (k > A0 and run == 0):
            if k > s0 and s0 != best_s:
                busy = False
                for q in range(s0, k):
                    if rem[q] > 0:
                        busy = True
                        break
                if busy:
                    pend[ptop, 0] = s0
                    pend[ptop, 1] = k
                    pend[ptop, 2] = L
                    pend[ptop, 3] = d
                    ptop += 1
                    h_ctx ^= s0 * mul[0] + k * mul[1] + L * mul[2]
            s0 = k
    # Pushed left to right: reversed, so they are popped left to right.
    i, j = p0, ptop - 1 if not tightest else p0
    while i < j:
        for c in range(4):
            pend[i, c], pend[j, c] = pend[j, c], pend[i, c]
        i += 1
        j -= 1
    return ptop, h_ctx


@njit(cache=True, inline="always")
def _cover_ok(b, placed, off, rank, prev_same, L, last_rank):
    """Whether unplaced ``b`` can be the buffer at exactly ``L`` (its skyline is ``L``, the tie
    rule at ``L`` and the identical-buffer order allow it)."""
    return (not placed[b] and off[b] == L and rank[b] > last_rank
            and (prev_same[b] < 0 or placed[prev_same[b]]))


@njit(cache=True, inline="always")
def _cover_candidates(size, lo, hi, live_ptr, live_idx, rank, by_rank, prev_same, placed, off,
                      rem, A0, A1, L, last, cap, rules, keys, cand, top):
    """Cover branching (exact-cover style, fewest choices first): a busy active section with
    ``rem_k == C - L`` is filled exactly from ``L`` to ``C`` in every packing below this node
    (its unplaced buffers all sit at ``>= L`` and are disjoint in address), so some unplaced
    buffer lies at exactly ``L`` over it, and exactly one. Branching on *which* one partitions the
    packings. Of those sections, the one with the fewest such buffers is chosen; its buffers
    (skyline ``L``, tie and identical-buffer rules as for canonical children) are appended to
    ``cand`` from ``top`` in rank order. Returns their count (0: the node is dead), or -1 when no
    section qualifies (canonical branching then)."""
    last_rank = rank[last] if last >= 0 else -1
    best_k = -1
    best_c = len(placed) + 1
    for k in range(A0, A1):
        if rem[k] == 0 or rem[k] != cap - L:
            continue
        c = 0
        for p in range(live_ptr[k], live_ptr[k + 1]):
            if _cover_ok(live_idx[p], placed, off, rank, prev_same, L, last_rank):
                c += 1
                if c >= best_c:
                    break
        if c < best_c:
            best_c = c
            best_k = k
            if c <= 1:
                break
    if best_k < 0:
        return -1
    if best_c > 0 and rules & _DOMINANCE:
        # The children lie at L: dominance kills them all if an active buffer fits below L.
        for b in range(len(size)):
            if not placed[b] and lo[b] >= A0 and hi[b] <= A1 and off[b] + size[b] <= L:
                return 0
    m = 0
    for p in range(live_ptr[best_k], live_ptr[best_k + 1]):
        b = live_idx[p]
        if _cover_ok(b, placed, off, rank, prev_same, L, last_rank):
            keys[m] = rank[b]
            m += 1
    srt = np.sort(keys[:m])
    for i in range(m):
        cand[top + i] = by_rank[srt[i]]
    return m


@njit(cache=True, inline="always")
def _candidates(size, lo, hi, rank, by_rank, prev_same, placed, off, rem, A0, A1, L, last, cap,
                rules, keys, cand, top):
    """Appends the node's children to ``cand`` from ``top``: active buffers whose skyline offset
    lies in ``[L, C - max rem]`` (at ``L`` only ranks above the last's; identical buffers in rank
    order), by (offset, rank) (by rank alone without dynamic ordering). Returns their count;
    ``cand`` must have room for ``N`` more.

    Dominance: no child at or above ``min (off_b + size_b)`` over the active buffers (the
    lowest top an unplaced buffer could have): it would leave a gap that buffer fits in.
    Hatless: a buffer live with no other unplaced one keeps its skyline for good, so it goes at
    exactly ``off_b``: no child after it in (offset, rank) order."""
    n = len(size)
    max_rem = 0
    for k in range(A0, A1):
        max_rem = max(max_rem, rem[k])
    hi_off = cap - max_rem
    hat_key = np.int64(-1)
    if rules & (_DOMINANCE | _HATLESS):
        for b in range(n):
            if placed[b] or lo[b] < A0 or hi[b] > A1:
                continue
            if rules & _DOMINANCE:
                hi_off = min(hi_off, off[b] + size[b] - 1)
            if rules & _HATLESS:
                alone = True
                for k in range(lo[b], hi[b]):
                    if rem[k] != size[b]:  # sizes are > 0: another unplaced buffer is live
                        alone = False
                        break
                if alone:
                    kb = off[b] * (n + 1) + rank[b]
                    if hat_key < 0 or kb < hat_key:
                        hat_key = kb
    m = 0
    last_rank = rank[last] if last >= 0 else -1
    for b in range(n):
        if placed[b] or lo[b] < A0 or hi[b] > A1:
            continue
        o = off[b]
        if o < L or o > hi_off:
            continue
        if o == L and rank[b] < last_rank:
            continue
        if prev_same[b] >= 0 and not placed[prev_same[b]]:
            continue
        kb = o * (n + 1) + rank[b]
        if hat_key >= 0 and kb > hat_key:
            continue
        keys[m] = kb if rules & _DYNAMIC else rank[b]
        m += 1
    srt = np.sort(keys[:m])
    for i in range(m):
        r = srt[i] % (n + 1) if rules & _DYNAMIC else srt[i]
        cand[top + i] = by_rank[r]
    return m


@njit(cache=True, inline="always")
def _rerank(size, lo, hi, placed, rem, A0, A1, rank, by_rank, crit, tpos, rsave, rs_top, zr):
    """Re-sorts the active buffers by the static order with ``T`` taken from the current
    unplaced bytes (as MiniMalloc does for each sub-problem), giving them the rank values they
    held (a ``P`` column keeps the caller's priority: only ``T`` changes); saves
    ``(buffer, old rank)`` pairs on ``rsave`` from ``rs_top``. Returns the new top,
    ``rsave`` (grown if needed) and a hash of the assignment."""
    n = len(size)
    comp = np.empty(n, dtype=np.int64)
    m = 0
    for r in range(n):
        b = by_rank[r]
        if not placed[b] and lo[b] >= A0 and hi[b] <= A1:
            comp[m] = b
            m += 1
    h = np.int64(0)
    if m < 2:
        return rs_top, rsave, h
    comp = comp[:m]
    vals = np.empty(m, dtype=np.int64)
    for i in range(m):
        vals[i] = rank[comp[i]]
    key = np.empty(m, dtype=np.int64)
    for c in range(crit.shape[1] - 1, -1, -1):
        for i in range(m):
            b = comp[i]
            if c == tpos:
                pr = 0
                for k in range(lo[b], hi[b]):
                    pr = max(pr, rem[k])
                key[i] = -pr
            else:
                key[i] = crit[b, c]
        comp = comp[np.argsort(key, kind="mergesort")]
    while rs_top + 2 * m > len(rsave):
        rsave = grow(rsave, 0)
    for i in range(m):
        b = comp[i]
        rsave[rs_top] = b
        rsave[rs_top + 1] = rank[b]
        rs_top += 2
        rank[b] = vals[i]
        by_rank[vals[i]] = b
        h += zr[b] * vals[i]
    return rs_top, rsave, h


@njit(cache=True)
def _search(size, lo, hi, live_ptr, live_idx, rank, by_rank, prev_same, crit, tpos, cap,
            node_limit, memo_bits, rules, out):
    """Depth-first search; returns ``(status, nodes)``: 1 packed (offsets in ``out``), 0 proven
    infeasible, -1 node limit. Iterative: depth ``d`` keeps its node's context in the ``*_at``
    arrays, its candidates in ``cand[c_start[d]:c_end[d]]``."""
    n = len(size)
    n_sec = len(live_ptr) - 1
    floor = np.zeros(n_sec, dtype=np.int64)
    rem = np.zeros(n_sec, dtype=np.int64)
    total_span = 0
    for b in range(n):
        total_span += hi[b] - lo[b]
        for k in range(lo[b], hi[b]):
            rem[k] += size[b]
    for k in range(n_sec):
        if rem[k] > cap:
            return 0, 0
    placed = np.zeros(n, dtype=np.bool_)
    off = np.zeros(n, dtype=np.int64)
    slack = np.zeros(n_sec, dtype=np.int64)
    ev = np.zeros(n, dtype=np.int64)
    best1 = np.zeros(n_sec, dtype=np.int64)
    best2 = np.zeros(n_sec, dtype=np.int64)
    id1 = np.zeros(n_sec, dtype=np.int64)
    cross = np.zeros(n_sec + 1, dtype=np.int64)
    reach = np.zeros(n_sec + 1, dtype=np.bool_)
    # State hash: Zobrist keys of the placed set, a random linear form of the floors, the last
    # buffer, and the context (active range, L, pending components).
    np.random.seed(12345)
    zob = np.random.randint(1, 2**62, n).astype(np.int64)
    zlast = np.random.randint(1, 2**62, n + 1).astype(np.int64)
    lin = np.random.randint(1, 2**62, n_sec).astype(np.int64)
    mul = np.random.randint(1, 2**62, 6).astype(np.int64)
    zr = np.random.randint(1, 2**62, n).astype(np.int64)
    rerank = (rules & _RERANK) != 0 and tpos >= 0
    rsave = np.zeros(max(16, 4 * n), dtype=np.int64)
    rs_top = 0
    memo = np.zeros(1 << memo_bits, dtype=np.int64)
    mask = (1 << memo_bits) - 1
    h_set = np.int64(0)
    h_floor = np.int64(0)
    h_ctx = np.int64(0)
    m1 = n + 2
    c_start = np.zeros(m1, dtype=np.int64)
    c_end = np.zeros(m1, dtype=np.int64)
    c_pos = np.zeros(m1, dtype=np.int64)
    chosen = np.full(m1, -1, dtype=np.int64)
    key_at = np.zeros(m1, dtype=np.int64)
    l_at = np.zeros(m1, dtype=np.int64)
    last_at = np.full(m1, -1, dtype=np.int64)
    save_ptr = np.zeros(m1 + 1, dtype=np.int64)
    save = np.zeros(total_span + 1, dtype=np.int64)
    # Node context before its prelude (active section range, L, last, pending stack).
    a0_at = np.zeros(m1, dtype=np.int64)
    a1_at = np.zeros(m1, dtype=np.int64)
    lc_at = np.zeros(m1, dtype=np.int64)
    lastc_at = np.zeros(m1, dtype=np.int64)
    ptop_at = np.zeros(m1, dtype=np.int64)
    hctx_at = np.zeros(m1, dtype=np.int64)
    popped = np.zeros(m1, dtype=np.bool_)
    cover_at = np.zeros(m1, dtype=np.bool_)
    rs_at = np.zeros(m1, dtype=np.int64)
    fail_jump = np.full(m1, -1, dtype=np.int64)
    pe = np.zeros((m1, 4), dtype=np.int64)
    # Pending independent components: sections [s0, s1), their L, the node that split them.
    pend = np.zeros((n_sec + 1, 4), dtype=np.int64)
    ptop = 0
    cand = np.empty(max(16, n * 8), dtype=np.int64)
    keys = np.empty(n, dtype=np.int64)
    top = 0
    nodes = 0
    d = 0
    L = np.int64(0)
    last = -1
    A0 = 0
    A1 = n_sec
    n_placed = 0
    expand = True
    while True:
        if expand:
            expand = False
            cover_at[d] = False
            nodes += 1
            if nodes > node_limit:
                return -1, nodes
            if n_placed == n:
                return 1, nodes
            a0_at[d] = A0
            a1_at[d] = A1
            lc_at[d] = L
            lastc_at[d] = last
            ptop_at[d] = ptop
            hctx_at[d] = h_ctx
            popped[d] = False
            rs_at[d] = rs_top
            fail_jump[d] = -1
            c_start[d] = top
            c_end[d] = top
            c_pos[d] = top
            chosen[d] = -1
            key_at[d] = 0
            busy = False
            for k in range(A0, A1):
                if rem[k] > 0:
                    busy = True
                    break
            if not busy:
                # The active component is done: the next pending one, from its own L.
                ptop -= 1
                popped[d] = True
                for i in range(4):
                    pe[d, i] = pend[ptop, i]
                A0 = pend[ptop, 0]
                A1 = pend[ptop, 1]
                L = pend[ptop, 2]
                last = -1
                fail_jump[d] = pend[ptop, 3]
                h_ctx ^= A0 * mul[0] + A1 * mul[1] + L * mul[2]
                if rerank:
                    rs_top, rsave, hr = _rerank(size, lo, hi, placed, rem, A0, A1, rank,
                                                by_rank, crit, tpos, rsave, rs_top, zr)
                    h_ctx ^= hr
            l_eff = L if rules & _MONOTONIC else 0
            alive = (_skyline_offsets(size, lo, hi, placed, floor, off, A0, A1, l_eff, cap)
                     and _lowest_rest(size, lo, hi, live_ptr, live_idx, rank, placed, rem, off,
                                      ev, best1, best2, id1, A0, A1, L, last, cap, rules)
                     and _section_slack(live_ptr, live_idx, placed, rem, ev, floor, slack, A0,
                                        A1, l_eff, cap, rules)
                     and (not rules & _WELLS
                          or _wells_tileable(size, lo, hi, live_ptr, live_idx, rank, placed,
                                             floor, rem, reach, A0, A1, L, last, cap)))
            if alive and rules & _DECOMPOSE:
                _mark_crossings(lo, hi, placed, cross, A0, A1)
                best_s, best_e, n_comp = _tightest_component(rem, slack, cross, A0, A1, cap,
                                                             rules & _TIGHTEST)
                if n_comp > 1:
                    ptop, h_ctx = _push_others(rem, cross, pend, ptop, A0, A1, best_s, L, d,
                                               h_ctx, mul, rules & _TIGHTEST)
                    A0 = best_s
                    A1 = best_e
                    if rerank:
                        # New ranks: the tie rule at L restarts (ranks of before don't apply).
                        rs_top, rsave, hr = _rerank(size, lo, hi, placed, rem, A0, A1, rank,
                                                    by_rank, crit, tpos, rsave, rs_top, zr)
                        h_ctx ^= hr
                        last = -1
            if alive:
                key = (h_set ^ h_floor ^ (L * mul[3]) ^ zlast[last + 1] ^ h_ctx
                       ^ (A0 * mul[4] + A1 * mul[5])) | 1
                if rules & _MEMO:
                    key_at[d] = key
                    alive = memo[memo_slot(memo, mask, key)] != key
            if alive:
                while top + n > len(cand):
                    cand = grow(cand, 0)
                m = -1
                if rules & _COVER:
                    m = _cover_candidates(size, lo, hi, live_ptr, live_idx, rank, by_rank,
                                          prev_same, placed, off, rem, A0, A1, L, last, cap,
                                          rules, keys, cand, top)
                cover_at[d] = m >= 0
                if m < 0:
                    m = _candidates(size, lo, hi, rank, by_rank, prev_same, placed, off, rem,
                                    A0, A1, L, last, cap, rules, keys, cand, top)
                c_end[d] = top + m
                top += m
        # Try the next candidate at depth d (undoing the previous one).
        b = chosen[d]
        if b >= 0:
            h_set, h_floor = _undo(b, d, size, lo, hi, floor, rem, placed, save, save_ptr,
                                   zob, lin, h_set, h_floor)
            n_placed -= 1
            L = l_at[d]
            last = last_at[d]
            chosen[d] = -1
        if c_pos[d] < c_end[d]:
            b = cand[c_pos[d]]
            c_pos[d] += 1
            l_at[d] = L
            last_at[d] = last
            L, h_set, h_floor = _place(b, d, size, lo, hi, floor, rem, placed, save, save_ptr,
                                       zob, lin, h_set, h_floor, out)
            n_placed += 1
            if not cover_at[d]:
                # A cover child keeps the tie rule of its parent (``last``): it is placed out
                # of rank order, and the buffers still to come at ``L`` obey the old bound.
                last = b
            chosen[d] = b
            d += 1
            expand = True
            continue
        # Node d is exhausted (or pruned): remember it, restore its context and back up; the
        # first node of a pending component fails its whole split node (independence).
        while True:
            key = key_at[d]
            if key != 0:
                memo[memo_slot(memo, mask, key)] = key
            tgt = fail_jump[d]
            while True:
                # exit node d
                top = c_start[d]
                A0 = a0_at[d]
                A1 = a1_at[d]
                L = lc_at[d]
                last = lastc_at[d]
                ptop = ptop_at[d]
                h_ctx = hctx_at[d]
                while rs_top > rs_at[d]:
                    rs_top -= 2
                    rank[rsave[rs_top]] = rsave[rs_top + 1]
                    by_rank[rsave[rs_top + 1]] = rsave[rs_top]
                if popped[d]:
                    for i in range(4):
                        pend[ptop - 1, i] = pe[d, i]
                d -= 1
                if d < 0:
                    return 0, nodes
                b = chosen[d]
                h_set, h_floor = _undo(b, d, size, lo, hi, floor, rem, placed, save,
                                       save_ptr, zob, lin, h_set, h_floor)
                n_placed -= 1
                L = l_at[d]
                last = last_at[d]
                chosen[d] = -1
                if tgt < 0 or d <= tgt:
                    break
            if tgt < 0:
                break
            # d == tgt: the split node fails as a whole.
            c_pos[d] = c_end[d]


def _priority_column(priority, n):
    """Dense ascending ranks (``int64 [N]``, equal priorities tie) of a validated priority."""
    if priority is None or len(priority) != n:
        raise ValueError(f"order 'P' needs a priority of length {n}, got "
                         f"{None if priority is None else len(priority)}")
    return np.unique(np.asarray(priority), return_inverse=True)[1].reshape(-1).astype(np.int64)


def _ranks(size, t0, t1, length, order, priority=None):
    """Static buffer ranks (0 = first): ``order`` is a string over ``T`` (highest section
    total over the span), ``W`` (size), ``A`` (area: size x lifespan), ``L`` (lifespan length),
    all descending, lifespans in the instance's own time steps; ``a``/``l``: the same with
    lifespans counted in sections; ``S``/``E`` (first/last section, ascending); ``P``: the
    caller's ``priority`` (``[N]``, ascending: lower goes first); the last ties are broken by
    index."""
    n = len(size)
    n_sec = int(t1.max())
    diff = np.zeros(n_sec + 1, dtype=np.int64)
    np.add.at(diff, t0, size)
    np.subtract.at(diff, t1, size)
    total = np.cumsum(diff)[:n_sec]
    press = np.array([total[a:b].max() for a, b in zip(t0, t1)], dtype=np.int64)
    span = t1 - t0
    cols = {"T": -press, "W": -size, "A": -size * length, "L": -length, "a": -size * span,
            "l": -span, "S": t0, "E": t1}
    if "P" in order:
        cols["P"] = _priority_column(priority, n)
    perm = np.lexsort([np.arange(n)] + [cols[c] for c in reversed(order)])
    rank = np.empty(n, dtype=np.int64)
    rank[perm] = np.arange(n)
    crit = np.stack([cols[c] for c in order], axis=1).astype(np.int64)
    return rank, perm.astype(np.int64), crit, order.find("T")


def _check_priority(priority, orders, n):
    """``priority`` as an array ``[N]`` of its own dtype (integers are not cast to float: no
    precision lost); plain ``ValueError`` unless 1-D, numeric, finite, of length ``N``, and used
    by some order's ``P`` (a ``P`` needs one)."""
    uses = any("P" in o for o in orders)
    if priority is None:
        if uses:
            raise ValueError("order 'P' needs priority= (a float64/int64 [N] array)")
        return None
    arr = np.asarray(priority)
    if arr.ndim != 1 or arr.shape[0] != n:
        raise ValueError(f"priority must be a 1-D array of length {n}, got shape {arr.shape}")
    if arr.dtype.kind not in "iuf":
        raise ValueError(f"priority must be float or integer, got dtype {arr.dtype}")
    if not np.isfinite(arr).all():
        raise ValueError("priority must be finite (no NaN or inf)")
    if not uses:
        raise ValueError(f"priority= given but no order uses it: add 'P' to order, got {orders!r}")
    return arr


def minimalloc_pack(inst: MallocInstance, *, capacity: int | None = None,
                    node_limit: int = 1_000_000, order: str | tuple[str, ...] = MINIMALLOC_ORDERS,
                    memo_bits: int = 20, rules: tuple[str, ...] = RULES,
                    first_budget: int | None = None,
                    cover_member: bool | str | None = None,
                    priority: np.ndarray | None = None) -> SkylineResult:
    """Searches for a packing within ``capacity`` (default: the instance's) in at most
    ``node_limit`` nodes in all. ``order``: static ranking (see ``_ranks``), or several, run
    in turn with budgets ``first_budget`` (default ``2 N``), then doubled each round, until one
    decides (a portfolio: each run is complete, so any ``infeasible`` is a proof). ``rules``:
    the search rules switched on (``RULES``; fewer for ablation, each keeps it complete). With
    ``cover`` among them, each order runs twice per round, without and with cover branching,
    when ``cover_member`` is true (default ``None``: when peak live bytes equal the capacity;
    ``"only"``: with cover branching alone, for tests); else cover branching is not used.
    Sizes must be multiples of the alignment (``ValueError`` otherwise). With ``filler``
    among the rules and the cover member on, perfect tilings (every section exactly full)
    also run ``filler_search.filler_pack`` first in each round, one member per order
    (``FILLER_ORDERS`` when ``order`` is the default).

    ``priority`` (``float64/int64 [N]``, finite; lower = placed earlier): a per-buffer order of
    the caller's (e.g. a learned one), used where an order string has ``P``, as any criterion:
    ``"P"`` ranks by it alone (ties by index), ``"TP"`` by the section total first and the
    priority among its ties (and, with ``rerank``, ``T`` recomputed per component while ``P``
    stays). It only ranks: every order is complete, so ``infeasible`` stays a proof. Orders
    without ``P`` are unchanged (same ranks, same node counts)."""
    orders = (order,) if isinstance(order, str) else tuple(order)
    if first_budget is None:
        first_budget = max(2 * inst.n, 1)
    if node_limit < 1 or first_budget < 1:
        raise ValueError(f"node_limit and first_budget must be >= 1, got {node_limit}, "
                         f"{first_budget}")
    if not orders or any(not isinstance(o, str) or not o or set(o) - set("TWALalSEP")
                         for o in orders):
        raise ValueError(f"order must be over 'TWALalSEP', got {order!r}")
    priority = _check_priority(priority, orders, inst.n)
    unknown = set(rules) - set(RULES)
    if isinstance(rules, str) or unknown:
        raise ValueError(f"rules must be a tuple of {RULES}, got {rules!r}")
    mask = sum(1 << RULES.index(r) for r in set(rules))
    # Cover branching is a second member per order, on tight instances only (peak live bytes
    # = capacity: the zero-slack tilings it is for). Never alone: it loses F and K of A..K
    # within 300,000 nodes, where the canonical children pack them; with slack (C, D, J) it
    # would only halve the budget of the others.
    cap, unit, settled = prepare_search(inst, capacity, memo_bits, "minimalloc")
    if settled is not None:
        return settled
    if cover_member is None:
        cover_member = peak_live_bytes(inst) == cap
    if not mask & _COVER or not cover_member:
        masks = [mask & ~_COVER]
    else:
        masks = [mask] if cover_member == "only" else [mask & ~_COVER, mask]
    # On perfect tilings (every section exactly full) the elastic-filler search
    # (``filler_search``) runs first in each round, one member per order: it places only the
    # buffers that span two sections or more, the fillers of each section fill the gaps. With
    # the cover member only (``cover_member`` true, not ``"only"``): ``False`` leaves the
    # canonical search alone, as the tests of cover branching want.
    fill_members = []
    if (mask & _FILLER and not isinstance(cover_member, str) and bool(cover_member)
            and perfect_tiling(inst, cap)):
        fill_orders = FILLER_ORDERS if orders == MINIMALLOC_ORDERS else orders
        fill_members = [(o, -1) for o in fill_orders]
    t0, t1 = compressed_times(inst)
    t0 = t0.astype(np.int64)
    t1 = t1.astype(np.int64)
    size = (inst.size // unit).astype(np.int64)
    length = (inst.end - inst.start).astype(np.int64)
    used = 0
    members = fill_members + [(o, m) for o in orders for m in masks]
    per = node_limit if len(members) == 1 else first_budget
    while True:
        for o, m in members:
            budget = min(per, node_limit - used)
            if budget < 1:
                return SkylineResult(None, "unknown", used)
            if m < 0:
                res = filler_pack(inst, capacity=cap, node_limit=budget, order=o,
                                  memo_bits=memo_bits, priority=priority)
                if res is None:  # bitsets too large: not used
                    continue
                used += res.nodes
                if res.status != "unknown":
                    return SkylineResult(res.offsets, res.status, used)
                continue
            status, nodes, out = _run(size, t0, t1, length, o, cap // unit, budget, memo_bits,
                                      m & ~_FILLER, priority)
            used += nodes
            if status == 1:
                return SkylineResult(out * unit, "feasible", used)
            if status == 0:
                return SkylineResult(None, "infeasible", used)
        per *= 2


def _run(size, t0, t1, length, order, cap, node_limit, memo_bits, rules, priority=None):
    n = len(size)
    n_sec = int(t1.max())
    rank, by_rank, crit, tpos = _ranks(size, t0, t1, length, order, priority)
    # Identical buffers (size and span) are placed in rank order.
    prev_same = np.full(n, -1, dtype=np.int64)
    seen: dict[tuple[int, int, int], int] = {}
    for b in by_rank.tolist():
        key = (int(size[b]), int(t0[b]), int(t1[b]))
        if key in seen:
            prev_same[b] = seen[key]
        seen[key] = b
    live_ptr, live_idx = section_index(t0, t1, by_rank, n_sec)
    out = np.zeros(n, dtype=np.int64)
    status, nodes = _search(size, t0, t1, live_ptr, live_idx, rank, by_rank, prev_same, crit,
                            np.int64(tpos), np.int64(cap), np.int64(node_limit), int(memo_bits),
                            np.int64(rules),
                            out)
    return status, int(nodes), out


def minimalloc_plan(inst, *, mode, time_limit, seed, workers):
    """Registry entry ``minimalloc``: exact canonical search within the capacity (packing mode
    only; ``time_limit`` becomes a node budget); the lowest greedy packing if nothing is found."""
    from heurist.policies.malloc.greedy import first_fit, greedy_size

    if mode != "packing":
        raise ValueError("method 'minimalloc' plans packing mode only")
    result = minimalloc_pack(inst, node_limit=node_budget(time_limit,
                                                          MINIMALLOC_NODES_PER_SECOND))
    if result.offsets is not None:
        return result.offsets
    plans = [greedy_size(inst), first_fit(inst)]
    return min(plans, key=lambda o: int((o + inst.size).max()) if inst.n else 0)

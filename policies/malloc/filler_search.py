"""Exact packing of zero-slack tilings with *elastic fillers* (issue 13, zero-slack follow-up).

A *perfect tiling* instance has every time section exactly full (its live bytes equal the
capacity ``C``). There the buffers live in one section only (*fillers*; about half of the
generated guillotine tilings) never constrain anything but their own section, and the canonical
search (``minimalloc_search``) spends its nodes enumerating which subset of them goes below which
multi-section buffer. This search leaves them out: it places only the *multi-section* buffers
(span of at least two sections), bottom-up in (offset, rank) order, and lets the fillers of each
section fill the *gaps* between them.

**Why it is complete.** Take any perfect packing and list its multi-section buffers by (offset,
rank). When ``b`` (offset ``o``) comes, let ``floor_k`` be the top of the highest multi-section
buffer listed before it in section ``k`` of its span (0 if none): ``floor_k <= o`` (they are
disjoint and listed lower), and ``[floor_k, o)`` of section ``k`` holds no multi-section buffer
(it would come earlier and raise ``floor_k``), so, the section being full, fillers of ``k`` fill
it exactly: ``g = o - floor_k`` is a sum of fillers of ``k``, disjoint from those of the earlier
gaps. The search enumerates every ``o >= max(L, floors)`` with, in every section of the span,
``g`` and ``U_k + g`` subset sums of the section's fillers (``U_k``: the gaps so far; both are
sums of filler subsets), so that listing is a path of the tree. At a leaf each section's fillers
must split exactly into its gaps (and the top one, ``C - floor_k``): an exact bin filling,
solved by a small depth-first search. The section test at every node is the *unallocated floor*
of MiniMalloc: the unplaced buffers of a section sit at ``>= low = min max(L, skyline)``, so
``low + rem <= C``, and the fillers must be able to fill ``[floor_k, low)`` and more: some
subset sum ``>= U_k + low - floor_k`` must exist.

Subset sums of each section's fillers are bitsets over ``[0, F_k]`` (address units), built once.
A section with no filler has the bitset ``{0}``: a buffer must then rest exactly on its floor.

**Honesty.** Two caps make a subtree incomplete: at most ``max_offsets`` offsets per buffer and
node, and a step limit of the leaf's bin filling. When one is hit the search says so, and an
exhausted search is then ``unknown``, never ``infeasible``. A state whose subtree was exhausted
(placed set, floors, gap multisets per section, ``L``, last) is hashed (64 bits) into a memo, as
in the other searches (a collision could wrongly prune, probability ~2**-64 per lookup).

**L-dominance** (``ldom``). A node's completions are the listings whose first offset is
``>= L`` (``> L`` for ranks below the last one's, the tie rule); the rest of the state fixes
everything else. So a state exhausted from ``(L1, r1)`` has no completion from any ``(L, r)``
with ``L > L1``, or ``L == L1`` and ``r >= r1``: a second table, keyed by the state without
``L`` and the last rank, keeps the least ``(L, r)`` exhausted and prunes those it dominates
(stacks of blocks placed in another order reach the same floors and gaps from another ``L``).
"""
from __future__ import annotations

import numpy as np
from numba import njit

from heurist.envs.malloc.instance import MallocInstance
from heurist.policies.malloc.geometry import compressed_times
from heurist.policies.malloc.search_common import (
    SkylineResult,
    grow,
    memo_slot,
    prepare_search,
    section_index,
    span_max,
)

__all__ = ["FILLER_MAX_OFFSETS", "GUILLOTINE_STEPS_PER_NODE", "filler_pack", "perfect_tiling"]

FILLER_MAX_OFFSETS = 64
"""Offsets tried per buffer and node (the lowest first); more makes the run incomplete."""

GUILLOTINE_STEPS_PER_NODE = 16
"""Steps of the guillotine member per node of ``filler_pack``'s budget (0: the member is off,
as ``guillotine=False``; the benchmark's ``--guillotine-steps``). 16 (was 4): on the generated
tilings of 400 buffers it packs what the other members do not, so it gets the larger share."""

_LEAF_STEPS = 200_000
_U1 = np.uint64(1)


@njit(cache=True, inline="always")
def _bit(ss, base, t):
    """Bit ``t`` of the bitset starting at word ``base``."""
    return (ss[base + (t >> 6)] >> np.uint64(t & 63)) & _U1


@njit(cache=True, inline="always")
def _next_bit(ss, nz, base, nw, t):
    """The least set bit ``>= t`` of the ``nw``-word bitset at ``base``; -1 if none. ``nz``:
    per word, the next nonzero word of its bitset (relative, ``nw`` if none): sparse bitsets
    of large fillers would otherwise be scanned word by word."""
    w = t >> 6
    if t < 0 or w >= nw:
        return -1
    v = ss[base + w] >> np.uint64(t & 63)
    pos = t
    if v == 0:
        if w + 1 >= nw:
            return -1
        w = nz[base + w + 1]
        if w >= nw:
            return -1
        v = ss[base + w]
        pos = w << 6
    while v & _U1 == 0:
        v >>= _U1
        pos += 1
    return pos


@njit(cache=True)
def _subset_bits(fsize, f_ptr, ss_ptr, ss):
    """``ss`` := per section, the subset sums of its fillers (bit ``t`` set: some subset of the
    fillers ``fsize[f_ptr[k]:f_ptr[k+1]]`` sums to ``t``)."""
    for k in range(len(f_ptr) - 1):
        base = ss_ptr[k]
        nw = ss_ptr[k + 1] - base
        ss[base] = _U1
        for p in range(f_ptr[k], f_ptr[k + 1]):
            x = fsize[p]
            ws = x >> 6
            bs = np.uint64(x & 63)
            for w in range(nw - 1, ws - 1, -1):
                v = ss[base + w - ws] << bs
                if bs != 0 and w - ws - 1 >= 0:
                    v |= ss[base + w - ws - 1] >> (np.uint64(64) - bs)
                ss[base + w] |= v


@njit(cache=True)
def _next_nonzero(ss, ss_ptr):
    """Per word of each section's bitset, the next nonzero word at or after it (relative to
    the section's first word; the word count if none)."""
    nz = np.zeros(len(ss), dtype=np.int64)
    for k in range(len(ss_ptr) - 1):
        base = ss_ptr[k]
        nw = ss_ptr[k + 1] - base
        nxt = nw
        for w in range(nw - 1, -1, -1):
            if ss[base + w] != 0:
                nxt = w
            nz[base + w] = nxt
    return nz


@njit(cache=True)
def _fill_gaps(items, gaps, assign, step_cap):
    """Exact bin filling: puts every item (sizes descending) into a gap so that each gap is
    filled exactly (the sums agree). ``assign[i]`` := the gap of item ``i``. Returns 1 done, 0
    impossible (exhaustive), -1 step cap hit."""
    m = len(items)
    g = len(gaps)
    if m == 0:
        return 1
    rest = gaps.copy()
    for i in range(m):
        assign[i] = -1
    i = 0
    steps = 0
    smallest = items[m - 1]
    while True:
        steps += 1
        if steps > step_cap:
            return -1
        j = assign[i]
        if j >= 0:
            rest[j] += items[i]
            j += 1
        elif i > 0 and items[i] == items[i - 1]:
            j = assign[i - 1]  # equal items in gap order (symmetry)
        else:
            j = 0
        found = -1
        while j < g:
            r = rest[j] - items[i]
            if r == 0 or r >= smallest:
                dup = False
                for q in range(j):
                    if rest[q] == rest[j]:
                        dup = True  # a gap of the same residue was tried: same subtrees
                        break
                if not dup:
                    found = j
                    break
            j += 1
        if found >= 0:
            rest[found] -= items[i]
            assign[i] = found
            i += 1
            if i == m:
                return 1
        else:
            assign[i] = -1
            i -= 1
            if i < 0:
                return 0


@njit(cache=True)
def _gaps_fillable(k, F, U, fsize, f_ptr, gk, gsize, gtop, step_cap):
    """Whether section ``k``'s fillers can fill its gaps so far exactly, the rest left over
    (``_fill_gaps`` with one more bin of the unused bytes): 1 yes, 0 no, -1 step cap hit."""
    cnt = 1
    for q in range(gtop):
        if gk[q] == k:
            cnt += 1
    if cnt == 1:
        return 1
    caps = np.empty(cnt, dtype=np.int64)
    c = 0
    for q in range(gtop):
        if gk[q] == k:
            caps[c] = gsize[q]
            c += 1
    caps[c] = F[k] - U[k]
    items = fsize[f_ptr[k]:f_ptr[k + 1]]
    assign = np.empty(len(items), dtype=np.int64)
    return _fill_gaps(items, caps, assign, step_cap)


@njit(cache=True)
def _leaf(floor, F, fsize, f_ptr, gk, gbase, gsize, gtop, cap, fout, step_cap, s0, s1):
    """All multi-section buffers placed: split each section's fillers exactly into its gaps
    (the recorded ones and the top one), for sections ``[s0, s1)``; filler offsets into
    ``fout`` (filler order of ``fsize``). 1 done, 0 some section impossible, -1 a step cap was
    hit."""
    status = 1
    for k in range(s0, s1):
        m = f_ptr[k + 1] - f_ptr[k]
        if m == 0:
            continue
        cnt = 1
        for q in range(gtop):
            if gk[q] == k:
                cnt += 1
        caps = np.empty(cnt, dtype=np.int64)
        bases = np.empty(cnt, dtype=np.int64)
        c = 0
        for q in range(gtop):
            if gk[q] == k:
                caps[c] = gsize[q]
                bases[c] = gbase[q]
                c += 1
        caps[c] = cap - floor[k]
        bases[c] = floor[k]
        items = fsize[f_ptr[k]:f_ptr[k + 1]]
        assign = np.empty(m, dtype=np.int64)
        r = _fill_gaps(items, caps, assign, step_cap)
        if r != 1:
            return r
        used = np.zeros(cnt, dtype=np.int64)
        for i in range(m):
            j = assign[i]
            fout[f_ptr[k] + i] = bases[j] + used[j]
            used[j] += items[i]
    return status


@njit(cache=True, inline="always")
def _sections_ok(size, live_ptr, live_idx, placed, off, floor, U, rem_s, ss, nz, ss_ptr, L, cap, A0,
                 A1):
    """Unallocated floor per section: its unplaced buffers sit at ``>= low`` (the least
    ``max(L, skyline)``), all above it (``low + rem <= C``), and the fillers can fill from the
    floor to at least ``low`` (a subset sum ``>= U + low - floor`` exists)."""
    for k in range(A0, A1):
        if rem_s[k] == 0:
            continue
        low = cap
        for p in range(live_ptr[k], live_ptr[k + 1]):
            b = live_idx[p]
            if not placed[b]:
                v = max(L, off[b])
                low = min(low, v)
        if low + rem_s[k] > cap:
            return False
        base = ss_ptr[k]
        if _next_bit(ss, nz, base, ss_ptr[k + 1] - base, U[k] + low - floor[k]) < 0:
            return False
    return True


@njit(cache=True, inline="always")
def _components(lo, hi, placed, rem_s, cross, A0, A1):
    """The busy independent components of ``[A0, A1)`` (no unplaced buffer crosses their
    borders): their count and the one with the fewest busy sections (fail first: small ones
    are decided fast), as ``(count, s0, s1)``."""
    for k in range(A0, A1 + 1):
        cross[k] = 0
    for b in range(len(lo)):
        if placed[b] or lo[b] < A0 or hi[b] > A1:
            continue
        cross[lo[b] + 1] += 1
        cross[hi[b]] -= 1
    count = 0
    best = A1 - A0 + 1
    bs = -1
    be = -1
    s0 = A0
    run = 0
    busy = 0
    for k in range(A0, A1 + 1):
        if k > A0:
            run += cross[k]
        if k == A1 or (k > A0 and run == 0):
            if busy > 0:
                count += 1
                if busy < best:
                    best = busy
                    bs = s0
                    be = k
            s0 = k
            busy = 0
        if k < A1 and rem_s[k] > 0:
            busy += 1
    return count, bs, be


@njit(cache=True)
def _search(size, lo, hi, live_ptr, live_idx, rank, by_rank, prev_same, F, ss_ptr, ss, nz, f_ptr,
            fsize, cap, node_limit, memo_bits, max_offsets, leaf_steps, decompose, cover, gap_check,
            ldom, out, fout):
    """Depth-first search over multi-section placements; returns ``(status, nodes,
    incomplete)``: status 1 packed (``out``: offsets of the multi-section buffers, ``fout``: of
    the fillers), 0 exhausted, -1 node limit; ``incomplete``: a cap cut some subtree.

    With ``decompose``, when no unplaced buffer crosses a section border the components are
    solved one after another, each from the ``L`` of the node that split them (as in
    ``minimalloc_search``); one that fails fails that node. A finished component's sections
    get their fillers split into their gaps at once."""
    n = len(size)
    n_sec = len(F)
    floor = np.zeros(n_sec, dtype=np.int64)
    U = np.zeros(n_sec, dtype=np.int64)
    rem_s = np.zeros(n_sec, dtype=np.int64)
    total_span = 0
    for b in range(n):
        total_span += hi[b] - lo[b]
        for k in range(lo[b], hi[b]):
            rem_s[k] += size[b]
    placed = np.zeros(n, dtype=np.bool_)
    off = np.zeros(n, dtype=np.int64)
    cross = np.zeros(n_sec + 2, dtype=np.int64)
    pre = np.zeros(n_sec + 2, dtype=np.int64)
    suf = np.zeros(n_sec + 2, dtype=np.int64)
    np.random.seed(12345)
    zob = np.random.randint(1, 2**62, n).astype(np.int64)
    zlast = np.random.randint(1, 2**62, n + 1).astype(np.int64)
    lin = np.random.randint(1, 2**62, n_sec).astype(np.int64)
    lin2 = np.random.randint(1, 2**62, n_sec).astype(np.int64)
    mul = np.random.randint(1, 2**62, 6).astype(np.int64)
    memo = np.zeros(1 << memo_bits, dtype=np.int64)
    mask = (1 << memo_bits) - 1
    h_set = np.int64(0)
    h_floor = np.int64(0)
    h_gap = np.int64(0)
    h_ctx = np.int64(0)
    m1 = n + 2
    c_start = np.zeros(m1, dtype=np.int64)
    c_end = np.zeros(m1, dtype=np.int64)
    c_pos = np.zeros(m1, dtype=np.int64)
    chosen = np.full(m1, -1, dtype=np.int64)
    key_at = np.zeros(m1, dtype=np.int64)
    key2_at = np.zeros(m1, dtype=np.int64)
    lr_at = np.zeros(m1, dtype=np.int64)
    lv_at = np.zeros(m1, dtype=np.int64)
    msize = (1 << memo_bits) if ldom else 1
    memo2 = np.zeros(msize, dtype=np.int64)
    memo2_l = np.zeros(msize, dtype=np.int64)
    memo2_r = np.zeros(msize, dtype=np.int64)
    l_at = np.zeros(m1, dtype=np.int64)
    last_at = np.full(m1, -1, dtype=np.int64)
    save_ptr = np.zeros(m1 + 1, dtype=np.int64)
    gap_ptr = np.zeros(m1 + 1, dtype=np.int64)
    # Node context before its prelude: active range, L, last, pending stack, context hash.
    a0_at = np.zeros(m1, dtype=np.int64)
    a1_at = np.zeros(m1, dtype=np.int64)
    lc_at = np.zeros(m1, dtype=np.int64)
    lastc_at = np.zeros(m1, dtype=np.int64)
    ptop_at = np.zeros(m1, dtype=np.int64)
    hctx_at = np.zeros(m1, dtype=np.int64)
    popped = np.zeros(m1, dtype=np.bool_)
    cover_at = np.zeros(m1, dtype=np.bool_)
    fail_jump = np.full(m1, -1, dtype=np.int64)
    pe = np.zeros((m1, 4), dtype=np.int64)
    pend = np.zeros((n_sec + 1, 4), dtype=np.int64)
    ptop = 0
    save = np.zeros(total_span + 1, dtype=np.int64)
    gk = np.zeros(total_span + 1, dtype=np.int64)
    gbase = np.zeros(total_span + 1, dtype=np.int64)
    gsize = np.zeros(total_span + 1, dtype=np.int64)
    cand = np.empty(max(16, n * 4), dtype=np.int64)
    incomplete = False
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
            nodes += 1
            if nodes > node_limit:
                return -1, nodes, incomplete
            a0_at[d] = A0
            a1_at[d] = A1
            lc_at[d] = L
            lastc_at[d] = last
            ptop_at[d] = ptop
            hctx_at[d] = h_ctx
            popped[d] = False
            fail_jump[d] = -1
            c_start[d] = top
            c_end[d] = top
            c_pos[d] = top
            chosen[d] = -1
            key_at[d] = 0
            key2_at[d] = 0
            alive = True
            busy = False
            for k in range(A0, A1):
                if rem_s[k] > 0:
                    busy = True
                    break
            if not busy:
                # The active component is done: its fillers must fill its gaps exactly.
                r = _leaf(floor, F, fsize, f_ptr, gk, gbase, gsize, gap_ptr[d], cap, fout,
                          leaf_steps, A0, A1)
                if r < 0:
                    incomplete = True
                if r != 1:
                    alive = False
                elif n_placed == n:
                    r = _leaf(floor, F, fsize, f_ptr, gk, gbase, gsize, gap_ptr[d], cap, fout,
                              leaf_steps, 0, n_sec)
                    if r == 1:
                        return 1, nodes, incomplete
                    if r < 0:
                        incomplete = True
                    alive = False
                else:
                    # The next pending component, from its own L.
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
            if alive and d > 0 and gap_check > 0:
                # The gaps the last placement left: each section's fillers must still split
                # exactly into its gaps so far (the rest is free). A capped check prunes nothing.
                for q in range(gap_ptr[d - 1], gap_ptr[d]):
                    if _gaps_fillable(gk[q], F, U, fsize, f_ptr, gk, gsize, gap_ptr[d],
                                      gap_check) == 0:
                        alive = False
                        break
            if alive:
                for b in range(n):
                    if not placed[b] and lo[b] >= A0 and hi[b] <= A1:
                        off[b] = span_max(floor, lo[b], hi[b])
                alive = _sections_ok(size, live_ptr, live_idx, placed, off, floor, U, rem_s,
                                     ss, nz, ss_ptr, L, cap, A0, A1)
            if alive and decompose:
                count, bs, be = _components(lo, hi, placed, rem_s, cross, A0, A1)
                if count > 1:
                    # Push the other busy components (each with L and this node).
                    s0 = A0
                    run = 0
                    nb = 0
                    for k in range(A0, A1 + 1):
                        if k > A0:
                            run += cross[k]
                        if k == A1 or (k > A0 and run == 0):
                            if nb > 0 and s0 != bs:
                                pend[ptop, 0] = s0
                                pend[ptop, 1] = k
                                pend[ptop, 2] = L
                                pend[ptop, 3] = d
                                h_ctx ^= (s0 * mul[0] + k * mul[1] + L * mul[2]) * mul[3]
                                ptop += 1
                            s0 = k
                            nb = 0
                        if k < A1 and rem_s[k] > 0:
                            nb += 1
                    A0 = bs
                    A1 = be
            if alive:
                key = (h_set ^ h_floor ^ h_gap ^ (L * mul[4]) ^ zlast[last + 1] ^ h_ctx
                       ^ (A0 * mul[5] + A1)) | 1
                key_at[d] = key
                alive = memo[memo_slot(memo, mask, key)] != key
                if alive and ldom:
                    # L-dominance: the same state (without L and the tie rank) exhausted from
                    # a lower L, or the same L and a lower tie rank, had every completion of
                    # this one (children at ``o >= L``; a higher tie rank allows fewer at L).
                    key2 = ((h_set ^ h_floor ^ h_gap ^ h_ctx ^ (A0 * mul[5] + A1)) * mul[1]) | 1
                    key2_at[d] = key2
                    lr_at[d] = rank[last] if last >= 0 else -1
                    lv_at[d] = L
                    s2 = memo_slot(memo2, mask, key2)
                    if memo2[s2] == key2 and (L > memo2_l[s2] or (L == memo2_l[s2]
                                                                  and lr_at[d] >= memo2_r[s2])):
                        alive = False
            if alive:
                # A child at ``o`` makes ``L = o``: every busy section not under it must
                # still be fillable up to ``o`` (``o <= floor + F - U``, the floor itself
                # where it has no filler). Prefix and suffix minima of that bound.
                big = np.int64(4 * cap + 4)
                pre[A0] = big
                for k in range(A0, A1):
                    bk = floor[k] + F[k] - U[k] if rem_s[k] > 0 else big
                    pre[k + 1] = min(pre[k], bk)
                suf[A1] = big
                for k in range(A1 - 1, A0 - 1, -1):
                    bk = floor[k] + F[k] - U[k] if rem_s[k] > 0 else big
                    suf[k] = min(suf[k + 1], bk)
                last_rank = rank[last] if last >= 0 else -1
                m = 0
                for r_ in range(n):
                    b = by_rank[r_]
                    if (placed[b] or lo[b] < A0 or hi[b] > A1
                            or (prev_same[b] >= 0 and not placed[prev_same[b]])):
                        continue
                    o = max(L, off[b])
                    if o == L and r_ < last_rank:
                        o += 1
                    cnt = 0
                    omax = min(cap - size[b], pre[lo[b]], suf[hi[b]])
                    while o <= omax:
                        if cnt >= max_offsets:
                            incomplete = True
                            break
                        moved = False
                        for k in range(lo[b], hi[b]):
                            base = ss_ptr[k]
                            t = U[k] + o - floor[k]
                            p = _next_bit(ss, nz, base, ss_ptr[k + 1] - base, t)
                            if p < 0:
                                o = cap + 1
                                moved = True
                                break
                            if p > t:
                                o += p - t
                                moved = True
                                break
                            g = o - floor[k]
                            if g > 0 and (g > F[k] or _bit(ss, base, g) == 0):
                                # Jump to the next gap that is a subset sum itself (stepping
                                # by 1 costs up to C / unit steps on sparse bitsets).
                                p = _next_bit(ss, nz, base, ss_ptr[k + 1] - base, g)
                                o = cap + 1 if p < 0 else o + p - g
                                moved = True
                                break
                        if moved:
                            continue
                        while top + m + 1 > len(cand):
                            cand = grow(cand, 0)
                        cand[top + m] = o * n + r_
                        m += 1
                        cnt += 1
                        o += 1
                cand[top:top + m] = np.sort(cand[top:top + m])
                cover_at[d] = False
                if cover and m > 0:
                    m, kc = _cover(cand, top, m, n, L, by_rank, lo, hi, floor, F, U, rem_s,
                                   A0, A1)
                    cover_at[d] = kc >= 0
                c_end[d] = top + m
                top += m
        b = chosen[d]
        if b >= 0:
            h_set, h_floor, h_gap = _unput(b, d, size, lo, hi, placed, floor, U, rem_s, save,
                                           save_ptr, gap_ptr, gk, gsize, zob, lin, lin2, h_set,
                                           h_floor, h_gap)
            n_placed -= 1
            L = l_at[d]
            last = last_at[d]
            chosen[d] = -1
        if c_pos[d] < c_end[d]:
            key = cand[c_pos[d]]
            c_pos[d] += 1
            o = key // n
            b = by_rank[key % n]
            l_at[d] = L
            last_at[d] = last
            out[b] = o
            h_set, h_floor, h_gap = _put(b, o, d, size, lo, hi, placed, floor, U, rem_s, save,
                                         save_ptr, gap_ptr, gk, gbase, gsize, zob, lin, lin2,
                                         h_set, h_floor, h_gap)
            n_placed += 1
            L = o
            if not cover_at[d]:
                # A cover child keeps its parent's tie rule at L (it is out of rank order).
                last = b
            chosen[d] = b
            d += 1
            expand = True
            continue
        # Node d is exhausted (or pruned): remember it, restore its context and back up; the
        # first node of a pending component fails its whole split node (independence).
        while True:
            if key_at[d] != 0:
                memo[memo_slot(memo, mask, key_at[d])] = key_at[d]
                if ldom and key2_at[d] != 0:
                    s2 = memo_slot(memo2, mask, key2_at[d])
                    if (memo2[s2] != key2_at[d] or lv_at[d] < memo2_l[s2]
                            or (lv_at[d] == memo2_l[s2] and lr_at[d] < memo2_r[s2])):
                        memo2[s2] = key2_at[d]
                        memo2_l[s2] = lv_at[d]
                        memo2_r[s2] = lr_at[d]
            tgt = fail_jump[d]
            while True:
                top = c_start[d]
                A0 = a0_at[d]
                A1 = a1_at[d]
                L = lc_at[d]
                last = lastc_at[d]
                ptop = ptop_at[d]
                h_ctx = hctx_at[d]
                if popped[d]:
                    for i in range(4):
                        pend[ptop - 1, i] = pe[d, i]
                d -= 1
                if d < 0:
                    return 0, nodes, incomplete
                b = chosen[d]
                h_set, h_floor, h_gap = _unput(b, d, size, lo, hi, placed, floor, U, rem_s,
                                               save, save_ptr, gap_ptr, gk, gsize, zob, lin,
                                               lin2, h_set, h_floor, h_gap)
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


@njit(cache=True, inline="always")
def _cover(cand, top, m, n, L, by_rank, lo, hi, floor, F, U, rem_s, A0, A1):
    """Cover branching: a busy section at floor ``L`` with no filler left is filled from ``L``
    up in every packing below the node, so exactly one buffer sits at ``L`` over it; keep only
    the children that put one there, for the section with the fewest (a partition of the
    node's packings). Returns the new count (0: dead) and the section (-1: none applies)."""
    best = m + 1
    kb = -1
    for k in range(A0, A1):
        if rem_s[k] == 0 or floor[k] != L or F[k] - U[k] != 0:
            continue
        c = 0
        for i in range(top, top + m):
            if cand[i] // n != L:
                break
            b = by_rank[cand[i] % n]
            if lo[b] <= k < hi[b]:
                c += 1
        if c < best:
            best = c
            kb = k
            if c <= 1:
                break
    if kb < 0 or best == m:
        return m, -1
    j = top
    for i in range(top, top + m):
        if cand[i] // n != L:
            break
        b = by_rank[cand[i] % n]
        if lo[b] <= kb < hi[b]:
            cand[j] = cand[i]
            j += 1
    return j - top, kb


_GOLD = np.int64(-7046029254386353131)


@njit(cache=True, inline="always")
def _put(b, o, d, size, lo, hi, placed, floor, U, rem_s, save, save_ptr, gap_ptr, gk, gbase,
         gsize, zob, lin, lin2, h_set, h_floor, h_gap):
    """Places ``b`` at ``o`` at depth ``d``, recording the gaps left under it; returns the
    updated hashes."""
    placed[b] = True
    h_set ^= zob[b]
    p = save_ptr[d]
    q = gap_ptr[d]
    for k in range(lo[b], hi[b]):
        save[p] = floor[k]
        p += 1
        g = o - floor[k]
        if g > 0:
            gk[q] = k
            gbase[q] = floor[k]
            gsize[q] = g
            q += 1
            U[k] += g
            h_gap += (g * _GOLD) ^ lin2[k]
        h_floor += (o + size[b] - floor[k]) * lin[k]
        floor[k] = o + size[b]
        rem_s[k] -= size[b]
    save_ptr[d + 1] = p
    gap_ptr[d + 1] = q
    return h_set, h_floor, h_gap


@njit(cache=True, inline="always")
def _unput(b, d, size, lo, hi, placed, floor, U, rem_s, save, save_ptr, gap_ptr, gk, gsize,
           zob, lin, lin2, h_set, h_floor, h_gap):
    """Takes back ``_put(b, ..., d, ...)``; returns the restored hashes."""
    placed[b] = False
    h_set ^= zob[b]
    p = save_ptr[d]
    for k in range(lo[b], hi[b]):
        h_floor += (save[p] - floor[k]) * lin[k]
        floor[k] = save[p]
        rem_s[k] += size[b]
        p += 1
    for q in range(gap_ptr[d], gap_ptr[d + 1]):
        U[gk[q]] -= gsize[q]
        h_gap -= (gsize[q] * _GOLD) ^ lin2[gk[q]]
    return h_set, h_floor, h_gap


def perfect_tiling(inst: MallocInstance, capacity: int | None = None) -> bool:
    """Every time section (between live-range endpoints) holds exactly ``capacity`` live bytes
    (default the instance's): the instances this search is for."""
    cap = inst.capacity if capacity is None else int(capacity)
    if inst.n == 0:
        return False
    t0, t1 = compressed_times(inst)
    n_sec = int(t1.max())
    diff = np.zeros(n_sec + 1, dtype=np.int64)
    np.add.at(diff, t0, inst.size.astype(np.int64))
    np.subtract.at(diff, t1, inst.size.astype(np.int64))
    return bool((np.cumsum(diff)[:n_sec] == cap).all())


_GUILLOTINE_CACHE: dict = {}


def _guillotine_cached(size, t0, t1, cap, steps):
    """``guillotine_pack`` memoised on its arguments (a pure function): the portfolio calls
    ``filler_pack`` once per order with the same budget, and the guillotine member ignores the
    order."""
    from heurist.policies.malloc.guillotine_search import guillotine_pack

    key = (size.tobytes(), t0.tobytes(), t1.tobytes(), cap, steps)
    if key not in _GUILLOTINE_CACHE:
        if len(_GUILLOTINE_CACHE) >= 8:
            _GUILLOTINE_CACHE.clear()
        _GUILLOTINE_CACHE[key] = guillotine_pack(size, t0, t1, cap, steps=steps)
    off, used = _GUILLOTINE_CACHE[key]
    return (None if off is None else off.copy()), used


def filler_pack(inst: MallocInstance, *, capacity: int | None = None,
                node_limit: int = 1_000_000, order: str = "TLA", memo_bits: int = 20,
                max_offsets: int = FILLER_MAX_OFFSETS, leaf_steps: int = _LEAF_STEPS,
                decompose: bool = True, cover: bool = True, gap_check: int = 2_000,
                ldom: bool = True, guillotine: bool = True,
                max_bitset_words: int = 1 << 24,
                priority: np.ndarray | None = None) -> SkylineResult | None:
    """Searches a perfect tiling's packing within ``capacity`` (default: the instance's) in at
    most ``node_limit`` nodes, fillers elastic (module doc). ``None`` when it does not apply
    (not a perfect tiling, or the fillers' bitsets would exceed ``max_bitset_words`` 64-bit
    words). ``infeasible`` only when the search was exhausted with no cap hit (a proof);
    ``order``: the static rank of ``minimalloc_search`` (``TWALalSE``, and ``P`` with
    ``priority``, ``[N]`` over all the instance's buffers, lower first). With ``guillotine``
    the guillotine search (``guillotine_search``: packs or gives up, proves nothing) runs first
    with ``GUILLOTINE_STEPS_PER_NODE * node_limit`` steps, counted as nodes at that rate."""
    from heurist.policies.malloc.minimalloc_search import _ranks

    if node_limit < 1:
        raise ValueError(f"node_limit must be >= 1, got {node_limit}")
    cap, unit, settled = prepare_search(inst, capacity, memo_bits, "filler")
    if settled is not None:
        return settled
    if not perfect_tiling(inst, cap):
        return None
    t0, t1 = compressed_times(inst)
    t0 = t0.astype(np.int64)
    t1 = t1.astype(np.int64)
    n_sec = int(t1.max())
    size = (inst.size // unit).astype(np.int64)
    cu = cap // unit
    g_steps = 0
    if guillotine and GUILLOTINE_STEPS_PER_NODE > 0:
        # It gets GUILLOTINE_STEPS_PER_NODE steps per node of the budget, counted as nodes
        # that way (a step costs a few to ~20 microseconds, a node of the others a few).
        g_off, g_steps = _guillotine_cached(size, t0, t1, int(cu),
                                            int(node_limit) * GUILLOTINE_STEPS_PER_NODE)
        g_steps = -(-g_steps // GUILLOTINE_STEPS_PER_NODE)
        if g_off is not None:
            return SkylineResult(g_off * unit, "feasible", g_steps)
    single = (t1 - t0) == 1
    fill = np.flatnonzero(single)
    multi = np.flatnonzero(~single)
    # Fillers grouped by section, largest first (the leaf's bin filling wants them so).
    fo = fill[np.lexsort((-size[fill], t0[fill]))]
    fsize = size[fo].copy()
    f_ptr = np.zeros(n_sec + 1, dtype=np.int64)
    np.cumsum(np.bincount(t0[fo], minlength=n_sec), out=f_ptr[1:])
    F = np.zeros(n_sec, dtype=np.int64)
    np.add.at(F, t0[fo], fsize)
    ss_ptr = np.zeros(n_sec + 1, dtype=np.int64)
    np.cumsum(F // 64 + 1, out=ss_ptr[1:])
    if ss_ptr[-1] > max_bitset_words:
        return None
    ss = np.zeros(int(ss_ptr[-1]), dtype=np.uint64)
    _subset_bits(fsize, f_ptr, ss_ptr, ss)
    nz = _next_nonzero(ss, ss_ptr)
    ms, m0, m1 = size[multi], t0[multi], t1[multi]
    length = (inst.end - inst.start).astype(np.int64)[multi]
    nm = len(multi)
    if nm:
        # only the buffers spanning two sections or more are ranked here: their priorities
        rank, by_rank, _, _ = _ranks(ms, m0, m1, length, order,
                                     None if priority is None else np.asarray(priority)[multi])
    else:
        rank = by_rank = np.zeros(0, dtype=np.int64)
    prev_same = np.full(nm, -1, dtype=np.int64)
    seen: dict[tuple[int, int, int], int] = {}
    for b in by_rank.tolist():
        key = (int(ms[b]), int(m0[b]), int(m1[b]))
        if key in seen:
            prev_same[b] = seen[key]
        seen[key] = b
    live_ptr, live_idx = (section_index(m0, m1, by_rank, n_sec) if nm else
                          (np.zeros(n_sec + 1, dtype=np.int64), np.zeros(0, dtype=np.int64)))
    out = np.zeros(nm, dtype=np.int64)
    fout = np.zeros(len(fo), dtype=np.int64)
    status, nodes, incomplete = _search(ms, m0, m1, live_ptr, live_idx, rank.astype(np.int64),
                                        by_rank.astype(np.int64), prev_same, F, ss_ptr, ss, nz,
                                        f_ptr, fsize, np.int64(cu), np.int64(node_limit),
                                        int(memo_bits), int(max_offsets), int(leaf_steps),
                                        bool(decompose), bool(cover), int(gap_check), bool(ldom), out,
                                        fout)
    nodes = int(nodes) + g_steps
    if status == 1:
        offsets = np.zeros(inst.n, dtype=np.int64)
        offsets[multi] = out * unit
        offsets[fo] = fout * unit
        return SkylineResult(offsets, "feasible", nodes)
    if status == 0 and not incomplete:
        return SkylineResult(None, "infeasible", nodes)
    return SkylineResult(None, "unknown", nodes)

"""Exact packing by depth-first search over skyline placements (after MiniMalloc, Moffitt 2023).

Time is cut into *sections* (between consecutive live-range endpoints); each section has a
*floor*, the height below which no unplaced buffer can go. A node takes a section ``s`` with the
lowest floor ``f`` among sections that still hold unplaced buffers (of those, the one with the
fewest candidates: fail first) and branches
on which unplaced buffer live in ``s`` sits at offset ``f``: only buffers whose whole span has
floor ``f`` qualify (so no hole is ever left below a floor). If none qualifies, nothing can ever
sit at ``f`` in ``s``, and the floor of ``s`` rises to the lowest height any of its buffers can
reach. A branch dies as soon as a section's floor plus its unplaced bytes exceed the capacity.

Why it is complete: order any packing's buffers by offset and push them down; at a node that
agrees with it, the buffer covering height ``f`` in ``s`` must start exactly at ``f`` (below is
filled by placed buffers) and every floor on its span is ``f``, so it is among the branches; a
raised floor skips only heights no buffer of that packing uses. So when the search is exhausted
no packing fits (``infeasible``), and a found packing is re-checked by ``check_plan``. Identical
buffers (same size and span) are tried once per node, candidates largest first, and a state
(placed set and floors, 64-bit hashed) whose subtree was exhausted is not searched again (a hash
collision could wrongly prune, with probability about 2**-64 per lookup). The search is bounded
by a node count, so it is deterministic.
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

__all__ = ["SkylineResult", "skyline_pack"]

# The kernels below share the search's arrays: ``size``, ``lo``, ``hi`` (buffer spans in
# sections), ``live_ptr``/``live_idx`` (buffers live in each section, in branching order),
# ``placed``, ``floor`` (per section) and ``rem`` (unplaced bytes per section).


@njit(cache=True)
def _stranded(size, lo, hi, live_ptr, live_idx, cap, floor, rem, placed, reach):
    """Nothing can go below the lowest reach of a section's unplaced buffers (the highest floor
    on each one's span): True if that plus the section's unplaced bytes exceeds C somewhere."""
    for b in range(len(size)):
        if not placed[b]:
            reach[b] = span_max(floor, lo[b], hi[b])
    for k in range(len(live_ptr) - 1):
        if rem[k] == 0:
            continue
        low = cap
        for p in range(live_ptr[k], live_ptr[k + 1]):
            b = live_idx[p]
            if not placed[b] and reach[b] < low:
                low = reach[b]
        if low + rem[k] > cap:
            return True
    return False


@njit(cache=True, inline="always")
def _flat(floor, lo, hi, f):
    """Every floor on sections ``[lo, hi)`` equals ``f`` (a buffer there can sit at ``f``)."""
    for k in range(lo, hi):
        if floor[k] != f:
            return False
    return True


@njit(cache=True, inline="always")
def _lowest_section(rem, floor):
    """The busy section (unplaced bytes left) with the lowest floor, first such; -1 if none."""
    s = -1
    for k in range(len(rem)):
        if rem[k] > 0 and (s < 0 or floor[k] < floor[s]):
            s = k
    return s


@njit(cache=True, inline="always")
def _fewest_candidates(s, lo, hi, live_ptr, live_idx, placed, floor, rem):
    """Fail first: of the busy sections whose floor is the lowest (``floor[s]``; any of them is
    a complete choice), the one with the fewest buffers that can sit on it."""
    f = floor[s]
    best = len(lo) + 1
    for k in range(s, len(rem)):
        if rem[k] == 0 or floor[k] != f:
            continue
        count = 0
        for p in range(live_ptr[k], live_ptr[k + 1]):
            b = live_idx[p]
            if not placed[b] and _flat(floor, lo[b], hi[b], f):
                count += 1
                if count >= best:
                    break
        if count < best:
            best = count
            s = k
            if count == 0:
                break
    return s


@njit(cache=True, inline="always")
def _branches(s, size, lo, hi, live_ptr, live_idx, placed, floor, cand, top):
    """Appends to ``cand`` from ``top`` the unplaced buffers of section ``s`` that can sit on its
    floor, skipping a repeat of the previous identical buffer; returns the new top. ``cand``
    must have room for every buffer of ``s``."""
    f = floor[s]
    prev = -1
    for p in range(live_ptr[s], live_ptr[s + 1]):
        b = live_idx[p]
        if placed[b] or not _flat(floor, lo[b], hi[b], f):
            continue
        if prev >= 0 and size[prev] == size[b] and lo[prev] == lo[b] and hi[prev] == hi[b]:
            continue
        cand[top] = b
        top += 1
        prev = b
    return top


@njit(cache=True, inline="always")
def _lowest_reach(s, lo, hi, live_ptr, live_idx, placed, floor):
    """The lowest height any unplaced buffer of section ``s`` can still reach."""
    lowest = -1
    for p in range(live_ptr[s], live_ptr[s + 1]):
        b = live_idx[p]
        if placed[b]:
            continue
        reach = span_max(floor, lo[b], hi[b])
        if lowest < 0 or reach < lowest:
            lowest = reach
    return lowest


@njit(cache=True, inline="always")
def _put(b, f, size, lo, hi, placed, floor, rem, lin, h_floor):
    """Places ``b`` at ``f``; returns the updated floor hash."""
    placed[b] = True
    for k in range(lo[b], hi[b]):
        floor[k] = f + size[b]
        rem[k] -= size[b]
        h_floor += size[b] * lin[k]
    return h_floor


@njit(cache=True, inline="always")
def _take(b, f, size, lo, hi, placed, floor, rem, lin, h_floor):
    """Takes back ``_put(b, f, ...)``; returns the restored floor hash."""
    placed[b] = False
    for k in range(lo[b], hi[b]):
        floor[k] = f
        rem[k] += size[b]
        h_floor -= size[b] * lin[k]
    return h_floor


@njit(cache=True)
def _search(size, lo, hi, live_ptr, live_idx, cap, node_limit, stranded_check, fail_first,
            memo_bits, out):
    """Depth-first search; returns ``(status, nodes)``: 1 packed (offsets in ``out``), 0 proven
    infeasible, -1 node limit. Depth ``d`` is a branch node (``kind`` 0, candidates in
    ``cand[c_start[d]:c_end[d]]``) or a raised floor (``kind`` 1, section ``sec[d]``)."""
    n = len(size)
    n_sec = len(live_ptr) - 1
    floor = np.zeros(n_sec, dtype=np.int64)
    rem = np.zeros(n_sec, dtype=np.int64)
    for b in range(n):
        for k in range(lo[b], hi[b]):
            rem[k] += size[b]
    for k in range(n_sec):
        if rem[k] > cap:
            return 0, 0
    placed = np.zeros(n, dtype=np.bool_)
    reach_of = np.zeros(n, dtype=np.int64)
    # Exhausted states (placed set, floors), hashed: reaching the same state by another order
    # of placements is pruned. Zobrist keys for the set, a random linear form for the floors.
    np.random.seed(12345)
    zob = np.random.randint(1, 2**62, n).astype(np.int64)
    lin = np.random.randint(1, 2**62, n_sec).astype(np.int64)
    memo = np.zeros(1 << memo_bits, dtype=np.int64)
    mask = (1 << memo_bits) - 1
    h_set = np.int64(0)
    h_floor = np.int64(0)
    depth_cap = 2 * n + 16
    kind = np.zeros(depth_cap, dtype=np.int64)     # 0 branch node, 1 raised floor
    sec = np.zeros(depth_cap, dtype=np.int64)
    old = np.zeros(depth_cap, dtype=np.int64)      # floor before the move
    c_start = np.zeros(depth_cap, dtype=np.int64)
    c_end = np.zeros(depth_cap, dtype=np.int64)
    c_pos = np.zeros(depth_cap, dtype=np.int64)
    chosen = np.full(depth_cap, -1, dtype=np.int64)
    key_at = np.zeros(depth_cap, dtype=np.int64)
    cand = np.empty(max(1, n * 8), dtype=np.int64)
    top = 0
    nodes = 0
    d = 0
    expand = True
    while True:
        dead = False
        if expand:
            nodes += 1
            if nodes > node_limit:
                return -1, nodes
            if d + 1 >= len(kind):
                kind = grow(kind, 0)
                sec = grow(sec, 0)
                old = grow(old, 0)
                c_start = grow(c_start, 0)
                c_end = grow(c_end, 0)
                c_pos = grow(c_pos, 0)
                chosen = grow(chosen, -1)
                key_at = grow(key_at, 0)
            key = (h_set ^ h_floor) | 1
            key_at[d] = key
            dead = memo[memo_slot(memo, mask, key)] == key
            s = -1
            if not dead:
                s = _lowest_section(rem, floor)
                if s < 0:
                    return 1, nodes
                if fail_first:
                    s = _fewest_candidates(s, lo, hi, live_ptr, live_idx, placed, floor, rem)
                if stranded_check and _stranded(size, lo, hi, live_ptr, live_idx, cap, floor,
                                                rem, placed, reach_of):
                    dead = True
            if not dead:
                f = floor[s]
                start = top
                while top + live_ptr[s + 1] - live_ptr[s] > len(cand):
                    cand = grow(cand, 0)
                top = _branches(s, size, lo, hi, live_ptr, live_idx, placed, floor, cand, top)
                sec[d] = s
                old[d] = f
                if top == start:
                    # Nothing can sit on this floor: raise it to the lowest reachable height.
                    lowest = _lowest_reach(s, lo, hi, live_ptr, live_idx, placed, floor)
                    kind[d] = 1
                    if lowest + rem[s] <= cap:
                        floor[s] = lowest
                        h_floor += (lowest - f) * lin[s]
                        d += 1
                        continue
                    dead = True
                else:
                    kind[d] = 0
                    c_start[d] = start
                    c_end[d] = top
                    c_pos[d] = start
                    chosen[d] = -1
            expand = False
        if not dead and kind[d] == 0:
            f = old[d]
            b = chosen[d]
            if b >= 0:
                h_set ^= zob[b]
                h_floor = _take(b, f, size, lo, hi, placed, floor, rem, lin, h_floor)
                chosen[d] = -1
            if c_pos[d] < c_end[d]:
                b = cand[c_pos[d]]
                c_pos[d] += 1
                h_set ^= zob[b]
                out[b] = f
                h_floor = _put(b, f, size, lo, hi, placed, floor, rem, lin, h_floor)
                chosen[d] = b
                d += 1
                expand = True
                continue
            top = c_start[d]
        # Node d is exhausted: remember its state, then back up past raised floors (whose
        # states are exhausted too) to the last branch node with candidates left.
        while True:
            memo[memo_slot(memo, mask, key_at[d])] = key_at[d]
            d -= 1
            if d < 0:
                return 0, nodes
            if kind[d] == 0:
                break
            h_floor -= (floor[sec[d]] - old[d]) * lin[sec[d]]
            floor[sec[d]] = old[d]


def skyline_pack(inst: MallocInstance, *, capacity: int | None = None,
                 node_limit: int = 2_000_000, stranded_check: bool = False,
                 fail_first: bool = True, memo_bits: int = 20) -> SkylineResult:
    """Searches for a packing within ``capacity`` (default: the instance's) with at most
    ``node_limit`` nodes. ``stranded_check`` adds, at every node, the test that no section's
    unplaced bytes sit above the lowest height its buffers can still reach (fewer nodes, each
    dearer). Alignment is respected by working in units of ``address_unit`` only
    when the alignment divides every size (else ``ValueError``)."""
    if node_limit < 1:
        raise ValueError(f"node_limit must be >= 1, got {node_limit}")
    cap, unit, settled = prepare_search(inst, capacity, memo_bits, "skyline")
    if settled is not None:
        return settled
    t0, t1 = compressed_times(inst)
    n_sec = int(t1.max())
    # Buffers live in each section, largest (then longest) first: the branching order.
    priority = np.lexsort((-(t1 - t0), -inst.size))
    live_ptr, live_idx = section_index(t0, t1, priority, n_sec)
    out = np.zeros(inst.n, dtype=np.int64)
    status, nodes = _search((inst.size // unit).astype(np.int64), t0.astype(np.int64),
                            t1.astype(np.int64), live_ptr, live_idx, cap // unit,
                            np.int64(node_limit), bool(stranded_check),
                            bool(fail_first), int(memo_bits), out)
    if status == 1:
        return SkylineResult(out * unit, "feasible", int(nodes))
    return SkylineResult(None, "infeasible" if status == 0 else "unknown", int(nodes))

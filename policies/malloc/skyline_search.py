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

from dataclasses import dataclass

import numpy as np
from numba import njit

from heurist.envs.malloc.instance import MallocInstance
from heurist.envs.malloc.peak import peak_live_bytes
from heurist.policies.malloc.cpsat_common import address_unit, compressed_times

__all__ = ["SkylineResult", "grow", "prepare_search", "section_index", "skyline_pack"]


@dataclass(frozen=True)
class SkylineResult:
    """``offsets``: ``int64 [N]`` or ``None``; ``status``: ``feasible`` (found within the
    capacity), ``infeasible`` (search exhausted: no packing fits) or ``unknown`` (node limit);
    ``nodes``: search nodes used."""

    offsets: np.ndarray | None
    status: str
    nodes: int


@njit(cache=True)
def _stranded(size, lo, hi, live_ptr, live_idx, cap, floor, rem, placed, reach):
    # Nothing can go below the lowest reach of a section's unplaced buffers (the highest floor
    # on each one's span): if that plus the section's unplaced bytes exceeds C, no completion.
    for b in range(len(size)):
        if not placed[b]:
            r = 0
            for k in range(lo[b], hi[b]):
                r = max(r, floor[k])
            reach[b] = r
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


@njit(cache=True)
def grow(a, fill):
    out = np.full(2 * len(a), fill, dtype=a.dtype)
    out[:len(a)] = a
    return out


@njit(cache=True)
def _search(size, lo, hi, live_ptr, live_idx, cap, node_limit, stranded_check, fail_first,
            memo_bits, out):
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
            slot = key & mask
            for _ in range(8):
                if memo[slot] == key or memo[slot] == 0:
                    break
                slot = (slot + 1) & mask
            if memo[slot] == key:
                dead = True
            s = -1
            if not dead:
                for k in range(n_sec):
                    if rem[k] > 0 and (s < 0 or floor[k] < floor[s]):
                        s = k
                if s < 0:
                    return 1, nodes
                if fail_first:
                    # Any lowest section is a complete choice; take the one with the fewest
                    # candidates (a section with none fails or raises at once).
                    f = floor[s]
                    best = n + 1
                    for k in range(s, n_sec):
                        if rem[k] == 0 or floor[k] != f:
                            continue
                        count = 0
                        for p in range(live_ptr[k], live_ptr[k + 1]):
                            b = live_idx[p]
                            if placed[b]:
                                continue
                            ok = True
                            for q in range(lo[b], hi[b]):
                                if floor[q] != f:
                                    ok = False
                                    break
                            if ok:
                                count += 1
                                if count >= best:
                                    break
                        if count < best:
                            best = count
                            s = k
                            if count == 0:
                                break
                if stranded_check and _stranded(size, lo, hi, live_ptr, live_idx, cap, floor,
                                                rem, placed, reach_of):
                    dead = True
            if not dead:
                f = floor[s]
                start = top
                prev = -1
                for p in range(live_ptr[s], live_ptr[s + 1]):
                    b = live_idx[p]
                    if placed[b]:
                        continue
                    ok = True
                    for k in range(lo[b], hi[b]):
                        if floor[k] != f:
                            ok = False
                            break
                    if not ok:
                        continue
                    if (prev >= 0 and size[prev] == size[b] and lo[prev] == lo[b]
                            and hi[prev] == hi[b]):
                        continue
                    if top >= len(cand):
                        cand = grow(cand, 0)
                    cand[top] = b
                    top += 1
                    prev = b
                sec[d] = s
                old[d] = f
                if top == start:
                    lowest = -1
                    for p in range(live_ptr[s], live_ptr[s + 1]):
                        b = live_idx[p]
                        if placed[b]:
                            continue
                        reach = 0
                        for k in range(lo[b], hi[b]):
                            reach = max(reach, floor[k])
                        if lowest < 0 or reach < lowest:
                            lowest = reach
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
                placed[b] = False
                h_set ^= zob[b]
                for k in range(lo[b], hi[b]):
                    floor[k] = f
                    rem[k] += size[b]
                    h_floor -= size[b] * lin[k]
                chosen[d] = -1
            if c_pos[d] < c_end[d]:
                b = cand[c_pos[d]]
                c_pos[d] += 1
                placed[b] = True
                h_set ^= zob[b]
                out[b] = f
                for k in range(lo[b], hi[b]):
                    floor[k] = f + size[b]
                    rem[k] -= size[b]
                    h_floor += size[b] * lin[k]
                chosen[d] = b
                d += 1
                expand = True
                continue
            top = c_start[d]
        # Node d is exhausted: remember its state, then back up past raised floors (whose
        # states are exhausted too) to the last branch node with candidates left.
        while True:
            slot = key_at[d] & mask
            for _ in range(8):
                if memo[slot] == 0 or memo[slot] == key_at[d]:
                    break
                slot = (slot + 1) & mask
            memo[slot] = key_at[d]
            d -= 1
            if d < 0:
                return 0, nodes
            if kind[d] == 0:
                break
            h_floor -= (floor[sec[d]] - old[d]) * lin[sec[d]]
            floor[sec[d]] = old[d]


def section_index(t0: np.ndarray, t1: np.ndarray, order: np.ndarray, n_sec: int):
    """The buffers live in each time section, as CSR arrays ``(live_ptr [n_sec + 1],
    live_idx [sum of spans])``: section ``k``'s buffers are ``live_idx[live_ptr[k]:live_ptr[k+1]]``,
    listed in ``order`` (the search's branching order)."""
    span = (t1 - t0)[order]
    buf = order[np.repeat(np.arange(len(order)), span)]
    k = np.concatenate([np.arange(a, b) for a, b in zip(t0[order], t1[order])])
    live_idx = buf[np.argsort(k, kind="stable")].astype(np.int64)
    live_ptr = np.zeros(n_sec + 1, dtype=np.int64)
    np.cumsum(np.bincount(k, minlength=n_sec), out=live_ptr[1:])
    return live_ptr, live_idx


def prepare_search(inst: MallocInstance, capacity: int | None, memo_bits: int, method: str):
    """The checks every exact packing search starts with. Returns ``(capacity, address unit,
    settled)``; ``settled`` is the result when no search is needed (no buffers, or peak live
    bytes over the capacity), else ``None``."""
    cap = inst.capacity if capacity is None else int(capacity)
    if not 4 <= memo_bits <= 30:
        raise ValueError(f"memo_bits must be in [4, 30], got {memo_bits}")
    unit = address_unit(inst)
    if inst.n == 0:
        return cap, unit, SkylineResult(np.zeros(0, dtype=np.int64), "feasible", 0)
    if unit % inst.memory.alignment:
        raise ValueError(f"{method} search needs sizes that are multiples of the alignment "
                         f"({inst.memory.alignment})")
    if peak_live_bytes(inst) > cap:
        return cap, unit, SkylineResult(None, "infeasible", 0)
    return cap, unit, None


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

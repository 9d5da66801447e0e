"""Pieces shared by the exact packing searches (``skyline_search``, ``minimalloc_search``): the
result type, the checks and early answers they start with, the section index, and the small numba
kernels both loops call (array growth, skyline height over a span, the memo table's probe)."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numba import njit

from heurist.envs.malloc.instance import MallocInstance
from heurist.envs.malloc.peak import peak_live_bytes
from heurist.policies.malloc.geometry import address_unit

__all__ = ["MEMO_PROBES", "SkylineResult", "grow", "memo_slot", "node_budget", "prepare_search",
           "section_index", "span_max"]

MEMO_PROBES = 8
"""Linear probes of the memo table before a key gives up its place (then it may be forgotten)."""


@dataclass(frozen=True)
class SkylineResult:
    """``offsets``: ``int64 [N]`` or ``None``; ``status``: ``feasible`` (found within the
    capacity), ``infeasible`` (search exhausted: no packing fits) or ``unknown`` (node limit);
    ``nodes``: search nodes used."""

    offsets: np.ndarray | None
    status: str
    nodes: int


def node_budget(time_limit: float, rate: int) -> int:
    """A search's node budget for ``time_limit`` seconds at ``rate`` nodes/s: at least 1, at
    most 2^62 (the searches count nodes in int64)."""
    return int(min(max(1.0, time_limit * rate), 2.0**62))


@njit(cache=True)
def grow(a, fill):
    """``a`` doubled in length, the new half ``fill``."""
    out = np.full(2 * len(a), fill, dtype=a.dtype)
    out[:len(a)] = a
    return out


@njit(cache=True, inline="always")
def span_max(floor, lo, hi):
    """The highest ``floor`` over sections ``[lo, hi)`` (0 if below all): the skyline height."""
    o = 0
    for k in range(lo, hi):
        o = max(o, floor[k])
    return o


@njit(cache=True, inline="always")
def memo_slot(memo, mask, key):
    """The slot of ``key`` in the open-addressed table ``memo``: where it is, else the first
    empty slot, else (table crowded there) the last probed one."""
    slot = key & mask
    for _ in range(MEMO_PROBES):
        if memo[slot] == key or memo[slot] == 0:
            break
        slot = (slot + 1) & mask
    return slot


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

"""Independent plan oracle: recomputes validity from the offsets alone (no planner code).

A sweep over time keeps the address ranges of live fast buffers in a sorted list; a new buffer
can only collide with its two neighbours in address order, so the check is O(N log N) (bisect
into a Python list; its memmoves are linear in the live set but fast).
"""
from __future__ import annotations

import bisect
from dataclasses import dataclass, field

import numpy as np

from heurist.envs.malloc.instance import SLOW, MallocInstance
from heurist.envs.malloc.modes import check_plan_mode

__all__ = ["VIOLATION_KINDS", "PlanCheck", "Violation", "check_plan"]

VIOLATION_KINDS = ("overlap", "capacity", "misaligned", "negative_offset", "slow_in_packing")


@dataclass(frozen=True)
class Violation:
    """One broken rule: ``kind`` (one of ``VIOLATION_KINDS``), the buffer indices involved and a
    message naming them by id."""

    kind: str
    buffers: tuple[int, ...]
    message: str


@dataclass(frozen=True)
class PlanCheck:
    """``valid``: no violation; ``violations``: all found, the first one first in time order of
    detection; ``peak``: ``max(offset + size)`` over fast buffers (0 if none)."""

    valid: bool
    violations: list[Violation] = field(default_factory=list)
    peak: int = 0

    @property
    def first(self) -> Violation | None:
        """The first violation, or ``None``."""
        return self.violations[0] if self.violations else None


def _name(inst: MallocInstance, i: int) -> str:
    return f"{inst.labels[i]!r}" if inst.labels else str(int(inst.ids[i]))


def check_plan(inst: MallocInstance, plan, *, mode: str = "mapping",
               enforce_capacity: bool = True) -> PlanCheck:
    """Checks ``plan`` (``int64 [N]`` offsets, ``SLOW`` = -1) against ``inst``.

    Args:
        mode: ``"packing"`` (every buffer must have an offset) or ``"mapping"`` (``SLOW`` allowed).
        enforce_capacity: report fast buffers ending above the capacity (turn off to check a
            minimum-peak packing for overlaps only).

    Raises:
        ValueError: the plan is not ``N`` integers, or ``mode`` is unknown.
    """
    check_plan_mode(mode)
    arr = np.asarray(plan)
    if arr.shape != (inst.n,):
        raise ValueError(f"plan has shape {arr.shape}, expected ({inst.n},)")
    if arr.size and arr.dtype.kind not in "iu":
        raise ValueError(f"plan must hold integers, got dtype {arr.dtype}")
    offsets = arr.astype(np.int64).tolist()
    size = inst.size.tolist()
    cap = inst.capacity
    align = inst.memory.alignment
    violations: list[Violation] = []
    fast = []
    for i, off in enumerate(offsets):
        if off == SLOW:
            if mode == "packing":
                violations.append(Violation("slow_in_packing", (i,), f"buffer {_name(inst, i)} is "
                                            f"left in slow memory (offset -1) in packing mode"))
            continue
        if off < 0:
            violations.append(Violation("negative_offset", (i,), f"buffer {_name(inst, i)} has "
                                        f"negative offset {off}"))
            continue
        if off % align:
            violations.append(Violation("misaligned", (i,), f"buffer {_name(inst, i)} offset {off} "
                                        f"is not a multiple of the alignment {align}"))
        if enforce_capacity and off + size[i] > cap:
            violations.append(Violation("capacity", (i,), f"buffer {_name(inst, i)} occupies "
                                        f"[{off}, {off + size[i]}) beyond the capacity {cap}"))
        fast.append(i)
    peak = max((offsets[i] + size[i] for i in fast), default=0)

    # Events: (time, 0=end before 1=start, buffer); half-open ranges free at their end step.
    start, end = inst.start.tolist(), inst.end.tolist()
    events = sorted([(end[i], 0, i) for i in fast if size[i] > 0]
                    + [(start[i], 1, i) for i in fast if size[i] > 0])
    live_lo: list[int] = []  # sorted start addresses of live fast buffers (pairwise disjoint)
    live_id: list[int] = []
    inserted = set()
    for _, is_start, i in events:
        lo = offsets[i]
        if not is_start:
            if i in inserted:
                pos = bisect.bisect_left(live_lo, lo)
                del live_lo[pos], live_id[pos]
            continue
        hi = lo + size[i]
        pos = bisect.bisect_left(live_lo, lo)
        clash = None
        if pos > 0 and offsets[live_id[pos - 1]] + size[live_id[pos - 1]] > lo:
            clash = live_id[pos - 1]
        elif pos < len(live_lo) and live_lo[pos] < hi:
            clash = live_id[pos]
        if clash is not None:
            # Not inserted, so the live list stays disjoint and later checks stay exact.
            a, b = sorted((clash, i))
            lo_a = max(offsets[a], offsets[b])
            hi_a = min(offsets[a] + size[a], offsets[b] + size[b])
            violations.append(Violation(
                "overlap", (a, b), f"buffers {_name(inst, a)} and {_name(inst, b)} overlap in "
                f"time [{max(start[a], start[b])}, {min(end[a], end[b])}) and address "
                f"[{lo_a}, {hi_a})"))
            continue
        live_lo.insert(pos, lo)
        live_id.insert(pos, i)
        inserted.add(i)
    return PlanCheck(valid=not violations, violations=violations, peak=int(peak))

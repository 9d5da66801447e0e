"""Replays an action log of the malloc env in plain numpy: the oracles' view of the dynamics.

Independent of the step code (``dynamics``/``candidates``' numba kernels and their mask): each
buffer's candidate offsets are recomputed from the placed buffers by brute force. Only the decision
order (``buffer_order``) is shared: it is the definition of which buffer comes next, not dynamics.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from heurist.envs.malloc.candidates import ORDERS, buffer_order
from heurist.envs.malloc.cost_model import isolated_saving
from heurist.envs.malloc.instance import SLOW, MallocInstance
from heurist.envs.malloc.modes import check_plan_mode

__all__ = ["UNDECIDED", "Replayed", "Rules", "candidate_offsets", "legal_after", "replay"]

UNDECIDED = -2
"""Plan entry of a buffer no action has decided yet."""


@dataclass(frozen=True)
class Rules:
    """The env configuration an action log is read under: ``mode`` (``PLAN_MODES``), ``k``
    candidate slots, decision ``order``, ``undo`` and its budget ``max_undos``."""

    mode: str
    k: int
    order: str = "start"
    undo: bool = False
    max_undos: int = 16

    def __post_init__(self) -> None:
        check_plan_mode(self.mode)
        if self.order not in ORDERS:
            raise ValueError(f"order={self.order!r}: expected one of {ORDERS}")
        if self.k < 1 or self.max_undos < 0:
            raise ValueError(f"k must be >= 1 and max_undos >= 0, got {self.k}, {self.max_undos}")

    @property
    def mapping(self) -> bool:
        """Mapping mode: action ``k`` leaves the buffer in slow memory."""
        return self.mode == "mapping"

    @property
    def leave_action(self) -> int:
        """``LEAVE_IN_SLOW``'s index (mapping mode), else -1."""
        return self.k if self.mapping else -1

    @property
    def undo_action(self) -> int:
        """``UNDO``'s index (the last action, with ``undo``), else -1."""
        return self.k + int(self.mapping) if self.undo else -1

    @property
    def n_actions(self) -> int:
        """K slots, plus LEAVE in mapping mode, plus UNDO."""
        return self.k + int(self.mapping) + int(self.undo)


@dataclass
class Replayed:
    """The state after a log: ``plan`` int64 [N] (``SLOW``, ``UNDECIDED`` or an offset), ``order``
    int64 [N], ``pos`` (buffers decided), ``undos`` left, ``legal`` (every action was allowed) and
    ``failed`` (a packing dead end ended the episode)."""

    plan: np.ndarray
    order: np.ndarray
    pos: int
    undos: int
    legal: bool = True
    failed: bool = False

    @property
    def done(self) -> bool:
        """The episode is over: every buffer decided, a dead end, or an illegal action."""
        return self.pos >= len(self.plan) or self.failed or not self.legal


def candidate_offsets(inst: MallocInstance, plan: np.ndarray, b: int, k: int) -> list[int]:
    """Brute force: every 0-or-top-edge offset (aligned) where ``b`` fits, the lowest ``k``."""
    fast = plan >= 0
    other = fast & (inst.start < inst.end[b]) & (inst.end > inst.start[b])
    lo, hi = plan[other], plan[other] + inst.size[other]
    a, sz, cap = inst.memory.alignment, int(inst.size[b]), inst.capacity
    out = set()
    for x in {0, *hi.tolist()}:
        x = -(-x // a) * a
        if x + sz <= cap and not np.any((lo < x + sz) & (hi > x)):
            out.add(x)
    return sorted(out)[:k]


def _can_undo(rules: Rules, r: Replayed) -> bool:
    return rules.undo and r.pos > 0 and r.undos > 0


def _dead_end(inst: MallocInstance, rules: Rules, r: Replayed) -> bool:
    """Packing only: the current buffer fits nowhere and UNDO is not legal."""
    if rules.mapping or r.pos >= inst.n or _can_undo(rules, r):
        return False
    return not candidate_offsets(inst, r.plan, int(r.order[r.pos]), rules.k)


def replay(inst: MallocInstance, actions, rules: Rules) -> Replayed:
    """Replays ``actions`` [T] of one row; actions after the episode ended are ignored."""
    order = buffer_order(inst.size, inst.start, inst.end, isolated_saving(inst), rules.order)
    r = Replayed(np.full(inst.n, UNDECIDED, dtype=np.int64), np.asarray(order, np.int64), 0,
                 rules.max_undos if rules.undo else 0)
    r.failed = _dead_end(inst, rules, r)
    for a in np.asarray(actions).reshape(-1).tolist():
        if r.done:
            break
        b = int(r.order[r.pos])
        cands = candidate_offsets(inst, r.plan, b, rules.k)
        if 0 <= a < len(cands):
            r.plan[b] = cands[a]
            r.pos += 1
        elif rules.mapping and a == rules.leave_action:
            r.plan[b] = SLOW
            r.pos += 1
        elif rules.undo and a == rules.undo_action and _can_undo(rules, r):
            r.pos -= 1
            r.plan[r.order[r.pos]] = UNDECIDED
            r.undos -= 1
        else:
            r.legal = False
            break
        r.failed = _dead_end(inst, rules, r)
    return r


def legal_after(inst: MallocInstance, r: Replayed, rules: Rules) -> np.ndarray:
    """``bool [n_actions]``: the legal actions in state ``r``; an ended episode allows action 0
    only (the env's absorbing convention)."""
    legal = np.zeros(rules.n_actions, dtype=bool)
    if r.done:
        legal[0] = True
        return legal
    n_cands = len(candidate_offsets(inst, r.plan, int(r.order[r.pos]), rules.k))
    legal[:n_cands] = True
    if rules.mapping:
        legal[rules.leave_action] = True
    if rules.undo:
        legal[rules.undo_action] = _can_undo(rules, r)
    return legal

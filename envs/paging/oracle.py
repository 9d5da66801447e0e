"""Independent oracles of the paging env: a plain Python replay of the trace and the action log.

Shares no code with the env's numba dynamics; it only shares the two conventions of the MDP: a
compulsory miss fills the lowest free slot, and an action is consumed at each miss with a full
cache. ``evaluate`` is the sum of step rewards: minus the cost of every miss, or 0 for a row on
which no decision happens (the no-decision corner case, see README). ``miss_cost`` is the cost of
every miss regardless.
"""
from __future__ import annotations

import numpy as np
import torch
from tensordict import TensorDictBase

__all__ = ["check_solution", "evaluate", "legal_actions", "legal_after", "miss_cost", "replay"]


def replay(trace, actions, *, cache_size: int, cost=None) -> tuple[bool, float, int]:
    """Replays one trace ``[T]`` with evictions ``actions`` ``[n]`` (extra entries ignored).

    Returns ``(valid, miss_cost, decisions)``; ``valid`` is False when an action is outside
    ``[0, cache_size)`` or the log is shorter than the number of decisions.
    """
    valid, missed, decisions, _ = _serve(trace, actions, cache_size, cost, pause=False)
    return valid, missed, decisions


def _serve(trace, actions, cache_size, cost, *, pause: bool):
    """The replay loop. With ``pause``, stops at the first decision the log does not cover and
    returns the slots then (``None`` if the trace ends first); without it, such a decision makes
    the log invalid. -> ``(valid, miss_cost, decisions, slots or None)``."""
    k = int(cache_size)
    slots: list = [None] * k
    pos: dict = {}
    missed = 0.0
    used = decisions = 0
    acts = [int(a) for a in actions]
    for t, page in enumerate(int(p) for p in trace):
        if page in pos:
            continue
        missed += 1.0 if cost is None else float(cost[t])
        if used < k:
            slot = used
            used += 1
        else:
            if decisions >= len(acts):
                return pause, missed, decisions, slots if pause else None
            slot = acts[decisions]
            decisions += 1
            if not 0 <= slot < k:
                return False, missed, decisions, None
            del pos[slots[slot]]
        slots[slot] = page
        pos[page] = slot
    return True, missed, decisions, None


def legal_after(trace, actions, *, cache_size: int) -> list[bool]:
    """The legal evictions [k] of the decision that follows the log prefix ``actions``: the
    occupied slots (all of them, at a miss with a full cache). A trace that ends first allows
    only slot 0, the env's convention for done rows."""
    _, _, _, slots = _serve(trace, actions, cache_size, None, pause=True)
    if slots is None:
        return [j == 0 for j in range(int(cache_size))]
    return [page is not None for page in slots]


def _rows(instance: TensorDictBase, actions: torch.Tensor):
    trace = instance["trace"].cpu().numpy()
    B, T = trace.shape
    length = (instance["length"].cpu().numpy() if "length" in instance
              else np.full(B, T))
    cost = instance["cost"].cpu().numpy() if "cost" in instance else None
    acts = torch.as_tensor(actions).reshape(B, -1).cpu().numpy()
    for b in range(B):
        L = int(length[b])
        yield trace[b, :L], acts[b], None if cost is None else cost[b, :L]


def check_solution(instance: TensorDictBase, actions: torch.Tensor, *,
                   cache_size: int) -> torch.Tensor:
    """bool [B]: every decision of each row has a legal slot in the log ``actions`` [B, n]."""
    return torch.tensor([replay(tr, a, cache_size=cache_size, cost=c)[0]
                         for tr, a, c in _rows(instance, actions)], dtype=torch.bool)


def evaluate(instance: TensorDictBase, actions: torch.Tensor, *,
             cache_size: int) -> torch.Tensor:
    """float64 [B]: the return of each row's action log (minus its miss cost; 0 without any
    decision). Invalid logs raise ``ValueError`` naming the row."""
    out = []
    for b, (tr, a, c) in enumerate(_rows(instance, actions)):
        ok, missed, decisions = replay(tr, a, cache_size=cache_size, cost=c)
        if not ok:
            raise ValueError(f"row {b}: invalid action log (action {decisions} is missing or "
                             f"outside [0, {cache_size}))")
        out.append(-missed if decisions else 0.0)
    return torch.tensor(out, dtype=torch.float64)


def miss_cost(instance: TensorDictBase, actions: torch.Tensor, *,
              cache_size: int) -> torch.Tensor:
    """float64 [B]: total cost of all misses of each row's action log (no corner case)."""
    out = []
    for b, (tr, a, c) in enumerate(_rows(instance, actions)):
        ok, missed, decisions = replay(tr, a, cache_size=cache_size, cost=c)
        if not ok:
            raise ValueError(f"row {b}: invalid action log at decision {decisions}")
        out.append(missed)
    return torch.tensor(out, dtype=torch.float64)


def legal_actions(instance: TensorDictBase, actions: torch.Tensor, *,
                  cache_size: int) -> torch.Tensor:
    """bool [B, k]: the legal evictions after each row's log prefix ``actions`` [B, t] (``t``
    may be 0), replayed from the instance alone."""
    B = instance.batch_size[0]
    log = torch.as_tensor(actions)
    acts = log.reshape(B, -1).cpu().numpy() if log.numel() else np.zeros((B, 0), np.int64)
    trace = instance["trace"].cpu().numpy()
    length = (instance["length"].cpu().numpy() if "length" in instance
              else np.full(B, trace.shape[1]))
    rows = [legal_after(trace[b, :int(length[b])], acts[b], cache_size=cache_size)
            for b in range(B)]
    return torch.tensor(rows, dtype=torch.bool).reshape(B, int(cache_size))

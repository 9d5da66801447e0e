"""Independent oracles of the KVCache env: a plain Python replay of a row's action log over the
token-level attention trace.

Shares no code with the env's vectorized unit arithmetic; it shares only the MDP's conventions:
an eviction is due when the cache holds more units than the budget (then the action must name an
occupied slot; otherwise it must be the no-op 0), and a new unit fills the lowest empty slot. A
step's reward is the mean, over the new unit's queries, of the attention mass on the tokens of the
cached units (0 for prompt queries under ``compress``, which run with the full prompt).
``legal_actions`` replays a log prefix the same way and lists the legal slots after it, so the
conformance suite can hold the env's ``action_mask`` against it.
"""
from __future__ import annotations

import math

import numpy as np
import torch
from tensordict import TensorDictBase

__all__ = ["budget_units", "check_solution", "evaluate", "legal_actions", "legal_after", "legal_slots",
           "replay"]


def budget_units(budget: float, length: int, unit: int) -> int:
    """Cache budget in units of a row of ``length`` tokens."""
    tokens = budget if isinstance(budget, int) else math.floor(length * budget)
    return max(1, int(tokens) // unit)


def legal_slots(slots: list, cap: int) -> list[bool]:
    """The MDP's one legality rule: with more than ``cap`` entries cached, any occupied slot may be
    evicted; otherwise the only legal action is the no-op 0."""
    if sum(s is not None for s in slots) > cap:
        return [s is not None for s in slots]
    return [i == 0 for i in range(len(slots))]


def _start(attn_shape: tuple, length: int, *, budget: float, unit: int, n_slots: int,
           layer: bool) -> tuple[list, list, int]:
    """The cache after reset (unit 0 of every head), the entry order of the steps, the capacity."""
    H = attn_shape[0] if layer else 1
    U = -(-int(length) // unit)
    slots: list[tuple[int, int] | None] = [None] * n_slots  # (head, unit) per slot
    for h in range(H):
        slots[h] = (h, 0)
    order = [(v, h) for v in range(1, U) for h in range(H)]  # the entry appended at each step
    return slots, order, H * budget_units(budget, int(length), unit)


def _apply(slots: list, entry: tuple[int, int], a: int, cap: int) -> bool:
    """Takes action ``a`` (evict or no-op) then caches ``entry`` in the lowest empty slot;
    False (and ``slots`` untouched) when ``a`` is illegal."""
    if not 0 <= a < len(slots) or not legal_slots(slots, cap)[a]:
        return False
    if slots[a] is not None and sum(s is not None for s in slots) > cap:
        slots[a] = None
    slots[slots.index(None)] = entry
    return True


def replay(attn: np.ndarray, length: int, n_prompt: int, actions, *, budget: float,
           unit: int, n_slots: int, compress: bool, layer: bool = False
           ) -> tuple[bool, float, list[float]]:
    """Replays one row: ``attn`` [N, N] token attention (``layer``: [H, N, N], the KV heads of a
    layer sharing ``H x`` the budget, entries arriving head by head), ``actions`` [n] (extra
    entries ignored). Returns ``(valid, total_recall, per_step_rewards)``.
    """
    attn = np.asarray(attn)
    if not layer:
        attn = attn[None]
    H, T = attn.shape[0], int(length)
    P = -(-int(n_prompt) // unit) if compress else 0
    slots, order, cap = _start(attn.shape, T, budget=budget, unit=unit, n_slots=n_slots,
                               layer=True)
    rewards: list[float] = []
    acts = [int(a) for a in actions]
    for i, (v, h) in enumerate(order):
        if i >= len(acts) or not _apply(slots, (h, v), acts[i], cap):
            return False, float(sum(rewards)), rewards
        if v < P:
            rewards.append(0.0)
            continue
        keep = np.zeros(T, dtype=bool)
        for s in slots:
            if s is not None and s[0] == h:
                keep[s[1] * unit:(s[1] + 1) * unit] = True
        q = attn[h, v * unit:min((v + 1) * unit, T), :T].astype(np.float64)
        rewards.append(float(q[:, keep].sum(1).mean()) / H)
    return True, float(sum(rewards)), rewards


def legal_after(attn_shape: tuple, length: int, actions, *, budget: float, unit: int,
                n_slots: int, layer: bool = False) -> list[bool]:
    """Legal actions ``[n_slots]`` of one row after the log prefix ``actions`` [t]. A row whose
    episode is over (or whose prefix is illegal) gets the absorbing mask: only the no-op 0."""
    slots, order, cap = _start(attn_shape, length, budget=budget, unit=unit, n_slots=n_slots,
                               layer=layer)
    acts = [int(a) for a in actions]
    if len(acts) >= len(order):
        return [i == 0 for i in range(n_slots)]
    for entry, a in zip(order, acts):
        if not _apply(slots, entry, a, cap):
            return [i == 0 for i in range(n_slots)]
    return legal_slots(slots, cap)


def _rows(instance: TensorDictBase, actions: torch.Tensor, kw: dict):
    A = instance["attn"].numpy()
    L, P = instance["length"].numpy(), instance["n_prompt"].numpy()
    if A.ndim != (4 if kw.get("layer") else 3):
        raise ValueError(f"instance attn has shape {A.shape}: wrong for layer={kw.get('layer')}")
    acts = torch.as_tensor(actions).reshape(A.shape[0], -1).numpy()
    return [replay(A[b], int(L[b]), int(P[b]), acts[b], **kw) for b in range(A.shape[0])]


def check_solution(instance: TensorDictBase, actions: torch.Tensor, *, budget: float, unit: int,
                   n_slots: int, compress: bool, layer: bool = False) -> torch.Tensor:
    """bool [B]: every due eviction of the log ``actions`` [B, t] names an occupied slot, every
    other step is the no-op 0."""
    kw = {"budget": budget, "unit": unit, "n_slots": n_slots, "compress": compress, "layer": layer}
    return torch.tensor([ok for ok, _, _ in _rows(instance, actions, kw)], dtype=torch.bool)


def evaluate(instance: TensorDictBase, actions: torch.Tensor, *, budget: float, unit: int,
             n_slots: int, compress: bool, layer: bool = False) -> torch.Tensor:
    """float64 [B]: summed attention recall of each row's action log ``actions`` [B, t]."""
    kw = {"budget": budget, "unit": unit, "n_slots": n_slots, "compress": compress, "layer": layer}
    return torch.tensor([tot for _, tot, _ in _rows(instance, actions, kw)], dtype=torch.float64)


def legal_actions(instance: TensorDictBase, actions: torch.Tensor, *, budget: float, unit: int,
                  n_slots: int, compress: bool = False, layer: bool = False) -> torch.Tensor:
    """bool [B, n_slots]: the legal actions after each row's log prefix ``actions`` [B, t]
    (``t`` may be 0), replayed from the instance's lengths alone (``compress`` does not change
    legality; accepted so every oracle takes the same keywords)."""
    shape = tuple(instance["attn"].shape)
    if len(shape) != (4 if layer else 3):
        raise ValueError(f"instance attn has shape {shape}: wrong for layer={layer}")
    B, L = shape[0], instance["length"].tolist()
    log = torch.as_tensor(actions)
    acts = log.reshape(B, -1).tolist() if log.numel() else [[] for _ in range(B)]
    return torch.tensor([legal_after(shape[1:], L[b], acts[b], budget=budget, unit=unit,
                                     n_slots=n_slots, layer=layer) for b in range(B)],
                        dtype=torch.bool).reshape(B, n_slots)

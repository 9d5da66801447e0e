"""Independent oracles of the KVCache env: a plain Python replay of a row's action log over the
token-level attention trace.

Shares no code with the env's vectorized unit arithmetic; it shares only the MDP's conventions:
an eviction is due when the cache holds more units than the budget (then the action must name an
occupied slot; otherwise it must be the no-op 0), and a new unit fills the lowest empty slot. A
step's reward is the mean, over the new unit's queries, of the attention mass on the tokens of the
cached units (0 for prompt queries under ``compress``, which run with the full prompt).
"""
from __future__ import annotations

import math

import numpy as np
import torch
from tensordict import TensorDictBase

__all__ = ["budget_units", "check_solution", "evaluate", "replay"]


def budget_units(budget: float, length: int, unit: int) -> int:
    """Cache budget in units of a row of ``length`` tokens."""
    tokens = budget if isinstance(budget, int) else math.floor(length * budget)
    return max(1, int(tokens) // unit)


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
    H = attn.shape[0]
    T = int(length)
    U = -(-T // unit)
    P = -(-int(n_prompt) // unit) if compress else 0
    cap = H * budget_units(budget, T, unit)
    slots: list[tuple[int, int] | None] = [None] * n_slots  # (head, unit) per slot
    for h in range(H):
        slots[h] = (h, 0)
    order = [(v, h) for v in range(1, U) for h in range(H)]  # entries after reset
    rewards: list[float] = []
    acts = [int(a) for a in actions]
    for i, (v, h) in enumerate(order):
        if i >= len(acts):
            return False, float(sum(rewards)), rewards
        a = acts[i]
        if sum(s is not None for s in slots) > cap:
            if not 0 <= a < n_slots or slots[a] is None:
                return False, float(sum(rewards)), rewards
            slots[a] = None
        elif a != 0:
            return False, float(sum(rewards)), rewards
        slots[slots.index(None)] = (h, v)
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


def _rows(instance: TensorDictBase, actions: torch.Tensor, kw: dict):
    A = instance["attn"].numpy()
    L, P = instance["length"].numpy(), instance["n_prompt"].numpy()
    if A.ndim != (4 if kw.get("layer") else 3):
        raise ValueError(f"instance attn has shape {A.shape}: wrong for layer={kw.get('layer')}")
    acts = torch.as_tensor(actions).reshape(A.shape[0], -1).numpy()
    return [replay(A[b], int(L[b]), int(P[b]), acts[b], **kw) for b in range(A.shape[0])]


def check_solution(instance: TensorDictBase, actions: torch.Tensor, **kw) -> torch.Tensor:
    """bool [B]: every due eviction names an occupied slot, every other step is the no-op 0."""
    return torch.tensor([ok for ok, _, _ in _rows(instance, actions, kw)], dtype=torch.bool)


def evaluate(instance: TensorDictBase, actions: torch.Tensor, **kw) -> torch.Tensor:
    """float64 [B]: summed attention recall of each row's action log."""
    return torch.tensor([tot for _, tot, _ in _rows(instance, actions, kw)], dtype=torch.float64)

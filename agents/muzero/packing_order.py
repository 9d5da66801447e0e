"""Training the learned packing order (``heurist.policies.malloc.packing_order``) of the exact
``minimalloc`` search (issue 10, section 4, packing).

Labels: on generated zero-slack instances (``envs.malloc.synthetic.zero_slack_instance``, the
family of ``scripts/benchmark_malloc_exact.py``) each static order of ``STATIC_ORDERS`` is run
alone within a node budget and its node count kept. Target: per instance, the static orders
within ``tol`` x the fewest nodes (ties all count); the net learns to reproduce their ranks
(Plackett-Luce likelihood of the order, lower score first), each instance weighted by
``log(worst / best)`` nodes (instances where the order does not matter teach nothing). So the net
learns to pick or blend the static orders from the instance's features.
"""
from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch

from heurist.policies.malloc.packing_order import (
    N_CONTEXT,
    N_FEATURES,
    STATIC_ORDERS,
    OrderPickerNet,
    PackingOrderNet,
    buffer_features,
    instance_context,
    net_inputs,
)

__all__ = ["OrderLabels", "label_instance", "label_instances", "solution_labels",
           "train_order_picker", "train_packing_order", "train_solution_order", "zero_slack"]


def zero_slack(n: int, seed: int):
    """The benchmark family: ``zero_slack_instance(n, seed, capacity=2^20, horizon=max(8, n/2))``
    (a perfect tiling: every section exactly full)."""
    from heurist.envs.malloc.synthetic import zero_slack_instance

    return zero_slack_instance(n, seed=seed, capacity=1 << 20, horizon=max(8, n // 2))[0]


@dataclass
class OrderLabels:
    """One labelled instance: net inputs ``x [N, 2 F + 2]``, the root ranks ``ranks [K, N]``
    of the K static orders, and their node counts ``nodes [K]`` (``node_limit + 1``: not
    decided within the budget)."""

    x: np.ndarray
    ranks: np.ndarray
    nodes: np.ndarray
    ctx: np.ndarray


def label_instance(inst, *, node_limit: int, orders: Sequence[str] = STATIC_ORDERS,
                   ) -> OrderLabels:
    """Runs ``minimalloc_pack(inst, order=o)`` for each order (its filler and cover members
    included, as the benchmark runs it) and keeps the node counts."""
    from heurist.policies.malloc.minimalloc_search import minimalloc_pack

    if node_limit < 1:
        raise ValueError(f"node_limit must be >= 1, got {node_limit}")
    feats = buffer_features(inst)
    nodes = np.empty(len(orders), dtype=np.int64)
    for i, o in enumerate(orders):
        res = minimalloc_pack(inst, node_limit=node_limit, order=o)
        nodes[i] = res.nodes if res.status != "unknown" else node_limit + 1
    # The static ranks are features already (STATIC_ORDERS' columns, rank / (N - 1)).
    cols = [STATIC_ORDERS.index(o) for o in orders]
    ranks = np.rint(feats[:, [11 + c for c in cols]].T * max(inst.n - 1, 1)).astype(np.int64)
    return OrderLabels(net_inputs(feats), ranks, nodes, instance_context(feats))


def label_instances(sizes: Sequence[int], seeds: Sequence[int], *, node_limit: int,
                    log=None) -> list[OrderLabels]:
    """``label_instance`` on ``zero_slack(n, seed)`` for every size and seed."""
    out = []
    for n in sizes:
        for s in seeds:
            t = time.perf_counter()
            lab = label_instance(zero_slack(n, s), node_limit=node_limit)
            out.append(lab)
            if log is not None:
                log(f"label N={n} seed={s}: nodes {lab.nodes.tolist()} "
                    f"({time.perf_counter() - t:.1f} s)")
    return out


def _pl_nll(scores: torch.Tensor, perm: torch.Tensor) -> torch.Tensor:
    """Mean Plackett-Luce negative log-likelihood of placing ``perm [N]`` first to last when
    lower ``scores [N]`` go first."""
    u = -scores[perm]
    tail = torch.logcumsumexp(u.flip(0), dim=0).flip(0)
    return (tail - u).mean()


def train_packing_order(data: Sequence[OrderLabels], *, hidden: int = 32, epochs: int = 200,
                        lr: float = 3e-3, tol: float = 1.5, seed: int = 0,
                        weight_decay: float = 1e-4) -> PackingOrderNet:
    """Fits a ``PackingOrderNet`` (``hidden`` units) to the labels with Adam, full passes over
    the instances; deterministic for a seed (one thread)."""
    if hidden < 1 or epochs < 1 or lr <= 0 or tol < 1:
        raise ValueError(f"hidden/epochs >= 1, lr > 0, tol >= 1, got {hidden}, {epochs}, {lr}, "
                         f"{tol}")
    torch.manual_seed(seed)
    d = 2 * N_FEATURES + 2
    items = []
    for lab in data:
        best, worst = int(lab.nodes.min()), int(lab.nodes.max())
        w = float(np.log(worst / max(best, 1)))
        if w <= 0:
            continue
        good = np.flatnonzero(lab.nodes <= tol * best)
        perms = [torch.from_numpy(np.argsort(lab.ranks[k], kind="stable")) for k in good]
        items.append((torch.from_numpy(lab.x), perms, w / len(good)))
    if not items:
        raise ValueError("train_packing_order: no instance where the order changes the nodes")
    w1 = torch.nn.Parameter(torch.randn(d, hidden) / np.sqrt(d))
    b1 = torch.nn.Parameter(torch.zeros(hidden))
    w2 = torch.nn.Parameter(torch.randn(hidden) / np.sqrt(hidden))
    opt = torch.optim.Adam([w1, b1, w2], lr=lr, weight_decay=weight_decay)
    total = sum(w * len(p) for _, p, w in items)
    for _ in range(epochs):
        opt.zero_grad()
        loss = torch.zeros(())
        for x, perms, w in items:
            s = torch.relu(x @ w1 + b1) @ w2
            for p in perms:
                loss = loss + w * _pl_nll(s, p)
        (loss / total).backward()
        opt.step()
    return PackingOrderNet(w1=w1.detach().numpy(), b1=b1.detach().numpy(),
                           w2=w2.detach().numpy())


def train_order_picker(data: Sequence[OrderLabels], *, hidden: int = 16, epochs: int = 500,
                       lr: float = 1e-2, tau: float = 0.5, seed: int = 0,
                       weight_decay: float = 1e-3) -> OrderPickerNet:
    """Fits an ``OrderPickerNet``: cross-entropy against ``softmax(-log(nodes / best) / tau)``
    over the static orders, each instance weighted by ``log(worst / best)``; Adam, full batch,
    deterministic for a seed."""
    if hidden < 1 or epochs < 1 or lr <= 0 or tau <= 0:
        raise ValueError(f"hidden/epochs >= 1, lr > 0, tau > 0, got {hidden}, {epochs}, {lr}, "
                         f"{tau}")
    torch.manual_seed(seed)
    ln = torch.tensor(np.log(np.stack([lab.nodes for lab in data]).astype(np.float64)))
    w = ln.max(dim=1).values - ln.min(dim=1).values
    if not bool((w > 0).any()):
        raise ValueError("train_order_picker: no instance where the order changes the nodes")
    target = torch.softmax(-(ln - ln.min(dim=1, keepdim=True).values) / tau, dim=1).float()
    w = (w / w.sum()).float()
    c = torch.from_numpy(np.stack([lab.ctx for lab in data]))
    k = len(STATIC_ORDERS)
    w1 = torch.nn.Parameter(torch.randn(N_CONTEXT, hidden) / np.sqrt(N_CONTEXT))
    b1 = torch.nn.Parameter(torch.zeros(hidden))
    w2 = torch.nn.Parameter(torch.randn(hidden, k) / np.sqrt(hidden))
    b2 = torch.nn.Parameter(torch.zeros(k))
    opt = torch.optim.Adam([w1, b1, w2, b2], lr=lr, weight_decay=weight_decay)
    for _ in range(epochs):
        opt.zero_grad()
        logp = torch.log_softmax(torch.relu(c @ w1 + b1) @ w2 + b2, dim=1)
        loss = -(w * (target * logp).sum(dim=1)).sum()
        loss.backward()
        opt.step()
    return OrderPickerNet(w1=w1.detach().numpy(), b1=b1.detach().numpy(),
                          w2=w2.detach().numpy(), b2=b2.detach().numpy())


def solution_labels(sizes: Sequence[int], seeds: Sequence[int]) -> list[OrderLabels]:
    """Labels from the generator's own packing (no search): ``ranks [2, N]`` are the buffers
    listed by (offset, index) in it and in its mirror image (``C - offset - size``, also a
    packing); ``nodes`` is empty."""
    from heurist.envs.malloc.synthetic import zero_slack_instance

    out = []
    for n in sizes:
        for s in seeds:
            inst, off = zero_slack_instance(n, seed=s, capacity=1 << 20, horizon=max(8, n // 2))
            feats = buffer_features(inst)
            ranks = np.empty((2, inst.n), dtype=np.int64)
            for k, o in enumerate((off, inst.capacity - off - inst.size)):
                ranks[k, np.lexsort((np.arange(inst.n), o))] = np.arange(inst.n)
            out.append(OrderLabels(net_inputs(feats), ranks, np.zeros(0, dtype=np.int64),
                                   instance_context(feats)))
    return out


def train_solution_order(data: Sequence[OrderLabels], *, hidden: int = 32, epochs: int = 200,
                         lr: float = 3e-3, seed: int = 0,
                         weight_decay: float = 1e-4) -> PackingOrderNet:
    """Fits a ``PackingOrderNet`` to list the buffers as a known packing does (lowest offset
    first): per instance the Plackett-Luce loss of the nearer of its listings (``ranks [K, N]``:
    the packing and its mirror image), so the net may learn either orientation."""
    if hidden < 1 or epochs < 1 or lr <= 0:
        raise ValueError(f"hidden/epochs >= 1, lr > 0, got {hidden}, {epochs}, {lr}")
    if not data:
        raise ValueError("train_solution_order: no data")
    torch.manual_seed(seed)
    d = 2 * N_FEATURES + 2
    items = [(torch.from_numpy(lab.x),
              [torch.from_numpy(np.argsort(r, kind="stable")) for r in lab.ranks])
             for lab in data]
    w1 = torch.nn.Parameter(torch.randn(d, hidden) / np.sqrt(d))
    b1 = torch.nn.Parameter(torch.zeros(hidden))
    w2 = torch.nn.Parameter(torch.randn(hidden) / np.sqrt(hidden))
    opt = torch.optim.Adam([w1, b1, w2], lr=lr, weight_decay=weight_decay)
    for _ in range(epochs):
        opt.zero_grad()
        loss = torch.zeros(())
        for x, perms in items:
            s = torch.relu(x @ w1 + b1) @ w2
            loss = loss + torch.stack([_pl_nll(s, p) for p in perms]).min()
        (loss / len(items)).backward()
        opt.step()
    return PackingOrderNet(w1=w1.detach().numpy(), b1=b1.detach().numpy(),
                           w2=w2.detach().numpy())

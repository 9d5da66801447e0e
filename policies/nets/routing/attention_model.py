"""Attention Model (Kool, van Hoof & Welling 2019) on ``PVRPSequential``.

MHA encoder over the node embeddings; per step a context query (graph embedding, the acting
vehicle's node and features) attends over the nodes (one glimpse) and points with logits clipped by
``C * tanh`` (``C = 10``), masked by the env's ``action_mask``. The acting vehicle's preferences,
zones and load fit enter through the dynamic embedding, so one encoder pass serves all vehicles.
"""
from __future__ import annotations

from collections.abc import Callable

import torch
from tensordict import TensorDict, TensorDictBase

from heurist.policies.nets.routing.base import RoutingPolicy
from heurist.policies.nets.routing.decoder import PointerDecoder
from heurist.policies.nets.routing.embeddings import (
    ContextEmbedding,
    DynamicEmbedding,
    InitEmbedding,
)
from heurist.policies.nets.routing.encoder import MHAEncoder

__all__ = ["AttentionModel", "shared_copies", "shared_view"]


class AttentionModel(RoutingPolicy):
    """AM: ``dim`` H, ``n_heads``, ``n_layers`` encoder layers, ``ff_dim``, ``norm`` (``"batch"``
    as in the paper, or ``"instance"``), ``clip`` C, ``graph_context`` (the graph embedding in the
    query; POMO drops it)."""

    def __init__(self, *, dim: int = 128, n_heads: int = 8, n_layers: int = 3, ff_dim: int = 512,
                 norm: str = "batch", clip: float = 10.0, graph_context: bool = True) -> None:
        super().__init__()
        self.config = {"dim": int(dim), "n_heads": int(n_heads), "n_layers": int(n_layers),
                       "ff_dim": int(ff_dim), "norm": str(norm), "clip": float(clip),
                       "graph_context": bool(graph_context)}  # the artifact manifest's record
        self.init_embedding = InitEmbedding(dim=dim)
        self.encoder = MHAEncoder(dim=dim, n_heads=n_heads, n_layers=n_layers, ff_dim=ff_dim,
                                  norm=norm)
        self.context = ContextEmbedding(dim=dim, graph=graph_context)
        self.dynamic = DynamicEmbedding()
        self.decoder = PointerDecoder(dim=dim, n_heads=n_heads, clip=clip,
                                      dynamic_dim=DynamicEmbedding.dim)

    def embed(self, td: TensorDictBase) -> torch.Tensor:
        """Encoded nodes ``[B, N + 1, H]`` (SymNCO projects these)."""
        return self.encoder(self.init_embedding(td))

    def init(self, td: TensorDictBase) -> TensorDict:
        nodes = self.embed(td)
        gk, gv, lk = self.decoder.precompute(nodes)
        # ``row``: which encoded row each state row is (a reindexed state carries it along)
        row = torch.arange(nodes.shape[0], device=nodes.device)
        return TensorDict({"nodes": nodes, "graph": nodes.mean(1), "gk": gk, "gv": gv, "lk": lk,
                           "row": row}, batch_size=td.batch_size)

    def step(self, td: TensorDictBase, state: TensorDict) -> tuple[torch.Tensor, TensorDict]:
        view, K = shared_view(state, _PER_INSTANCE, extra=self._context_precompute)
        if K == 1:  # one row per instance: the plain path, bit for bit as before
            gk, gv, lk, nodes, graph = view
            query = self.context(td, nodes, graph)
        else:  # K copies per instance (POMO's starts, samples): per-instance products
            gk, gv, lk, _, _, node_q, graph_q = view
            query = self.context.step(td, node_q, graph_q, shared=K)
        logits = self.decoder(query, (gk, gv, lk), td["action_mask"], dynamic=self.dynamic(td),
                              shared=K)
        return logits, state

    def _context_precompute(self, view: tuple[torch.Tensor, ...]) -> tuple[torch.Tensor, ...]:
        return self.context.precompute(view[3], view[4])


#: the state entries that step reads once per instance (shared by its K copies)
_PER_INSTANCE = ("gk", "gv", "lk", "nodes", "graph")


def shared_view(state: TensorDict, names: tuple[str, ...], *,
                extra: Callable[[tuple[torch.Tensor, ...]], tuple[torch.Tensor, ...]] | None = None,
                ) -> tuple[tuple[torch.Tensor, ...], int]:
    """The entries ``names`` of ``state`` [B] and their sharing K (:func:`shared_copies`): the
    ``[B, ...]`` entries and 1, or, when the state is K copy-major copies, the first ``B / K``
    rows of each followed by ``extra(those rows)`` (per-episode precomputations), and K.

    The slices (and ``extra``) are computed once per episode and kept in ``state`` (a non-tensor
    entry, valid only while ``state`` still holds the same ``row`` and entry tensors: a reindexed
    state holds new ones): a slice taken at every step cost, in its backward, a zero-filled
    ``[B, ...]`` gradient per step, more than the products themselves."""
    full = tuple(state[n] for n in names)
    row = state.get("row", None)
    if row is None:
        return full, 1
    cache = state.get_non_tensor("shared_view") if "shared_view" in state.keys() else None
    if (cache is not None and cache["row"] is row and len(cache["full"]) == len(full)
            and all(a is b for a, b in zip(cache["full"], full))):
        return cache["view"], cache["K"]
    K = shared_copies(row)
    view = full
    if K > 1:
        view = tuple(x[:row.shape[0] // K] for x in full)
        if extra is not None:
            view = view + tuple(extra(view))
    state.set_non_tensor("shared_view", {"row": row, "full": full, "K": K, "view": view})
    return view, K


def shared_copies(row: torch.Tensor | None) -> int:
    """K when ``row`` [B] is ``arange(B) % (B / K)``: the state was encoded on ``B / K`` rows and
    repeated K times copy-major (``run_episode(shared=K)``: POMO's starts, the shared baseline's
    samples), so the decoder may read the keys of the first ``B / K`` rows only; else 1 (a
    reindexed state, e.g. beam search's)."""
    if row is None or row.ndim != 1 or not row.shape[0]:
        return 1
    B = row.shape[0]
    b = int(row[-1]) + 1
    if b >= B or b < 1 or B % b:
        return 1
    ok = torch.equal(row.view(B // b, b), torch.arange(b, device=row.device).expand(B // b, b))
    return B // b if ok else 1

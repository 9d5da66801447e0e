"""Attention Model (Kool, van Hoof & Welling 2019) on ``PVRPSequential``.

MHA encoder over the node embeddings; per step a context query (graph embedding, the acting
vehicle's node and features) attends over the nodes (one glimpse) and points with logits clipped by
``C * tanh`` (``C = 10``), masked by the env's ``action_mask``. The acting vehicle's preferences,
zones and load fit enter through the dynamic embedding, so one encoder pass serves all vehicles.
``dynamic=False`` leaves the dynamic embedding out (RL4CO's CVRP decoder has none): on CVRP its
features carry nothing the static keys and the mask do not (one vehicle, no preferences or zones;
"unserved" and "fits" are 1 on every legal node, and illegal ones are masked in the glimpse and the
logits), and it was ~20 % of a POMO CVRP20 training iteration.
"""
from __future__ import annotations

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

__all__ = ["AttentionModel", "shared_copies"]


class AttentionModel(RoutingPolicy):
    """AM: ``dim`` H, ``n_heads``, ``n_layers`` encoder layers, ``ff_dim``, ``norm`` (``"batch"``
    as in the paper, or ``"instance"``), ``clip`` C, ``graph_context`` (the graph embedding in the
    query; POMO drops it), ``dynamic`` (the dynamic embedding; see the module docstring)."""

    def __init__(self, *, dim: int = 128, n_heads: int = 8, n_layers: int = 3, ff_dim: int = 512,
                 norm: str = "batch", clip: float = 10.0, graph_context: bool = True,
                 dynamic: bool = True) -> None:
        super().__init__()
        self.config = {"dim": int(dim), "n_heads": int(n_heads), "n_layers": int(n_layers),
                       "ff_dim": int(ff_dim), "norm": str(norm), "clip": float(clip),
                       "graph_context": bool(graph_context)}  # the artifact manifest's record
        if not dynamic:  # recorded only when off: older manifests (no key) mean on
            self.config["dynamic"] = False
        self.init_embedding = InitEmbedding(dim=dim)
        self.encoder = MHAEncoder(dim=dim, n_heads=n_heads, n_layers=n_layers, ff_dim=ff_dim,
                                  norm=norm)
        self.context = ContextEmbedding(dim=dim, graph=graph_context)
        self.dynamic = DynamicEmbedding() if dynamic else None
        self.decoder = PointerDecoder(dim=dim, n_heads=n_heads, clip=clip,
                                      dynamic_dim=DynamicEmbedding.dim if dynamic else 0)

    def embed(self, td: TensorDictBase) -> torch.Tensor:
        """Encoded nodes ``[B, N + 1, H]`` (SymNCO projects these)."""
        return self.encoder(self.init_embedding(td))

    def init(self, td: TensorDictBase) -> TensorDict:
        """The state [B]: ``row`` (which encoded instance each row is; reindexing the state
        carries it along) and, as one non-tensor entry shared by every reindexed copy, the
        per-instance tensors: encoded nodes, graph embedding and the decoder's keys. So
        ``run_episode(shared=K)``'s K-fold repeat of the state copies only ``row``, and a step
        on K copy-major copies reads each instance's keys once (:meth:`_view`)."""
        nodes = self.embed(td)
        gk, gv, lk = self.decoder.precompute(nodes)
        row = torch.arange(nodes.shape[0], device=nodes.device)
        state = TensorDict({"row": row}, batch_size=td.batch_size)
        state.set_non_tensor("per_instance", {"tensors": (gk, gv, lk, nodes, nodes.mean(1)),
                                              "memo": None})
        return state

    def step(self, td: TensorDictBase, state: TensorDict) -> tuple[torch.Tensor, TensorDict]:
        view, K = self._view(state)
        if K == 1:  # one row per state row: the plain path (bit for bit the materialised one)
            gk, gv, lk, nodes, graph = view
            query = self.context(td, nodes, graph)
        else:  # K copies per instance (POMO's starts, samples): per-instance products
            gk, gv, lk, _, _, node_q, graph_q = view
            query = self.context.step(td, node_q, graph_q, shared=K)
            if self.dynamic is None and torch.is_grad_enabled():
                # training: the output projection folded into the logit keys once per episode
                # (PointerDecoder.fold), not a [B, H] x [H, H] product and its backward per step;
                # inference keeps the unfolded products (the same values to float rounding)
                return self.decoder(query, (gk, gv, self._folded(state, lk)),
                                    td["action_mask"], shared=K, folded=True), state
        dyn = self.dynamic(td) if self.dynamic is not None else None
        logits = self.decoder(query, (gk, gv, lk), td["action_mask"], dynamic=dyn, shared=K)
        return logits, state

    def _folded(self, state: TensorDict, lk: torch.Tensor) -> torch.Tensor:
        """:meth:`PointerDecoder.fold` of the logit keys, memoised per ``row`` tensor."""
        per = state.get_non_tensor("per_instance")
        memo = per.get("folded")
        if memo is None or memo[0] is not state["row"]:
            memo = per["folded"] = (state["row"], self.decoder.fold(lk))
        return memo[1]

    def step_inputs(self, td: TensorDictBase) -> tuple[torch.Tensor, ...]:
        """What :meth:`score_steps` needs of the observation ``td`` [B] that :meth:`step` read:
        the acting vehicle's node [B], its features [B, VEHICLE_DIM], the mask [B, n] and, with
        the dynamic embedding, its node view [B, n, F]."""
        pos, veh = self.context.inputs(td)
        dyn = (self.dynamic(td),) if self.dynamic is not None else ()
        return (pos, veh, td["action_mask"], *dyn)

    def score_steps(self, state: TensorDict, inputs: tuple[torch.Tensor, ...]) -> torch.Tensor:
        """The logits of T recorded steps at once: ``inputs`` are :meth:`step_inputs` stacked
        ``[T, B, ...]``, ``state`` the episode's :meth:`init` state -> masked logits [T, B, n],
        the values :meth:`step` gave at those observations (to float rounding). For training:
        the episode is played without gradients, then its decisions are scored here in one
        pass (batched products, one key gradient instead of T)."""
        per = state.get_non_tensor("per_instance")
        row = state["row"]
        tensors = per["tensors"]
        b, B = tensors[0].shape[0], row.shape[0]
        K = shared_copies(row, b)
        if K == 1 and not (B == b and torch.equal(row, torch.arange(B, device=row.device))):
            tensors, b = tuple(x[row] for x in tensors), B  # a reindexed state: its own rows
        gk, gv, lk, nodes, graph = tensors
        node_q, graph_q = self.context.precompute(nodes, graph)
        T = inputs[0].shape[0]

        def rows(x: torch.Tensor) -> torch.Tensor:  # [T, K * b, ...] -> [b, T * K, ...]
            rest = x.shape[2:]
            x = x.reshape(T, K, b, *rest).permute(2, 0, 1, *range(3, 3 + len(rest)))
            return x.reshape(b, T * K, *rest)

        pos, veh, mask, *dyn = (rows(x) for x in inputs)
        query = self.context.score(node_q, graph_q, pos, veh)
        logits = self.decoder.score(query, (gk, gv, lk), mask, dyn[0] if dyn else None)
        n = logits.shape[-1]
        return logits.view(b, T, K, n).permute(1, 2, 0, 3).reshape(T, B, n)

    def _view(self, state: TensorDict) -> tuple[tuple[torch.Tensor, ...], int]:
        """(tensors, K): the per-instance tensors (keys, nodes, graph) and, when ``row`` [B] is
        K copy-major copies of the instances (:func:`shared_copies`), K and the context's
        precomputed projections appended; else the tensors gathered to the B rows and 1
        (a reindexed state: beam search). Memoised per ``row`` tensor, so once per episode."""
        per = state.get_non_tensor("per_instance")
        row = state["row"]
        memo = per["memo"]
        if memo is not None and memo[0] is row:
            return memo[1], memo[2]
        tensors = per["tensors"]
        K = shared_copies(row, tensors[0].shape[0])
        if K == 1 and not (row.shape[0] == tensors[0].shape[0]
                           and torch.equal(row, torch.arange(row.shape[0], device=row.device))):
            view = tuple(x[row] for x in tensors)
        elif K == 1:
            view = tensors
        else:
            view = tensors + tuple(self.context.precompute(tensors[3], tensors[4]))
        per["memo"] = (row, view, K)
        return view, K


def shared_copies(row: torch.Tensor, b: int) -> int:
    """K when ``row`` [B] is ``arange(B) % b`` with ``B = K b`` (the state of b instances
    repeated K times copy-major: ``run_episode(shared=K)``, POMO's starts, the shared baseline's
    samples), else 1."""
    B = row.shape[0]
    if b < 1 or B <= b or B % b:
        return 1
    ok = torch.equal(row.view(B // b, b), torch.arange(b, device=row.device).expand(B // b, b))
    return B // b if ok else 1



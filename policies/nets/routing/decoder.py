"""The pointer decoder shared by AM, POMO, SymNCO and CAMP.

One glimpse of multi-head attention from the context query over the node keys, then single-head
compatibilities clipped by ``C * tanh`` (Bello et al.; ``C = 10`` in AM) and masked: an illegal
action gets ``-inf``, so neither argmax nor sampling can ever pick it. Leading dims broadcast:
AM's query is ``[B, H]`` against keys ``[B, N + 1, H]``; CAMP's is ``[B, M, H]`` against per-vehicle
keys ``[B, M, N + 1, H]``.

The dynamic embedding (RL4CO's: per-step deltas ``x W`` added to the glimpse keys, values and logit
keys, ``x`` [..., n, F] the few per-step node features) is linear, so it is applied on the query
side instead: ``q . (k + x W_k) = q . k + x (W_k q)``, and likewise for the values and logit keys.
The result is the same, but no ``[..., n, H]`` key tensor is rebuilt at every step, and the keys
are cached head-major so the per-step products need no copy (both were the bulk of CAMP's step).

:meth:`PointerDecoder.score` computes the logits of many steps at once (S queries per instance,
``[b, S, H]``), for training: the rollout is played without gradients and its decisions re-scored
in one pass whose products are real matrix products ``[b, h, S, d] x [b, h, d, n]``, and whose
backward accumulates one key gradient instead of one per step (:func:`~heurist.policies.decoding
.episode.run_episode`).
"""
from __future__ import annotations

import math

import torch
from torch import nn

__all__ = ["PointerDecoder", "mask_bias", "masked_logits"]


def masked_logits(logits: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """``-inf`` where ``mask`` is False (``[..., n]`` both)."""
    return logits.masked_fill(~mask, float("-inf"))


def mask_bias(mask: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
    """0 where ``mask`` is True, ``-inf`` where False: ``x + mask_bias`` is
    :func:`masked_logits` (finite ``x``: the same values, and the same gradients, 0 at the masked
    entries after a softmax), but a broadcast add and no masked fill in the backward, ~40 %
    cheaper on the decoder's ``[b, h, K, n]`` products."""
    return torch.zeros(mask.shape, dtype=dtype, device=mask.device).masked_fill_(~mask,
                                                                                 float("-inf"))


class PointerDecoder(nn.Module):
    """Keys from node embeddings once per episode (:meth:`precompute`), logits per step.

    ``dynamic_dim`` F: the width of the per-step node features the dynamic embedding projects
    (0 = none)."""

    def __init__(self, *, dim: int, n_heads: int = 8, clip: float = 10.0,
                 dynamic_dim: int = 0) -> None:
        super().__init__()
        if dim % n_heads:
            raise ValueError(f"PointerDecoder: dim {dim} must be divisible by n_heads {n_heads}")
        if not clip > 0:
            raise ValueError(f"PointerDecoder: clip must be > 0, got {clip}")
        if dynamic_dim < 0:
            raise ValueError(f"PointerDecoder: dynamic_dim must be >= 0, got {dynamic_dim}")
        self.n_heads, self.clip, self.dim = n_heads, float(clip), dim
        self.keys = nn.Linear(dim, 3 * dim, bias=False)  # glimpse key, glimpse value, logit key
        self.out = nn.Linear(dim, dim, bias=False)
        # the dynamic embedding: x [.., n, F] -> (glimpse key, glimpse value, logit key) deltas
        self.dynamic = nn.Linear(dynamic_dim, 3 * dim, bias=False) if dynamic_dim else None

    def precompute(self, nodes: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """``nodes`` [..., n, H] -> glimpse keys and values head-major [..., h, n, d] and the
        logit keys transposed [..., H, n], all contiguous."""
        h, d = self.n_heads, self.dim // self.n_heads
        gk, gv, lk = self.keys(nodes).chunk(3, -1)
        heads = lambda x: x.unflatten(-1, (h, d)).transpose(-2, -3).contiguous()
        return heads(gk), heads(gv), lk.transpose(-1, -2).contiguous()

    def forward(self, query: torch.Tensor, keys: tuple[torch.Tensor, torch.Tensor, torch.Tensor],
                mask: torch.Tensor, dynamic: torch.Tensor | None = None, *,
                shared: int = 1, folded: bool = False) -> torch.Tensor:
        """``query`` [..., H], ``keys`` from :meth:`precompute`, ``mask`` [..., n], ``dynamic``
        [..., n, F] (needs ``dynamic_dim = F``) -> masked logits [..., n].

        ``shared`` K > 1: ``query`` [B, H] and ``mask``/``dynamic`` [B, ...] are K copy-major
        copies of ``b = B / K`` instances whose keys are given once, ``[b, ...]`` (row ``k * b + i``
        uses the keys of instance ``i``: POMO's starts, the shared baseline's samples); the K
        queries of an instance then meet its keys in one matrix product (:meth:`_shared`).
        ``folded`` (``shared`` > 1, no ``dynamic``): the logit keys are :meth:`fold` ed."""
        if shared > 1:
            return self._shared(query, keys, mask, dynamic, int(shared), folded=folded)
        if folded:
            raise ValueError("PointerDecoder: folded logit keys need shared > 1")
        gk, gv, lk = keys
        H = query.shape[-1]
        h, d = self.n_heads, H // self.n_heads
        # products as broadcast multiply + sum, not matmul: these are batches of tiny matrices
        # ([.., 1, d] x [.., d, n]), for which CPU batched matmul (and its backward) was ~2x
        # slower and dominated a POMO training step
        q = query.unflatten(-1, (h, d)).unsqueeze(-2)  # [..., h, 1, d]
        compat = (q * gk).sum(-1)  # [..., h, n]
        if dynamic is not None:
            if self.dynamic is None:
                raise ValueError("PointerDecoder: built with dynamic_dim=0, got dynamic features")
            wk, wv, wl = self.dynamic.weight.chunk(3, 0)  # each [H, F]
            F = dynamic.shape[-1]
            uk = torch.einsum("...hd,hdf->...hf", q.squeeze(-2), wk.view(h, d, F))
            dyn = dynamic.unsqueeze(-3)  # [..., 1, n, F]
            compat = compat + (uk.unsqueeze(-2) * dyn).sum(-1)  # [..., h, n]
        compat = masked_logits(compat / math.sqrt(d), mask.unsqueeze(-2))
        attn = compat.softmax(-1).unsqueeze(-1)  # [..., h, n, 1]
        glimpse = (attn * gv).sum(-2)  # [..., h, d]
        if dynamic is not None:
            glimpse = glimpse + torch.einsum("...hf,hdf->...hd", (attn * dyn).sum(-2),
                                             wv.view(h, d, F))
        g = self.out(glimpse.flatten(-2))  # [..., H]
        logits = (g.unsqueeze(-1) * lk).sum(-2)  # [..., n]
        if dynamic is not None:
            logits = logits + (dynamic * (g @ wl).unsqueeze(-2)).sum(-1)
        logits = logits / math.sqrt(H)
        return masked_logits(self.clip * torch.tanh(logits), mask)

    def score(self, query: torch.Tensor, keys: tuple[torch.Tensor, torch.Tensor, torch.Tensor],
              mask: torch.Tensor, dynamic: torch.Tensor | None = None) -> torch.Tensor:
        """The logits of S queries per instance at once: ``query`` [b, S, H], ``keys`` [b, ...]
        from :meth:`precompute`, ``mask`` [b, S, n], ``dynamic`` [b, S, n, F] or None -> masked
        logits [b, S, n]; the same values as :meth:`forward` on each query (to float rounding:
        the sums run in another order)."""
        gk, gv, lk = keys  # [b, h, n, d], [b, h, n, d], [b, H, n]
        b, S, H = query.shape
        h = self.n_heads
        d = H // h
        if gk.shape[0] != b:
            raise ValueError(f"PointerDecoder.score: {b} query rows, keys of {gk.shape[0]}")
        q = (query * (1 / math.sqrt(d))).view(b, S, h, d).transpose(1, 2)  # [b, h, S, d]
        compat = q @ gk.transpose(-1, -2)  # [b, h, S, n]
        if dynamic is not None:
            if self.dynamic is None:
                raise ValueError("PointerDecoder: built with dynamic_dim=0, got dynamic features")
            wk, wv, wl = self.dynamic.weight.chunk(3, 0)  # each [H, F]
            F = dynamic.shape[-1]
            uk = torch.einsum("bhsd,hdf->bshf", q, wk.view(h, d, F))  # [b, S, h, F]
            compat = compat + (uk @ dynamic.transpose(-1, -2)).transpose(1, 2)
        bias = mask_bias(mask, compat.dtype)  # [b, S, n]
        attn = (compat + bias.unsqueeze(1)).softmax(-1)  # [b, h, S, n]
        glimpse = (attn @ gv).transpose(1, 2)  # [b, S, h, d]
        if dynamic is not None:
            glimpse = glimpse + torch.einsum("bshf,hdf->bshd", attn.transpose(1, 2) @ dynamic,
                                             wv.view(h, d, F))
        g = self.out(glimpse.reshape(b, S, H))  # [b, S, H]
        logits = g @ lk  # [b, S, n]
        if dynamic is not None:
            logits = logits + (dynamic @ (g @ wl).unsqueeze(-1)).squeeze(-1)
        logits = logits / math.sqrt(H)
        return self.clip * torch.tanh(logits) + bias

    def fold(self, lk: torch.Tensor) -> torch.Tensor:
        """The logit keys [b, H, n] with the output projection folded in: ``g lk`` with ``g =
        glimpse W_out^T`` equals ``glimpse (W_out^T lk)`` (no bias), so a step's logits need no
        ``[B, H] x [H, H]`` product; [b, H, n]."""
        return self.out.weight.T @ lk

    def _shared(self, query: torch.Tensor, keys: tuple[torch.Tensor, torch.Tensor, torch.Tensor],
                mask: torch.Tensor, dynamic: torch.Tensor | None, K: int, *,
                folded: bool = False) -> torch.Tensor:
        """:meth:`forward` for ``[B, H]`` queries whose keys repeat K times (copy-major): the
        products run as batched matmuls ``[b, h, K, d] x [b, h, d, n]``, the K starts of an
        instance sharing its key tensor, instead of broadcast products over ``[B, h, n, d]``
        (which, with their backward, were ~70 % of a POMO iteration). Same values up to float
        rounding (the sums run in another order)."""
        gk, gv, lk = keys  # [b, h, n, d], [b, h, n, d], [b, H, n]
        B, H = query.shape
        if B % K:
            raise ValueError(f"PointerDecoder: shared={K} does not divide the batch {B}")
        b, h = B // K, self.n_heads
        d = H // h
        n = gk.shape[-2]
        if gk.shape[0] != b:
            raise ValueError(f"PointerDecoder: shared={K} needs keys of {b} rows, got "
                             f"{gk.shape[0]}")
        # the 1 / sqrt(d) on the [B, H] queries, not the [b, h, K, n] products (exact when d is
        # a power of 4, as POMO's 16)
        q = (query * (1 / math.sqrt(d))).view(K, b, h, d)
        compat = q.permute(1, 2, 0, 3) @ gk.transpose(-1, -2)  # [b, h, K, n]
        if dynamic is not None:
            if self.dynamic is None:
                raise ValueError("PointerDecoder: built with dynamic_dim=0, got dynamic features")
            wk, wv, wl = self.dynamic.weight.chunk(3, 0)  # each [H, F]
            F = dynamic.shape[-1]
            uk = torch.einsum("khd,hdf->khf", q.reshape(B, h, d), wk.view(h, d, F))  # [B, h, F]
            dyn_k = uk @ dynamic.transpose(-1, -2)  # [B, h, n]
            compat = compat + dyn_k.view(K, b, h, n).permute(1, 2, 0, 3)
        bias = mask_bias(mask, compat.dtype)  # [B, n]
        # (uk above came from the scaled q too)
        attn = (compat + bias.view(K, b, 1, n).permute(1, 2, 0, 3)).softmax(-1)  # [b, h, K, n]
        glimpse = (attn @ gv).permute(2, 0, 1, 3).reshape(B, h, d)  # [B, h, d]
        if dynamic is not None:
            a = attn.permute(2, 0, 1, 3).reshape(B, h, n)
            glimpse = glimpse + torch.einsum("khf,hdf->khd", a @ dynamic, wv.view(h, d, F))
        if folded and dynamic is not None:
            raise ValueError("PointerDecoder: folded logit keys with dynamic features")
        g = glimpse.reshape(B, H) if folded else self.out(glimpse.reshape(B, H))  # [B, H]
        logits = (g.view(K, b, H).transpose(0, 1) @ lk).transpose(0, 1).reshape(B, n)
        if dynamic is not None:
            logits = logits + (dynamic @ (g @ wl).unsqueeze(-1)).squeeze(-1)
        logits = logits / math.sqrt(H)
        return self.clip * torch.tanh(logits) + bias

"""The paging env's internal state: what the numba step kernels read and write, kept apart from
the observation.

The observation TensorDict (``PagingEnv._observe``) is computed from this state at every decision;
the agent never sees it directly (``slot_next``, the true next use, is the teacher's alone).
Everything is numpy so the kernels take the arrays as they are. Shapes: ``B`` rows, ``T`` requests
(padded), ``k`` cache slots, ``P`` distinct pages.
"""
from __future__ import annotations

from dataclasses import dataclass, fields

import numpy as np

__all__ = ["PagingState"]


@dataclass
class PagingState:
    """Per-row episode state of :class:`~heurist.envs.paging.env.PagingEnv` (batch ``[B]``).

    Instance-derived (fixed after reset):
        trace: int64 [B, T] dense page ids; length: int64 [B] real requests per row.
        cost: float64 [B, T] cost of a miss on each request.
        pred: float64 [B, T] predicted next arrival (``inf`` = never); has_pred: bool, whether
            the instance carries predictions at all.
        disc, phase: uint8 [B, T] the 1-bit predictions.
        true_next: int64 [B, T] the true next request of the same page (``length`` if none).

    Evolving (slot arrays [B, k], page arrays [B, P], row arrays [B]):
        slot_page: page in each slot, -1 when empty; slot_last: time of its last use;
        slot_pred/slot_disc/slot_phase: the predictions made at that use; slot_next: its true
        next use; slot_mark: marked in the current phase; slot_hits: hits since it was loaded.
        where: slot of each page, -1 when not cached; count: requests of each page so far;
        last_seen: time of each page's last request, -1 before the first.
        n_used: filled slots; t: the pending request; done: uint8 episode over.
        acc: cost of the misses served since the last decision; total: all misses so far;
        carry: compulsory misses owed to the first step's reward; decided: decisions taken.
    """

    trace: np.ndarray
    length: np.ndarray
    cost: np.ndarray
    pred: np.ndarray
    disc: np.ndarray
    phase: np.ndarray
    has_pred: bool
    true_next: np.ndarray
    slot_page: np.ndarray
    slot_last: np.ndarray
    slot_pred: np.ndarray
    slot_disc: np.ndarray
    slot_phase: np.ndarray
    slot_next: np.ndarray
    slot_mark: np.ndarray
    slot_hits: np.ndarray
    where: np.ndarray
    count: np.ndarray
    last_seen: np.ndarray
    n_used: np.ndarray
    t: np.ndarray
    done: np.ndarray
    acc: np.ndarray
    total: np.ndarray
    carry: np.ndarray
    decided: np.ndarray

    @classmethod
    def empty(cls, arrays: dict, true_next: np.ndarray, *, cache_size: int) -> PagingState:
        """The state before any request is served, from the validated instance ``arrays`` (see
        :func:`~heurist.envs.paging.generator.validate_instance`)."""
        B, T = arrays["trace"].shape
        k = int(cache_size)
        n_pages = int(arrays["trace"].max()) + 1 if T else 1
        return cls(
            **arrays, true_next=true_next,
            slot_page=np.full((B, k), -1, dtype=np.int64),
            slot_last=np.zeros((B, k), dtype=np.int64),
            slot_pred=np.zeros((B, k), dtype=np.float64),
            slot_disc=np.zeros((B, k), dtype=np.uint8),
            slot_phase=np.zeros((B, k), dtype=np.uint8),
            slot_next=np.zeros((B, k), dtype=np.int64),
            slot_mark=np.zeros((B, k), dtype=np.uint8),
            slot_hits=np.zeros((B, k), dtype=np.int64),
            where=np.full((B, n_pages), -1, dtype=np.int64),
            count=np.zeros((B, n_pages), dtype=np.int64),
            last_seen=np.full((B, n_pages), -1, dtype=np.int64),
            n_used=np.zeros(B, dtype=np.int64),
            t=np.zeros(B, dtype=np.int64),
            done=np.zeros(B, dtype=np.uint8),
            acc=np.zeros(B, dtype=np.float64),
            total=np.zeros(B, dtype=np.float64),
            carry=np.zeros(B, dtype=np.float64),
            decided=np.zeros(B, dtype=np.int64),
        )

    def copy(self) -> PagingState:
        """A deep copy (the kernels write the arrays in place)."""
        return PagingState(**{f.name: np.copy(v) if isinstance(v := getattr(self, f.name),
                                                                 np.ndarray) else v
                              for f in fields(self)})

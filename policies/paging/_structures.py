"""Numba building blocks shared by the policy kernels: an intrusive doubly linked list over page ids
(a sentinel node per list) and a binary max-heap of ``(key, page)`` pairs."""
from __future__ import annotations

import numpy as np
from numba import njit

from heurist.envs.paging.max_heap import heap_pop, heap_push

__all__ = ["dll_new", "dll_push_front", "dll_remove", "dll_tail", "heap_pop", "heap_push"]


def dll_new(n_ids: int, n_lists: int) -> tuple[np.ndarray, np.ndarray]:
    """``prev``/``next`` arrays for ``n_lists`` circular lists; list ``j``'s sentinel is ``n_ids+j``."""
    size = n_ids + n_lists
    nodes = np.arange(size, dtype=np.int64)
    return nodes.copy(), nodes.copy()


@njit(cache=True, inline="always")
def dll_push_front(prev, nxt, sentinel, node):
    first = nxt[sentinel]
    nxt[node] = first
    prev[node] = sentinel
    prev[first] = node
    nxt[sentinel] = node


@njit(cache=True, inline="always")
def dll_remove(prev, nxt, node):
    p, q = prev[node], nxt[node]
    nxt[p] = q
    prev[q] = p


@njit(cache=True, inline="always")
def dll_tail(prev, sentinel):
    return prev[sentinel]

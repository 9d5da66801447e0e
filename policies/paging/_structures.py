"""Numba building blocks shared by the policy kernels: an intrusive doubly linked list over page ids
(a sentinel node per list) and a binary max-heap of ``(key, page)`` pairs."""
from __future__ import annotations

import numpy as np
from numba import njit

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


@njit(cache=True, inline="always")
def heap_push(keys, vals, size, key, val):
    i = size
    keys[i] = key
    vals[i] = val
    while i > 0:
        parent = (i - 1) >> 1
        if keys[parent] >= keys[i]:
            break
        keys[parent], keys[i] = keys[i], keys[parent]
        vals[parent], vals[i] = vals[i], vals[parent]
        i = parent
    return size + 1


@njit(cache=True, inline="always")
def heap_pop(keys, vals, size):
    size -= 1
    keys[0] = keys[size]
    vals[0] = vals[size]
    i = 0
    while True:
        left = 2 * i + 1
        if left >= size:
            break
        child = left
        if left + 1 < size and keys[left + 1] > keys[left]:
            child = left + 1
        if keys[i] >= keys[child]:
            break
        keys[child], keys[i] = keys[i], keys[child]
        vals[child], vals[i] = vals[i], vals[child]
        i = child
    return size

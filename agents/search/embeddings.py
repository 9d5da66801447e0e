"""Where the search keeps every node's embedding: one preallocated ``[B, N, ...]`` buffer per array,
gathered and scattered with one indexing operation per simulation for the whole batch.

A store answers ``gather(node [B])`` (the batched embedding of node ``node[b]`` of each tree) and
``scatter(node [B], embedding)``. ``make_store`` picks one from the root embedding; a caller with
another kind of state (e.g. a batched simulator's snapshot) passes its own factory with the same
two methods as ``embedding_store=``.
"""
from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol

import numpy as np

__all__ = ["ArrayStore", "EmbeddingStore", "NullStore", "ObjectStore", "make_store"]


class EmbeddingStore(Protocol):
    """Holds N embeddings per tree; ``gather``/``scatter`` take node indices ``[B]`` (int64)."""

    def gather(self, node: np.ndarray) -> Any: ...

    def scatter(self, node: np.ndarray, embedding: Any) -> None: ...


class NullStore:
    """No embedding (``None`` or ``()``): the model needs only the action, e.g. a bandit."""

    def __init__(self, root: Any, num_nodes: int):
        self.root = root

    def gather(self, node: np.ndarray) -> Any:
        return self.root

    def scatter(self, node: np.ndarray, embedding: Any) -> None:
        return None


class ArrayStore:
    """A numpy array or torch tensor ``[B, ...]``, or a tuple / dict of them (nested), kept as
    ``[B, N, ...]`` buffers of the same dtype and device as the root's. Each buffer is addressed as
    ``[B * N, ...]`` so one gather or scatter is a single ``take`` / ``index_select`` /
    ``index_copy_`` on flat row indices ``b * N + node``."""

    def __init__(self, root: Any, num_nodes: int):
        self._structure = root
        leaves = _leaves(root)
        if not leaves:
            raise ValueError("ArrayStore needs at least one array in the root embedding")
        batch = leaves[0].shape[0]
        if any(leaf.shape[0] != batch for leaf in leaves):
            raise ValueError("every array of the root embedding must have the batch size "
                             f"{batch} as its first dimension")
        self._flat = [_empty_flat(leaf, batch * num_nodes) for leaf in leaves]
        self._offsets = np.arange(batch, dtype=np.int64) * num_nodes
        self._torch_index: dict[Any, Any] = {}
        self.scatter(np.zeros(batch, np.int64), root)

    def _rows(self, node: np.ndarray) -> tuple[np.ndarray, dict[Any, Any]]:
        """Flat row indices ``[B]`` for numpy buffers, and per device for torch buffers."""
        flat = self._offsets + node
        per_device: dict[Any, Any] = {}
        for buf in self._flat:
            if not isinstance(buf, np.ndarray) and buf.device not in per_device:
                import torch  # only reached for tensor embeddings: torch is loaded already

                per_device[buf.device] = torch.from_numpy(flat).to(buf.device)
        return flat, per_device

    def gather(self, node: np.ndarray) -> Any:
        flat, per_device = self._rows(node)
        out = [np.take(buf, flat, axis=0) if isinstance(buf, np.ndarray)
               else buf.index_select(0, per_device[buf.device]) for buf in self._flat]
        return _rebuild(self._structure, iter(out))

    def scatter(self, node: np.ndarray, embedding: Any) -> None:
        leaves = _leaves(embedding)
        if len(leaves) != len(self._flat):
            raise ValueError("recurrent_fn returned an embedding with a different structure "
                             "from the root's")
        flat, per_device = self._rows(node)
        for buf, leaf in zip(self._flat, leaves, strict=True):
            if isinstance(buf, np.ndarray):
                buf[flat] = leaf
            else:
                buf.index_copy_(0, per_device[buf.device], leaf.to(buf.dtype))


class ObjectStore:
    """A list of B per-row Python objects (e.g. env snapshots): kept in an object array
    ``[B, N]``; ``gather`` returns a list of B objects."""

    def __init__(self, root: Any, num_nodes: int):
        self._buf = np.empty((len(root), num_nodes), dtype=object)
        self._rows = np.arange(len(root))
        self.scatter(np.zeros(len(root), np.int64), root)

    def gather(self, node: np.ndarray) -> list:
        return list(self._buf[self._rows, node])

    def scatter(self, node: np.ndarray, embedding: Any) -> None:
        if len(embedding) != len(self._rows):
            raise ValueError(f"recurrent_fn returned {len(embedding)} per-row embeddings for a "
                             f"batch of {len(self._rows)}")
        for b, obj in enumerate(embedding):
            self._buf[b, node[b]] = obj


def make_store(root: Any, num_nodes: int,
               factory: Callable[[Any, int], EmbeddingStore] | None = None) -> EmbeddingStore:
    """The store for ``root``: ``factory`` when given, else by kind (None/() -> NullStore,
    list -> ObjectStore, arrays/tensors and tuples/dicts of them -> ArrayStore)."""
    if factory is not None:
        return factory(root, num_nodes)
    if root is None or (isinstance(root, tuple) and not root):
        return NullStore(root, num_nodes)
    if isinstance(root, list):
        return ObjectStore(root, num_nodes)
    return ArrayStore(root, num_nodes)


def _leaves(tree: Any) -> list:
    if isinstance(tree, dict):
        return [leaf for key in sorted(tree) for leaf in _leaves(tree[key])]
    if isinstance(tree, tuple):
        return [leaf for item in tree for leaf in _leaves(item)]
    if isinstance(tree, np.ndarray) or hasattr(tree, "index_select"):
        return [tree]
    raise ValueError(f"cannot store an embedding of type {type(tree).__name__}: use arrays, "
                     "tensors, tuples/dicts of them, a list of per-row objects, or pass "
                     "embedding_store=")


def _rebuild(tree: Any, leaves: Any) -> Any:
    if isinstance(tree, dict):
        return {key: _rebuild(tree[key], leaves) for key in sorted(tree)}
    if isinstance(tree, tuple):
        items = [_rebuild(item, leaves) for item in tree]
        return type(tree)(*items) if hasattr(tree, "_fields") else tuple(items)  # NamedTuple
    return next(leaves)


def _empty_flat(leaf: Any, rows: int) -> Any:
    """A zero buffer ``[rows, *leaf.shape[1:]]`` like ``leaf`` (dtype, and device for tensors)."""
    shape = (rows, *leaf.shape[1:])
    if isinstance(leaf, np.ndarray):
        return np.zeros(shape, dtype=leaf.dtype)
    return leaf.new_zeros(shape)

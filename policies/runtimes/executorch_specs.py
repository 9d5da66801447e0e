"""ExecuTorch's ``TensorSpec`` set as a heurist packing instance, and a plan's offsets back as
ExecuTorch's allocation decisions. No executorch import here: specs are read by attribute.

A spec's ``lifetime`` is ``[first, last]`` node indices, inclusive at both ends; a heurist live
range is half-open, so it becomes ``[first, last + 1)``. Specs with a ``storage_base`` (in-place
results living inside another tensor) are not planned themselves: they sit at their base's offset
plus ``storage_base_offset`` (ExecuTorch has already stretched the base's lifetime over them).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from heurist.envs.malloc.instance import MallocInstance, MemoryConfig
from heurist.envs.malloc.peak import peak_live_bytes

__all__ = ["SpecPool", "overlap_groups", "pools_from_specs"]


@dataclass(frozen=True)
class SpecPool:
    """The specs of one memory id: ``planned`` become the instance's buffers (same order),
    ``aliases`` follow their ``storage_base``."""

    mem_id: int
    planned: list
    aliases: list
    instance: MallocInstance


def _instance(planned: list, alignment: int, mem_id: int) -> MallocInstance:
    size = np.array([int(s.allocated_memory) for s in planned], dtype=np.int64)
    start = np.array([int(s.lifetime[0]) for s in planned], dtype=np.int64)
    end = np.array([int(s.lifetime[1]) + 1 for s in planned], dtype=np.int64)
    probe = MallocInstance.from_intervals(size, start, end, memory=MemoryConfig(
        capacity=0, alignment=alignment))
    # The capacity is the lower bound on the arena: exact searches then look for an optimal
    # packing first (the registry falls back to greedy when none is found in the budget).
    lower = -(-peak_live_bytes(probe) // alignment) * alignment
    return MallocInstance.from_intervals(size, start, end, memory=MemoryConfig(
        capacity=lower, alignment=alignment), name=f"executorch mem_id {mem_id}")


def pools_from_specs(specs, alignment: int) -> list[SpecPool]:
    """Groups ``specs`` by memory id (unset = 1, ExecuTorch's default arena) after rounding each
    size up to ``alignment`` (``spec.realign``, as ExecuTorch's own algorithms do)."""
    if alignment < 1:
        raise ValueError(f"alignment must be >= 1, got {alignment}")
    by_id: dict[int, tuple[list, list]] = {}
    for spec in specs:
        spec.realign(alignment)
        if spec.lifetime[0] is None or spec.lifetime[1] is None:
            raise ValueError(f"spec {spec} has no lifetime: run ExecuTorch's lifetime pass first")
        planned, aliases = by_id.setdefault(1 if spec.mem_id is None else int(spec.mem_id), ([], []))
        (aliases if spec.storage_base is not None else planned).append(spec)
    return [SpecPool(mem_id, planned, aliases, _instance(planned, alignment, mem_id))
            for mem_id, (planned, aliases) in sorted(by_id.items())]


def overlap_groups(offsets, sizes) -> np.ndarray:
    """Group id per buffer, ``int64 [N]``: buffers whose byte ranges overlap, directly or through
    a chain, share a group (ExecuTorch's ``mem_obj_id`` rule); groups number by address."""
    offsets = np.asarray(offsets, dtype=np.int64)
    sizes = np.asarray(sizes, dtype=np.int64)
    groups = np.zeros(len(offsets), dtype=np.int64)
    order = np.lexsort((-sizes, offsets))
    group, reach = -1, -1
    for i in order.tolist():
        # Sorted by address, a buffer joins the group while it starts below the group's reach.
        if offsets[i] >= reach or group < 0:
            group += 1
        groups[i] = group
        reach = max(reach, int(offsets[i] + sizes[i]))
    return groups

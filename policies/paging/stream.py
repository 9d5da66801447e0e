"""Read-and-simulate in chunks: a trace file of any length in memory bounded by its distinct ids.

Two passes over the file: the first numbers the distinct ids (the table the policy state is
sized by), the second relabels each chunk with that table and runs it through the policy's
simulator loop, carrying the cache from chunk to chunk. Policies whose hooks keep no per-request
arrays stream (:data:`STREAMING`); OPT streams from oracleGeneral files, whose records carry the
next access that Belady needs.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from heurist.envs.paging.belady import farthest_state
from heurist.envs.paging.relabel import IdTable
from heurist.envs.paging.trace_stream import count_requests, iter_chunks
from heurist.policies.paging.base import canonical_name, get_policy, slots_needed

__all__ = ["STREAMING", "StreamResult", "simulate_file"]

#: Policies that stream: their state is per id, never per request.
STREAMING = ("LRU", "FIFO", "CLOCK", "Random", "ARC", "S3-FIFO", "OPT")


@dataclass(frozen=True)
class StreamResult:
    """Miss count of one streamed simulation."""

    policy: str
    cache_size: int
    requests: int
    misses: int


def simulate_file(path, cache_size: int, policy, *, fmt: str | None = None,
                  chunk_size: int = 1 << 22, seed: int = 0) -> StreamResult:
    """Streams the trace file ``path`` through ``policy`` with ``cache_size`` pages, ``chunk_size``
    requests at a time. Same counts as ``simulate(load_trace(path), ...)``."""
    if isinstance(cache_size, bool) or int(cache_size) != cache_size or int(cache_size) < 1:
        raise ValueError(f"cache_size must be a positive integer, got {cache_size!r}")
    k = int(cache_size)
    policy = get_policy(policy)
    if policy.name not in STREAMING:
        raise ValueError(f"policy {policy.name} does not stream; streaming policies: "
                         f"{', '.join(STREAMING)}")
    total = count_requests(path, fmt=fmt)
    if canonical_name(policy.name) == "opt" and total is None:
        raise ValueError(f"{path}: OPT streams from oracleGeneral traces only (their next-access "
                         f"field); load a text trace whole instead")
    table = IdTable()
    for ids, _ in iter_chunks(path, fmt=fmt, chunk_size=chunk_size):
        table.relabel(ids)
    n_ids = table.n
    if n_ids == 0:
        raise ValueError(f"{path}: empty trace (no requests)")
    k = slots_needed(k, n_ids)
    if canonical_name(policy.name) == "opt":
        simulate, state = farthest_state(np.zeros(0, dtype=np.int64), n_ids, k)
    else:
        simulate, state = policy._state(np.zeros(0, dtype=np.int64), n_ids, k, None, seed)
    occupancy = requests = misses = 0
    for ids, next_access in iter_chunks(path, fmt=fmt, chunk_size=chunk_size):
        dense = table.relabel(ids)
        if canonical_name(policy.name) == "opt":
            # Belady's keys: the next access (a file index), or after every request for "never".
            never = (next_access < 0) | (next_access == np.iinfo(np.int64).max)
            state = (np.where(never, total + dense, next_access), *state[1:])
        miss = np.zeros(dense.size, dtype=np.bool_)
        victims = np.empty(dense.size, dtype=np.int64)
        occupancy = simulate(dense, k, state, miss, victims, occupancy)
        requests += dense.size
        misses += int(miss.sum())
    return StreamResult(policy=policy.name, cache_size=k, requests=requests, misses=misses)

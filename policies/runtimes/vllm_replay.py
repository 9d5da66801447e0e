"""Replay of the block-request sequence vLLM saw, without vLLM (the parity side of the hook).

A record per finished request (written by :class:`~heurist.policies.runtimes.vllm_hook.
HeuristScheduler`): ``keys`` (its full-block hashes, head first), ``prompt_tokens``,
``computed_tokens``, ``blocks`` (blocks it held) and vLLM's ``cached_tokens``. :func:`replay` runs
the records one request at a time through a fresh policy in a pool of ``capacity`` blocks, with
vLLM's prefix-cache rules written out here independently of vLLM's code:

* a request hits the longest run of cached keys from its head, at most ``(prompt - 1) //
  block_size`` blocks (the last prompt token is always computed);
* it takes ``blocks - hits`` new blocks: empty ones first, then the policy's victims;
* when it finishes, its first ``computed // block_size`` keys are cached (tail first), a key
  still cached elsewhere keeps that copy, and the policy sees the request head to tail.

The hits it counts come from the replay's own cache contents, so they equal vLLM's
``num_cached_tokens`` only if vLLM evicted exactly the policy's victims (the parity test).
:func:`flat_trace` turns the records into a page trace for ``heurist simulate`` (Belady in
hindsight on the same block trace).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from heurist.policies.runtimes.vllm_policies import Chunk, make_policy

__all__ = ["ReplayResult", "drive_offload", "flat_trace", "replay"]


@dataclass
class ReplayResult:
    """Per-request hit blocks ``hits [R]`` and the eviction count of one replay."""

    policy: str
    hits: list[int]
    evictions: int

    @property
    def hit_blocks(self) -> int:
        return int(sum(self.hits))


def replay(records: list[dict], policy: str, capacity: int, *, block_size: int) -> ReplayResult:
    """Replays ``records`` (one request at a time) through policy ``policy`` in a pool of
    ``capacity`` blocks of ``block_size`` tokens."""
    if capacity < 1 or block_size < 1:
        raise ValueError(f"capacity and block_size must be >= 1, got {capacity}, {block_size}")
    pol = make_policy(policy, capacity)
    cached: set = set()
    hits_per_request: list[int] = []
    evictions = 0
    for r in records:
        keys = [bytes(k) for k in r["keys"]]
        max_hit = max(0, (r["prompt_tokens"] - 1) // block_size)
        h = 0
        while h < min(max_hit, len(keys)) and keys[h] in cached:
            h += 1
        hits_per_request.append(h)
        for k in keys[:h]:  # pinned while the request runs
            pol.mark_non_evictable(k)
            pol.get(k).ref_cnt = 1
        need = r["blocks"] - h
        empty = capacity - len(cached)
        if need > empty:
            victims = pol.evict(need - empty, set())
            if victims is None:
                raise ValueError(f"replay: no {need - empty} evictable blocks")
            for k, _ in victims:
                cached.discard(k)
            evictions += len(victims)
        n_cache = min(len(keys), r["computed_tokens"] // block_size)
        new, order = set(), []
        for i in range(n_cache - 1, -1, -1):  # freed tail first
            k = keys[i]
            if i >= h:
                if k in cached:  # recomputed copy of a cached key: dropped
                    continue
                pol.on_store_miss([k], None)
                pol.insert(k, Chunk(i, ref_cnt=1))
                cached.add(k)
                new.add(k)
            order.append(k)
        order.reverse()
        pol.on_request_finished([order], new, set(keys[:h]), None)
        for k in order:
            pol.get(k).ref_cnt = 0
            pol.mark_evictable(k)
    return ReplayResult(policy=policy, hits=hits_per_request, evictions=evictions)


def flat_trace(records: list[dict], *, block_size: int) -> np.ndarray:
    """The block keys each request needs (its cacheable blocks, head first), one page id per
    distinct key, concatenated over requests: ``[T]`` int64 for ``heurist simulate``."""
    ids: dict = {}
    out = []
    for r in records:
        n = min(len(r["keys"]), r["computed_tokens"] // block_size)
        for k in r["keys"][:n]:
            out.append(ids.setdefault(bytes(k), len(ids)))
    return np.asarray(out, dtype=np.int64)


class _Positions:
    """A request context that knows each key's block position (vLLM's ``ReqContext`` role)."""

    def __init__(self, keys: list) -> None:
        self.pos = {k: i for i, k in enumerate(keys)}

    def get_offload_key_position(self, key):
        return self.pos.get(key)


def drive_offload(pol, records: list[dict], *, block_size: int) -> list:
    """Drives a cache policy through vLLM's KV-offloading contract over the recorded key
    sequence (per request: ``touch`` the cached keys, ``on_store_miss`` the rest, ``evict`` room
    with the cached keys ``protected``, store the rest (``ref_cnt`` -1 until ``mark_evictable``),
    then ``on_request_finished``); returns every decision: the evicted keys per call (``None``
    when vLLM's contract says no room)."""
    decisions: list = []
    size = 0
    for r in records:
        n = min(len(r["keys"]), r["computed_tokens"] // block_size)
        keys = [bytes(k) for k in r["keys"][:n]]
        present = [k for k in keys if pol.get(k) is not None]
        missing = [k for k in keys if pol.get(k) is None]
        ctx = _Positions(keys)
        pol.touch(present, ctx)
        pol.on_store_miss(missing, ctx)
        need = len(missing) - (pol.cache_capacity - size)
        if need > 0:
            ev = pol.evict(need, set(present))
            decisions.append(None if ev is None else [k for k, _ in ev])
            if ev is None:
                missing = []
            else:
                size -= len(ev)
        for i, k in enumerate(missing):
            pol.insert(k, Chunk(i, ref_cnt=-1))
            size += 1
        for k in missing:
            pol.get(k).ref_cnt = 0
            pol.mark_evictable(k)
        pol.on_request_finished([keys], set(missing), set(present), ctx)
    return decisions

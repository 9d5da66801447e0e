"""Our eviction order inside vLLM's prefix cache (vLLM 0.32, CPU build; needs the `serve` env).

vLLM keeps free KV blocks in ``BlockPool.free_block_queue`` (``FreeKVCacheBlockQueue``): blocks
without a hash are empty, blocks with one are cached prefixes that may be evicted, and
``popleft_n`` hands out the head (LRU order). There is no flag for another order, so
:class:`HeuristScheduler` (pass it as ``scheduler_cls``) swaps that queue for
:class:`PolicyFreeBlockQueue`, which keeps the same methods but hands out empty blocks first and
then the victims a :mod:`~heurist.policies.runtimes.vllm_policies` policy chooses. The pool's
events map onto the policy's contract:

* ``remove(block)`` (a cached free block is hit): ``mark_non_evictable``;
* ``popleft_n(n)``: empties, then ``evict(m, protected=set())``;
* ``append_n(blocks)`` (a request frees its blocks, tail first): new keys are ``insert``-ed,
  then ``on_request_finished(head..tail, new keys, reused keys)``, then the reused keys are
  ``mark_evictable``; a key already cached in another block (recomputed after its prefix
  broke) keeps its old block, the new copy is dropped from the hash table and becomes empty.

The scheduler also records, per finished request, the block-request sequence vLLM saw: its
full-block keys, prompt length, blocks held (for the replay
parity in :mod:`heurist.policies.runtimes.vllm_replay`).
"""
from __future__ import annotations

import os
from collections import deque

from vllm.v1.core.kv_cache_utils import FreeKVCacheBlockQueue, make_block_hash_with_group_id
from vllm.v1.core.sched.scheduler import Scheduler

from heurist.policies.runtimes.vllm_policies import Chunk, make_policy

__all__ = ["HeuristScheduler", "PolicyFreeBlockQueue", "install_policy"]


class PolicyFreeBlockQueue(FreeKVCacheBlockQueue):
    """vLLM's free-block queue with the eviction order of ``policy`` (see the module doc)."""

    def __init__(self, blocks, policy, pool) -> None:  # blocks: the free, hashless blocks
        self.policy, self.pool = policy, pool
        self.empty: deque = deque(blocks)
        self.block_of: dict = {}  # cached key -> its block
        self.n_cached_free = 0
        self.evictions = 0

    @property
    def num_free_blocks(self) -> int:  # read by BlockPool.get_num_free_blocks
        return len(self.empty) + self.n_cached_free

    @num_free_blocks.setter
    def num_free_blocks(self, value) -> None:  # the base __init__ is not called; ignore writes
        pass

    def popleft(self):
        return self.popleft_n(1)[0]

    def popleft_n(self, n: int) -> list:
        take = min(n, len(self.empty))
        out = [self.empty.popleft() for _ in range(take)]
        if n > take:
            victims = self.policy.evict(n - take, set())
            if victims is None:
                raise ValueError(f"no {n - take} evictable blocks")
            for key, _ in victims:
                out.append(self.block_of.pop(key))
            self.n_cached_free -= len(victims)
            self.evictions += len(victims)
        for b in out:
            b.prev_free_block = b.next_free_block = None
        return out

    def remove(self, block) -> None:
        key = block.block_hash
        if self.block_of.get(key) is not block:  # an empty block taken by hand
            self.empty.remove(block)
            return
        self.policy.mark_non_evictable(key)
        self.policy.get(key).ref_cnt = 1
        self.n_cached_free -= 1

    def prepend_n(self, blocks) -> None:
        self.empty.extendleft(reversed(list(blocks)))

    def append(self, block) -> None:
        self.append_n([block])

    def append_n(self, blocks) -> None:
        new, reused, order = set(), set(), []
        for b in blocks:  # tail of the request first (vLLM frees in reverse)
            key = b.block_hash
            if key is None:
                self.empty.append(b)
                continue
            owner = self.block_of.get(key)
            if owner is None:
                self.policy.on_store_miss([key], None)
                self.policy.insert(key, Chunk(b.block_id, ref_cnt=1))
                self.block_of[key] = b
                new.add(key)
            elif owner is not b:  # a recomputed copy of a cached key: keep the old block
                self.pool._maybe_evict_cached_block(b)
                self.empty.append(b)
                continue
            else:
                reused.add(key)
            order.append(key)
        order.reverse()  # head to tail
        self.policy.on_request_finished([order], new, reused, None)
        for key in order:
            self.policy.get(key).ref_cnt = 0
            self.policy.mark_evictable(key)
            self.n_cached_free += 1

    def get_all_free_blocks(self) -> list:
        return list(self.empty) + list(self.block_of.values())


def install_policy(scheduler, name: str) -> PolicyFreeBlockQueue:
    """Gives ``scheduler``'s block pool a fresh queue ordered by policy ``name``. Every block
    must be free; the prefix cache is emptied first (vLLM's ``reset_prefix_cache``)."""
    pool = scheduler.kv_cache_manager.block_pool
    if not pool.reset_prefix_cache():
        raise RuntimeError("cannot change the eviction policy while blocks are in use")
    free = [b for b in pool.blocks if not b.is_null]
    capacity = len(free)
    queue = PolicyFreeBlockQueue(free, make_policy(name, capacity), pool)
    pool.free_block_queue = queue
    scheduler.heurist_policy = name
    scheduler.block_trace = []
    return queue


class HeuristScheduler(Scheduler):
    """vLLM's scheduler whose prefix-cache eviction follows a heurist policy: the class attribute
    ``eviction_policy`` or ``$HEURIST_VLLM_POLICY`` (default ``lru``); ``None`` keeps vLLM's own queue.
    ``block_trace`` lists one dict per finished request (the recorded block-request sequence)."""

    eviction_policy: str | None = os.environ.get("HEURIST_VLLM_POLICY", "lru")

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.block_trace: list[dict] = []
        self.heurist_policy = None
        if self.eviction_policy:  # (Scheduler.policy is vLLM's own: its scheduling order)
            install_policy(self, self.eviction_policy)

    def _free_request_blocks(self, request) -> None:
        ids = self.kv_cache_manager.get_block_ids(request.request_id)
        self.block_trace.append({
            "keys": [bytes(make_block_hash_with_group_id(h, 0)) for h in request.block_hashes],
            "prompt_tokens": request.num_prompt_tokens,
            "computed_tokens": request.num_computed_tokens,
            "blocks": len(ids[0]) if ids else 0,
        })
        super()._free_request_blocks(request)

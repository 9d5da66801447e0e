"""heurist eviction policies behind vLLM's cache-policy contract (pure Python, vLLM optional).

vLLM 0.32's KV offloading chooses victims through ``CachePolicy``
(``vllm/v1/kv_offload/cpu/policies/base.py``): ``get``, ``insert``, ``remove``, ``touch``,
``on_store_miss``, ``on_request_finished``, ``evict(n, protected)``, ``clear``,
``mark_evictable`` and ``mark_non_evictable``. A chunk is any object with ``ref_cnt``
(0: evictable, -1: being stored) and ``is_ready``. The classes here implement that contract:

* :class:`LRUPolicy` and :class:`ARCPolicy` make the same decisions as vLLM's built-in
  ``LRUCachePolicy`` and ``ARCCachePolicy`` (tested on recorded key sequences);
* :class:`S3FIFOPolicy` (small/main FIFO with a ghost queue, Yang et al. SOSP'23);
* :class:`ScorerPolicy`: evicts the lowest ``get_priority`` (SGLang's ``EvictionStrategy`` shape)
  over per-key features;
* :class:`DistilledPolicy` / :class:`DistilledTreePolicy`: the learned policy (LearnedFTP)
  distilled into a linear / depth-6 tree priority
  (:mod:`heurist.policies.paging.distilled`), its per-key features kept online from the block
  requests; the same decisions as ``heurist simulate --policy distilled`` under demand paging.

When vLLM is importable, the classes subclass its ``CachePolicy`` so
``kv_connector_extra_config={"eviction_policy": "LRUPolicy", "cache_policy_module_path":
"heurist.policies.runtimes.vllm_policies"}`` selects them; without vLLM they are plain classes
(the replay in :mod:`heurist.policies.runtimes.vllm_replay` needs none of vLLM).
"""
from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Hashable, Iterable, Sequence

import numpy as np

try:  # vLLM lives in the optional `serve` environment (see README); the policies do not need it
    from vllm.v1.kv_offload.cpu.policies.base import CachePolicy as _Base
except Exception:  # noqa: BLE001 - any failure to import vLLM means: run without its base class
    _Base = object  # type: ignore[assignment,misc]

__all__ = [
    "POLICIES",
    "ARCPolicy",
    "Chunk",
    "DistilledPolicy",
    "DistilledTreePolicy",
    "LRUPolicy",
    "S3FIFOPolicy",
    "ScorerPolicy",
    "make_policy",
    "request_order",
]

Key = Hashable


class Chunk:
    """A cache entry: ``ref_cnt`` (-1 while stored, 0 when evictable, >0 while read)."""

    __slots__ = ("chunk_id", "ref_cnt")

    def __init__(self, chunk_id: int = 0, ref_cnt: int = 0) -> None:
        self.chunk_id, self.ref_cnt = chunk_id, ref_cnt

    @property
    def is_ready(self) -> bool:
        return self.ref_cnt >= 0


def request_order(key_groups: Sequence[Sequence[Key]], req_context) -> list[Key]:
    """The keys of one request head to tail: by the context's positions when it knows all of
    them, else in the given order (vLLM's ``order_request_keys``)."""
    keys = [k for group in key_groups for k in group]
    if req_context is None:
        return keys
    pos = {}
    for k in keys:
        p = req_context.get_offload_key_position(k)
        if p is not None:
            pos[k] = p
    if len(pos) == len(keys):
        keys.sort(key=pos.__getitem__)
    return keys


class _Policy(_Base):  # type: ignore[misc,valid-type]
    """Shared bookkeeping: ``cache_capacity`` and the evictable set."""

    name = "policy"

    def __init__(self, cache_capacity: int) -> None:
        if int(cache_capacity) < 1:
            raise ValueError(f"cache_capacity must be >= 1, got {cache_capacity}")
        self.cache_capacity = int(cache_capacity)

    def on_store_miss(self, keys: Iterable[Key], req_context=None) -> None:
        """A store miss is an access by default (vLLM's default)."""
        self.touch(keys, req_context)

    def on_request_finished(self, key_groups, insertion_only_keys, reused_keys,
                            req_context=None) -> None:
        """One touch per group by default (vLLM's default)."""
        for keys in key_groups:
            self.touch(keys, req_context)

    def mark_evictable(self, key: Key) -> None:
        return

    def mark_non_evictable(self, key: Key) -> None:
        return


class LRUPolicy(_Policy):
    """Least recently used. One ordered dict keeps every chunk oldest-first; the evictable set
    says which of them may go. Touching a request's keys refreshes them tail to head, so the
    head of a prefix is the most recent and a chain is evicted from its tail."""

    name = "LRU"

    def __init__(self, cache_capacity: int) -> None:
        super().__init__(cache_capacity)
        self.chunks: OrderedDict[Key, Chunk] = OrderedDict()
        self.evictable: set[Key] = set()

    def get(self, key):
        return self.chunks.get(key)

    def insert(self, key, chunk) -> None:
        self.chunks[key] = chunk
        self.chunks.move_to_end(key)
        if chunk.ref_cnt == 0:
            self.evictable.add(key)

    def remove(self, key) -> None:
        del self.chunks[key]
        self.evictable.discard(key)

    def _refresh(self, keys: Iterable[Key]) -> None:
        for k in keys:
            if k in self.chunks:
                self.chunks.move_to_end(k)

    def touch(self, keys, req_context=None) -> None:
        self._refresh(reversed(list(keys)))

    def on_request_finished(self, key_groups, insertion_only_keys, reused_keys,
                            req_context=None) -> None:
        self._refresh(reversed(request_order(key_groups, req_context)))

    def evict(self, n, protected):
        if n == 0:
            return []
        picked = []
        for k in self.chunks:  # oldest first
            if len(picked) == n:
                break
            if k in self.evictable and k not in protected:
                picked.append(k)
        if len(picked) < n:
            return None
        out = []
        for k in picked:
            out.append((k, self.chunks.pop(k)))
            self.evictable.discard(k)
        return out

    def clear(self) -> None:
        self.chunks.clear()
        self.evictable.clear()

    def mark_evictable(self, key) -> None:
        self.evictable.add(key)

    def mark_non_evictable(self, key) -> None:
        self.evictable.remove(key)


class ARCPolicy(_Policy):
    """Adaptive replacement (Megiddo & Modha) in vLLM's request-scoped form: new chunks enter
    T1; a reuse moves a ready chunk to T2 (or refreshes it there); a miss on a ghost (B1/B2)
    moves the target size of T1 by max(1, |other ghost| / |this ghost|). Eviction takes T1's
    oldest candidate while T1 is at or over the (integer) target, else T2's, else T1's; evicted
    keys become ghosts, each ghost list bounded by the capacity."""

    name = "ARC"

    def __init__(self, cache_capacity: int) -> None:
        super().__init__(cache_capacity)
        self.target_t1_size = 0.0
        self.t1: OrderedDict[Key, Chunk] = OrderedDict()
        self.t2: OrderedDict[Key, Chunk] = OrderedDict()
        self.b1: OrderedDict[Key, None] = OrderedDict()
        self.b2: OrderedDict[Key, None] = OrderedDict()

    def get(self, key):
        chunk = self.t1.get(key)
        return chunk if chunk is not None else self.t2.get(key)

    def insert(self, key, chunk) -> None:
        self.t1[key] = chunk
        self.b1.pop(key, None)
        self.b2.pop(key, None)

    def remove(self, key) -> None:
        if self.t1.pop(key, None) is None:
            self.t2.pop(key, None)

    def _ghost_hit(self, key) -> None:
        if key in self.b1:
            step = max(1, len(self.b2) / len(self.b1))
            self.target_t1_size = min(self.target_t1_size + step, self.cache_capacity)
            self.b1.move_to_end(key)
        elif key in self.b2:
            step = max(1, len(self.b1) / len(self.b2))
            self.target_t1_size = max(self.target_t1_size - step, 0)
            self.b2.move_to_end(key)

    def on_store_miss(self, keys, req_context=None) -> None:
        for k in reversed(list(keys)):
            self._ghost_hit(k)

    def touch(self, keys, req_context=None) -> None:
        for k in reversed(list(keys)):
            if k in self.t1:
                chunk = self.t1.pop(k)
                # a chunk still being stored was not really used twice: refresh it in T1
                (self.t2 if chunk.is_ready else self.t1)[k] = chunk
            elif k in self.t2:
                self.t2.move_to_end(k)
            else:
                self._ghost_hit(k)

    def on_request_finished(self, key_groups, insertion_only_keys, reused_keys,
                            req_context=None) -> None:
        for k in reversed(request_order(key_groups, req_context)):
            if k in insertion_only_keys:  # a store refreshes recency, it is not a reuse
                if k in self.t1:
                    self.t1.move_to_end(k)
                elif k in self.t2:
                    self.t2.move_to_end(k)
            elif k in reused_keys:
                if k in self.t1:
                    self.t2[k] = self.t1.pop(k)
                elif k in self.t2:
                    self.t2.move_to_end(k)

    def evict(self, n, protected):
        if n == 0:
            return []

        def candidates(lst):
            return (k for k, c in lst.items() if c.ref_cnt == 0 and k not in protected)

        from_t1, from_t2 = candidates(self.t1), candidates(self.t2)
        picked: list[tuple[Key, bool]] = []
        t1_size = len(self.t1)
        for _ in range(n):
            k = next(from_t1, None) if t1_size >= int(self.target_t1_size) else None
            in_t1 = k is not None
            if k is None:
                k = next(from_t2, None)
            if k is None:
                k, in_t1 = next(from_t1, None), True
                if k is None:
                    return None
            t1_size -= in_t1
            picked.append((k, in_t1))
        out = []
        for k, in_t1 in picked:
            if in_t1:
                out.append((k, self.t1.pop(k)))
                self.b1[k] = None
            else:
                out.append((k, self.t2.pop(k)))
                self.b2[k] = None
        for ghost in (self.b1, self.b2):
            while len(ghost) > self.cache_capacity:
                ghost.popitem(last=False)
        return out

    def clear(self) -> None:
        for d in (self.t1, self.t2, self.b1, self.b2):
            d.clear()
        self.target_t1_size = 0.0


class S3FIFOPolicy(_Policy):
    """S3-FIFO (Yang et al., SOSP'23) as :class:`heurist.policies.paging.S3FIFO` runs it: new
    chunks enter a small FIFO of ``round(small_fraction * capacity)`` (at least 1), chunks whose
    key is among the last ``capacity - small`` ghost entries go straight to main. A victim is
    taken from the small queue while it holds at least its share (or main has no candidate): its
    oldest chunks reused ``move_threshold`` times move to main, the first other one leaves and its
    key becomes a ghost. Otherwise main is a CLOCK: a reused chunk loses one credit and goes to
    the back. Credits are capped at 3. Chunks in use or ``protected`` are skipped in place; with
    none of them this is exactly heurist's S3-FIFO (tested against ``heurist simulate``)."""

    name = "S3-FIFO"

    def __init__(self, cache_capacity: int, *, small_fraction: float = 0.1,
                 move_threshold: int = 1) -> None:
        super().__init__(cache_capacity)
        if not 0.0 < small_fraction < 1.0:
            raise ValueError(f"small_fraction must be in (0, 1), got {small_fraction}")
        if int(move_threshold) < 1:
            raise ValueError(f"move_threshold must be >= 1, got {move_threshold}")
        self.small_size = max(1, round(small_fraction * self.cache_capacity))
        self.ghost_size = max(self.cache_capacity - self.small_size, 1)
        self.move_threshold = int(move_threshold)
        self.small: OrderedDict[Key, Chunk] = OrderedDict()  # oldest first
        self.main: OrderedDict[Key, Chunk] = OrderedDict()
        self.ghost: dict[Key, int] = {}  # key -> its ghost sequence number
        self.ghost_seq = 0
        self.freq: dict[Key, int] = {}

    def get(self, key):
        chunk = self.small.get(key)
        return chunk if chunk is not None else self.main.get(key)

    def insert(self, key, chunk) -> None:
        stamp = self.ghost.pop(key, None)
        in_ghost = stamp is not None and self.ghost_seq - stamp <= self.ghost_size
        (self.main if in_ghost else self.small)[key] = chunk
        self.freq[key] = 0

    def remove(self, key) -> None:
        if self.small.pop(key, None) is None:
            self.main.pop(key, None)
        self.freq.pop(key, None)

    def touch(self, keys, req_context=None) -> None:
        for k in keys:
            if k in self.freq:
                self.freq[k] = min(self.freq[k] + 1, 3)

    def on_store_miss(self, keys, req_context=None) -> None:
        return  # a miss is not a use; the ghost check happens at insert

    def on_request_finished(self, key_groups, insertion_only_keys, reused_keys,
                            req_context=None) -> None:
        self.touch([k for k in request_order(key_groups, req_context) if k in reused_keys])

    def _ok(self, k, chunk, protected) -> bool:
        return chunk.ref_cnt == 0 and k not in protected

    def _evict_one(self, protected):
        main_ok = any(self._ok(k, c, protected) for k, c in self.main.items())
        if len(self.small) >= self.small_size or not main_ok:
            for k in [k for k, c in self.small.items() if self._ok(k, c, protected)]:
                chunk = self.small.pop(k)
                if self.freq[k] >= self.move_threshold:  # reused on probation: to main
                    self.freq[k] = 0
                    self.main[k] = chunk
                    continue
                self.ghost[k] = self.ghost_seq
                self.ghost_seq += 1
                if len(self.ghost) > 4 * self.ghost_size:  # forget entries out of the window
                    self.ghost = {g: s for g, s in self.ghost.items()
                                  if self.ghost_seq - s <= self.ghost_size}
                del self.freq[k]
                return k, chunk
        while True:
            k = next(k for k, c in self.main.items() if self._ok(k, c, protected))
            if self.freq[k] > 0:  # lazy promotion: one credit less, to the back
                self.freq[k] -= 1
                self.main.move_to_end(k)
                continue
            del self.freq[k]
            return k, self.main.pop(k)

    def evict(self, n, protected):
        if n == 0:
            return []
        free = sum(self._ok(k, c, protected) for q in (self.small, self.main) for k, c in q.items())
        if free < n:
            return None
        return [self._evict_one(protected) for _ in range(n)]

    def clear(self) -> None:
        for d in (self.small, self.main, self.ghost, self.freq):
            d.clear()
        self.ghost_seq = 0


# Features the scorer sees per key, in this order (a subset of the paging env's slot features
# that a runtime can keep per block without predictions).
SCORER_FEATURES = ("recency_rank", "log_age", "rarity_rank", "log_count", "depth")


class ScorerPolicy(_Policy):
    """Evicts the candidates of lowest priority: ``get_priority(features [n, F]) -> [n]`` over
    :data:`SCORER_FEATURES` (ranks in [0, 1] among cached keys: 0 = most recent / most used).
    Ties go to the least recently used. ``depth`` is the key's position in its request (0 =
    first block): a prefix cache loses a whole chain's tail when its head goes."""

    name = "scorer"

    def __init__(self, cache_capacity: int, *,
                 get_priority: Callable[[np.ndarray], np.ndarray], name: str = "scorer") -> None:
        super().__init__(cache_capacity)
        self.get_priority, self.name = get_priority, name
        self.chunks: OrderedDict[Key, Chunk] = OrderedDict()  # oldest use first
        self.evictable: set[Key] = set()
        self.count: dict[Key, int] = {}
        self.born: dict[Key, int] = {}
        self.depth: dict[Key, int] = {}
        self.clock = 0

    def get(self, key):
        return self.chunks.get(key)

    def insert(self, key, chunk) -> None:
        self.clock += 1
        self.chunks[key] = chunk
        self.chunks.move_to_end(key)
        self.count[key] = 1
        self.born[key] = self.clock
        self.depth.setdefault(key, 0)
        if chunk.ref_cnt == 0:
            self.evictable.add(key)

    def remove(self, key) -> None:
        del self.chunks[key]
        self.evictable.discard(key)
        for d in (self.count, self.born, self.depth):
            d.pop(key, None)

    def touch(self, keys, req_context=None) -> None:
        keys = list(keys)
        for i, k in enumerate(keys):
            self.depth[k] = i
        for k in reversed(keys):
            if k in self.chunks:
                self.clock += 1
                self.chunks.move_to_end(k)

    def on_request_finished(self, key_groups, insertion_only_keys, reused_keys,
                            req_context=None) -> None:
        keys = request_order(key_groups, req_context)
        for k in keys:
            if k in reused_keys and k in self.count:
                self.count[k] += 1
        self.touch(keys)

    def features(self, keys: list[Key]) -> np.ndarray:
        """[n, F] features of ``keys`` (all cached)."""
        n_all = len(self.chunks)
        rec = {k: i for i, k in enumerate(reversed(self.chunks))}  # 0 = most recent
        by_count = sorted(self.chunks, key=lambda k: -self.count[k])
        rare = {k: i for i, k in enumerate(by_count)}
        denom = max(1, n_all - 1)
        f = np.empty((len(keys), len(SCORER_FEATURES)), dtype=np.float64)
        for i, k in enumerate(keys):
            f[i] = (rec[k] / denom, np.log1p(self.clock - self.born[k]), rare[k] / denom,
                    np.log1p(self.count[k]), np.log1p(self.depth[k]))
        return f

    def evict(self, n, protected):
        if n == 0:
            return []
        cand = [k for k in self.chunks if k in self.evictable and k not in protected]
        if len(cand) < n:
            return None
        prio = np.asarray(self.get_priority(self.features(cand)), dtype=np.float64)
        order = np.argsort(prio, kind="stable")[:n]  # stable: ties go to the older key
        out = []
        for i in order:
            k = cand[int(i)]
            out.append((k, self.chunks[k]))
            self.remove(k)
        return out

    def clear(self) -> None:
        for d in (self.chunks, self.evictable, self.count, self.born, self.depth):
            d.clear()
        self.clock = 0

    def mark_evictable(self, key) -> None:
        self.evictable.add(key)

    def mark_non_evictable(self, key) -> None:
        self.evictable.remove(key)


class DistilledPolicy(_Policy):
    """Evicts the evictable key of lowest distilled priority (higher = keep; ties: the key
    requested longest ago). The block-request stream is what ``on_request_finished`` reports:
    each request's keys, head to tail, one request each; a key's features are those of its
    latest request plus ``log_elapsed`` (requests since), as in ``heurist simulate --policy
    distilled``. ``touch`` (a lookup) is not a request here, so a request is counted once.
    ``artifact``: the distilled scorers' folder (default: the shipped one)."""

    name = "distilled"
    kind = "linear"

    def __init__(self, cache_capacity: int, *, artifact=None) -> None:
        super().__init__(cache_capacity)
        # numba (llvmlite) loads here, not at import: vLLM's CPU kernel registration must run
        # before it (install_policy makes policies after the engine is built)
        from heurist.policies.paging.distilled import StreamScorer, load_distilled

        self.stream = StreamScorer(load_distilled(artifact, self.kind),
                                   capacity=4 * self.cache_capacity)
        self.chunks: dict[Key, Chunk] = {}
        self.evictable: set[Key] = set()

    def get(self, key):
        return self.chunks.get(key)

    def insert(self, key, chunk) -> None:
        self.chunks[key] = chunk
        if chunk.ref_cnt == 0:
            self.evictable.add(key)

    def remove(self, key) -> None:
        del self.chunks[key]
        self.evictable.discard(key)

    def touch(self, keys, req_context=None) -> None:
        return

    def on_request_finished(self, key_groups, insertion_only_keys, reused_keys,
                            req_context=None) -> None:
        for k in request_order(key_groups, req_context):
            self.stream.observe(k)

    def evict(self, n, protected):
        if n == 0:
            return []
        cand = [k for k in self.chunks if k in self.evictable and k not in protected]
        if len(cand) < n:
            return None
        seen = np.array([self.stream.last_request(k) for k in cand], dtype=np.int64)
        prio = np.full(len(cand), -np.inf)
        known = np.flatnonzero(seen >= 0)
        # a key never requested (stored, its request not finished) has no features: first out
        prio[known] = self.stream.priorities([cand[i] for i in known])
        order = np.lexsort((seen, prio))[:n]  # lowest priority, then the oldest request
        out = []
        for i in order:
            k = cand[int(i)]
            out.append((k, self.chunks[k]))
            self.remove(k)
        return out

    def clear(self) -> None:
        self.chunks.clear()
        self.evictable.clear()

    def mark_evictable(self, key) -> None:
        self.evictable.add(key)

    def mark_non_evictable(self, key) -> None:
        self.evictable.discard(key)


class DistilledTreePolicy(DistilledPolicy):
    """:class:`DistilledPolicy` with the depth-6 tree scorer."""

    name = "distilledtree"
    kind = "tree"


POLICIES: dict[str, Callable[[int], _Policy]] = {
    "lru": LRUPolicy,
    "arc": ARCPolicy,
    "s3fifo": S3FIFOPolicy,
    "distilled": DistilledPolicy,
    "distilledtree": DistilledTreePolicy,
}


def make_policy(name: str, capacity: int) -> _Policy:
    """A fresh policy by name (``lru``, ``arc``, ``s3fifo``, ``distilled``, ``distilled-tree``;
    ``learned`` is ``distilled``)."""
    key = name.lower().replace("-", "").replace("_", "")
    key = {"learned": "distilled"}.get(key, key)
    if key not in POLICIES:
        raise ValueError(f"unknown policy {name!r}; valid: {', '.join(POLICIES)}")
    return POLICIES[key](capacity)

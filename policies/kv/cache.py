"""A transformers ``DynamicCache`` that applies an eviction policy per layer and KV head.

Every KV head of a layer keeps the same NUMBER of entries (so the cache stays one dense
``[1, Hkv, Tk, D]`` tensor) but its own SET of them. The cache remembers each entry's real token
position (``positions[layer]``, ``[Hkv, Tk]``): after eviction the model must still be fed the real
RoPE position ids (``next_position``), not ones counted from the compressed length.

Prefill compression happens once, from the prefill forward's attention (:meth:`from_prefill`); this
is what kvpress's forward hook does layer by layer, and the same thing, because a layer's compression
never changes the prefill output of any layer. Decode eviction (:meth:`after_step`) runs after each
one-token forward: the new entry's column is appended to the policy's statistics, the policy observes
the new query's attention, scores, and the cache drops the lowest-scored entries beyond ``capacity``.
"""
from __future__ import annotations

import torch
from transformers import DynamicCache

from heurist.policies.kv.base import KVPolicy
from heurist.policies.kv.observation import DecodeStep, LayerObservation
from heurist.policies.kv.select import complement, victims

__all__ = ["PolicyCache"]


def _gather_last(t: torch.Tensor, idx: torch.Tensor) -> torch.Tensor:
    """Gathers ``t [..., Hkv, N]`` along its last dim with ``idx [Hkv, n]`` -> ``[..., Hkv, n]``."""
    return t.gather(-1, idx.expand(*t.shape[:-2], *idx.shape))


class PolicyCache(DynamicCache):
    """DynamicCache whose entries were chosen, and keep being evicted, by a :class:`KVPolicy`."""

    def __init__(self, config, policy: KVPolicy, *, capacity: int | None,
                 decode_evict: bool) -> None:
        super().__init__(config=config)
        self.policy = policy
        self.capacity = capacity
        self.decode_evict = decode_evict and policy.evicts and capacity is not None
        self.positions: list[torch.Tensor] = []
        self.stats: list[dict[str, torch.Tensor]] = []
        self.next_position = 0
        self.step = 0
        self.recalls: list[float] = []

    @classmethod
    def from_prefill(cls, config, policy: KVPolicy, keys: list[torch.Tensor],
                     values: list[torch.Tensor], observations: list[LayerObservation],
                     kept: list[torch.Tensor], *, capacity: int | None,
                     decode_evict: bool) -> PolicyCache:
        """Builds the compressed cache: per layer ``keys/values [Hkv, T, D]``, ``kept [Hkv, n]``."""
        cache = cls(config, policy, capacity=capacity, decode_evict=decode_evict)
        for layer, (k, v, idx) in enumerate(zip(keys, values, kept)):
            d = k.shape[-1]
            gi = idx[..., None].expand(-1, -1, d)
            cache.update(k.gather(1, gi)[None], v.gather(1, gi)[None], layer)
            cache.positions.append(idx.clone())
            stats = policy.prefill_stats(observations[layer]) if cache.decode_evict else {}
            cache.stats.append({n: _gather_last(s, idx).clone() for n, s in stats.items()})
        cache.next_position = keys[0].shape[1]
        return cache

    def append_positions(self, n: int) -> None:
        """Records ``n`` new entries (a multi-token forward without eviction)."""
        new = torch.arange(self.next_position, self.next_position + n)
        for layer, pos in enumerate(self.positions):
            self.positions[layer] = torch.cat([pos, new.expand(pos.shape[0], -1)], dim=1)
        self.next_position += n

    def after_step(self, attentions, *, future: list[torch.Tensor] | None = None,
                   full_rows: list[torch.Tensor] | None = None) -> None:
        """Bookkeeping after a one-token forward, then decode eviction.

        attentions: per layer ``[1, Hq, 1, Tk]`` (``output_attentions=True``); may be ``None`` when
            the cache does not evict. future: per layer ``[Hq, P]`` attention mass after this step
            (oracle). full_rows: per layer ``[Hq, P]`` the full-cache attention of this step's query
            over real positions; if given, the attention recall of this step is recorded.
        """
        self.append_positions(1)
        recall = []
        for layer, lay in enumerate(self.layers):
            pos = self.positions[layer]
            if full_rows is not None:
                row = full_rows[layer]
                g = row.shape[0] // pos.shape[0]
                pq = pos.repeat_interleave(g, dim=0)
                recall.append((row.gather(1, pq).sum(1) / row.sum(1)).mean().item())
            if not self.decode_evict:
                continue
            stats = self.stats[layer]
            for name, s in stats.items():
                stats[name] = torch.cat([s, torch.zeros_like(s[..., :1])], dim=-1)
            keys = lay.keys[0]
            step = DecodeStep(attn=attentions[layer][0, :, -1, :], keys=keys, positions=pos,
                              layer=layer, step=self.step, capacity=self.capacity,
                              future=None if future is None else future[layer],
                              values=lay.values[0])
            self.policy.observe(stats, step)
            n_evict = keys.shape[1] - self.capacity
            if n_evict <= 0:
                continue
            scores = self.policy.decode_scores(stats, step)
            keep = complement(victims(scores, n_evict), keys.shape[1])
            gi = keep[None, ..., None].expand(1, -1, -1, keys.shape[-1])
            lay.keys = lay.keys.gather(2, gi)
            lay.values = lay.values.gather(2, gi)
            self.positions[layer] = pos.gather(1, keep)
            for name, s in stats.items():
                stats[name] = _gather_last(s, keep)
        if recall:
            self.recalls.append(sum(recall) / len(recall))
        self.step += 1

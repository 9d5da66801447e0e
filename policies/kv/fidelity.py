"""Fidelity of eviction policies in REAL generation on SmolLM2 (kvpress's protocol, extended).

Protocol for one text ``ids`` (``T`` context + ``C`` continuation + 1 target token):

1. Reference (:func:`reference_run`): prefill the ``T`` context tokens with eager attention (the
   policies' observation), then teacher-force the ``C`` continuation tokens through the FULL cache
   -> next-token logits ``[C, V]`` and the continuation's attention ``[Hq, C, T+C]`` per layer (the
   oracle's future and the recall proxy), and ``n`` greedy tokens.
2. Per policy and budget (:func:`run_policy`): keep ``n_kept(T, budget)`` entries per (layer, KV
   head) chosen from the prefill observation, then teacher-force the same continuation with the
   REAL position ids ``T..T+C-1`` (kvpress's pipeline does the same; counting from the compressed
   length -- ``real_positions=False``, kept only to measure that trap -- inflates KL several-fold).
   ``mode="prefill"``: compress once, the continuation is appended (kvpress). ``mode="decode"``:
   one token at a time, the policy's decode form evicts back to ``n_kept`` after every token.

Metrics: KL(full || compressed) averaged over the ``C`` positions; perplexity of the continuation;
greedy agreement (fraction of ``n`` free-running greedy tokens equal to the full cache's, both fed
the first continuation token after the context); attention recall, a PROXY that needs no
compressed run: the fraction of the full-cache continuation attention mass that falls on entries the
policy keeps (per layer, query head and position; GQA: a query head reads its KV head's set).
"""
from __future__ import annotations

import contextlib
from dataclasses import asdict, dataclass, field

import torch
from transformers import DynamicCache

from heurist.policies.kv.allocation import SCORE_KINDS, Allocation, kept_with_mask, masked_attention
from heurist.policies.kv.base import KVPolicy
from heurist.policies.kv.cache import PolicyCache
from heurist.policies.kv.full import FullCache
from heurist.policies.kv.metrics import agreement, kl_divergence, perplexity
from heurist.policies.kv.observation import LayerObservation
from heurist.policies.kv.registry import EVICTION_MODES
from heurist.policies.kv.select import n_kept as count_kept

__all__ = [
    "FidelityResult",
    "Reference",
    "allocated_sets",
    "prefill_recall",
    "reference_run",
    "run_policy",
]

@dataclass
class Reference:
    """The full-cache run of one text (see module doc). Per-layer lists have 30 entries."""

    context_len: int
    inputs: torch.Tensor  # [C] teacher-forced continuation tokens
    targets: torch.Tensor  # [C] the token each position predicts
    first: torch.Tensor  # [1] first continuation token, the greedy prompt's last token
    keys: list[torch.Tensor]  # [Hkv, T, D]
    values: list[torch.Tensor]  # [Hkv, T, D]
    observations: list[LayerObservation]
    logits: torch.Tensor  # [C, V]
    cont_attn: list[torch.Tensor]  # [Hq, C, T+C]
    greedy: torch.Tensor  # [n]
    ppl: float
    _future_after: list[torch.Tensor] | None = field(default=None, repr=False)

    def future_after(self) -> list[torch.Tensor]:
        """Per layer ``[Hq, C, T+C]``: attention mass that queries AFTER step t pay to each position."""
        if self._future_after is None:
            out = []
            for a in self.cont_attn:
                suffix = a.flip(1).cumsum(1).flip(1)  # mass from steps >= t
                out.append(suffix - a)  # strictly after t
            self._future_after = out
        return self._future_after


@dataclass
class FidelityResult:
    policy: str
    budget: float
    recall: float
    kl: float
    ppl: float
    agreement: float
    ppl_full: float
    n_kept: int
    mode: str
    seed: int | None = None

    def to_dict(self) -> dict:
        return asdict(self)


def _check_ids(ids: torch.Tensor, context: int, continuation: int) -> torch.Tensor:
    ids = torch.as_tensor(ids).reshape(-1).long()
    need = context + continuation + 1
    if context < 2 or continuation < 1:
        raise ValueError(f"need context >= 2 and continuation >= 1 tokens, got {context}, "
                         f"{continuation}")
    if ids.numel() < need:
        raise ValueError(f"text has {ids.numel()} tokens; context {context} + continuation "
                         f"{continuation} + 1 target need {need}")
    return ids[:need]


def _positions(start: int, n: int, real: bool) -> torch.Tensor | None:
    return torch.arange(start, start + n)[None] if real else None


@torch.inference_mode()
def reference_run(model, ids: torch.Tensor, *, context: int, continuation: int,
                  greedy_steps: int = 16) -> Reference:
    """The full-cache reference of ``ids [N]`` (``N >= context + continuation + 1``)."""
    ids = _check_ids(ids, context, continuation)
    t, c = context, continuation
    cache = DynamicCache(config=model.config)
    out = model(ids[None, :t], past_key_values=cache, output_attentions=True, use_cache=True,
                logits_to_keep=1)  # only the attention and the cache are needed
    keys = [lay.keys[0] for lay in cache.layers]
    values = [lay.values[0] for lay in cache.layers]
    attn = [a[0] for a in out.attentions]
    inputs, targets = ids[t:t + c], ids[t + 1:t + c + 1]
    full = PolicyCache.from_prefill(model.config, FullCache(), keys, values,
                                    [LayerObservation(attn=a, keys=k, layer=i)
                                     for i, (a, k) in enumerate(zip(attn, keys))],
                                    [torch.arange(t).expand(k.shape[0], -1) for k in keys],
                                    capacity=None, decode_evict=False)
    cont = model(inputs[None], past_key_values=full, position_ids=_positions(t, c, True),
                 output_attentions=True, use_cache=True)
    cont_attn = [a[0] for a in cont.attentions]
    observations = [LayerObservation(attn=a, keys=k, layer=i, future=ca[:, :, :t], values=v)
                    for i, (a, k, v, ca) in enumerate(zip(attn, keys, values, cont_attn))]
    ref = Reference(context_len=t, inputs=inputs, targets=targets, first=ids[t:t + 1], keys=keys,
                    values=values, observations=observations, logits=cont.logits[0],
                    cont_attn=cont_attn, greedy=torch.empty(0, dtype=torch.long),
                    ppl=perplexity(cont.logits[0], targets))
    if greedy_steps > 0:
        kept = [torch.arange(t).expand(k.shape[0], -1) for k in keys]
        ref.greedy = _greedy(model, ref, FullCache(), kept, None, "prefill", True, greedy_steps)
    return ref


def prefill_recall(ref: Reference, kept: list[torch.Tensor],
                   masks: list[torch.Tensor] | None = None) -> float:
    """Attention-recall proxy of prefill kept sets ``kept[layer] [Hkv, n]``: the mean over layers,
    query heads and continuation positions of (mass on kept context + continuation entries) /
    (total mass), using the FULL cache's continuation attention. Full cache -> exactly 1.
    ``masks[layer] [Hkv, n]`` (optional, ``True`` = not kept) drops padded entries."""
    t = ref.context_len
    per_layer = []
    for i, (a, idx) in enumerate(zip(ref.cont_attn, kept)):
        g = a.shape[0] // idx.shape[0]
        iq = idx.repeat_interleave(g, dim=0)[:, None, :].expand(-1, a.shape[1], -1)
        every = torch.arange(t).expand_as(a[..., :t])
        tail = a[..., t:].sum(-1)  # continuation entries are always cached in prefill mode
        got = a[..., :t].gather(-1, iq)
        if masks is not None:
            got = got * ~masks[i].repeat_interleave(g, dim=0)[:, None, :]
        kept_mass = got.sum(-1) + tail
        total = a[..., :t].gather(-1, every).sum(-1) + tail
        per_layer.append((kept_mass / total).mean())
    return float(torch.stack(per_layer).mean())


def _cache(model, ref: Reference, policy: KVPolicy, kept, capacity, decode_evict) -> PolicyCache:
    return PolicyCache.from_prefill(model.config, policy, ref.keys, ref.values, ref.observations,
                                    kept, capacity=capacity, decode_evict=decode_evict)


def _greedy(model, ref, policy, kept, capacity, mode, real_positions, n, masks=None
            ) -> torch.Tensor:
    cache = _cache(model, ref, policy, kept, capacity, mode == "decode")
    if masks is not None:  # prefill-mode padding (appended tokens are visible)
        with masked_attention([m[None] for m in masks]):
            return _greedy_loop(model, cache, ref.first, real_positions, n)
    return _greedy_loop(model, cache, ref.first, real_positions, n)


def _greedy_loop(model, cache, first, real_positions, n) -> torch.Tensor:
    tok, out_tokens = first, []
    for _ in range(n):
        pos = cache.next_position
        out = model(tok[None], past_key_values=cache, position_ids=_positions(pos, 1, real_positions),
                    output_attentions=cache.decode_evict, use_cache=True)
        cache.after_step(out.attentions if cache.decode_evict else None)
        tok = out.logits[0, -1].argmax().reshape(1)
        out_tokens.append(tok)
    return torch.cat(out_tokens)


def allocated_sets(ref: Reference, policy: KVPolicy, n: int, allocation: Allocation
                   ) -> tuple[list[torch.Tensor], list[torch.Tensor], torch.Tensor]:
    """Prefill kept sets under ``allocation`` (:mod:`heurist.policies.kv.allocation`): per layer
    ``idx [Hkv, P]`` and ``masked [Hkv, P]`` (every layer padded to the same ``P``), and the
    counts ``[L, Hkv]`` (summing to ``L * Hkv * n``)."""
    scores = [policy.prefill_scores(obs, n) for obs in ref.observations]
    counts = allocation.counts(scores, n, kind=SCORE_KINDS.get(policy.name, "mass"))
    width = int(counts.max())
    pairs = [kept_with_mask(s, c, width) for s, c in zip(scores, counts)]
    return [p[0] for p in pairs], [p[1] for p in pairs], counts


@torch.inference_mode()
def run_policy(model, ref: Reference, policy: KVPolicy, budget: float, *, mode: str = "prefill",
               real_positions: bool = True, greedy: bool = True,
               allocation: Allocation | None = None) -> FidelityResult:
    """Fidelity of ``policy`` at ``budget`` (fraction of the context kept per head) on ``ref``.

    ``allocation`` (prefill mode only): split the same total budget unevenly over (layer, KV head)
    (:mod:`heurist.policies.kv.allocation`); padding slots are masked out of attention.
    """
    if mode not in EVICTION_MODES:
        raise ValueError(f"mode must be one of {EVICTION_MODES}, got {mode!r}")
    t, c = ref.context_len, ref.inputs.numel()
    n = count_kept(t, budget) if policy.evicts else t
    if allocation is not None and not allocation.uniform and policy.evicts:
        if mode != "prefill":
            # Padded slots would stay visible to decode scoring (the learned scorer's
            # within-head z-scores read every slot), so decode is not simulated exactly.
            raise ValueError("a non-uniform allocation runs in prefill mode only")
        kept, masks, _ = allocated_sets(ref, policy, n, allocation)
        name = f"{policy.name}+{allocation.label}"
    else:
        kept, masks = [policy.select(obs, n) for obs in ref.observations], None
        name = policy.name
    # The full cache never evicts, so both modes are the prefill path (bitwise the reference).
    decode = mode == "decode" and policy.evicts
    if not decode:
        cache = _cache(model, ref, policy, kept, n, False)
        padded = (contextlib.nullcontext() if masks is None
                  else masked_attention([m[None] for m in masks]))
        with padded:  # an uneven split pads every (layer, head) to one width: mask the padding
            out = model(ref.inputs[None], past_key_values=cache,
                        position_ids=_positions(t, c, real_positions), use_cache=True,
                        output_attentions=masks is None)
        logits = out.logits[0]
        recall = prefill_recall(ref, kept, masks)
    else:
        cache = _cache(model, ref, policy, kept, n, True)
        future = ref.future_after() if policy.offline else None
        rows = []
        for i in range(c):
            out = model(ref.inputs[None, i:i + 1], past_key_values=cache,
                        position_ids=_positions(t + i, 1, real_positions), use_cache=True,
                        output_attentions=True)
            cache.after_step(out.attentions,
                             future=None if future is None else [f[:, i, :] for f in future],
                             full_rows=[a[:, i, :] for a in ref.cont_attn])
            rows.append(out.logits[0, -1])
        logits = torch.stack(rows)
        recall = sum(cache.recalls) / len(cache.recalls)
    agree = float("nan")
    if greedy and ref.greedy.numel():
        toks = _greedy(model, ref, policy, kept, n, mode, real_positions, ref.greedy.numel(),
                       masks)
        agree = agreement(ref.greedy, toks)
    return FidelityResult(policy=name, budget=budget, recall=recall,
                          kl=kl_divergence(ref.logits, logits), ppl=perplexity(logits, ref.targets),
                          agreement=agree, ppl_full=ref.ppl, n_kept=n, mode=mode,
                          seed=getattr(policy, "seed", None))


"""Any heurist KV policy as a kvpress press, so kvpress's own machinery runs it.

:class:`PolicyPress` is a kvpress ``ScorerPress``: kvpress's forward hook calls its ``score`` once
per layer at prefill with the layer's keys ``[B, Hkv, T, D]`` and (eager attention) attention
``[B, Hq, T, T]``; we hand them to the policy as a :class:`LayerObservation` and return the
policy's keep-scores. kvpress's own ``ScorerPress.compress`` then keeps the ``topk`` -- the same
call :func:`~heurist.policies.kv.select.keep_top` makes on the same scores, so the kept set per
(layer, KV head) is the policy's. Works with ``with press(model):`` and with kvpress's
``pipeline("kv-press-text-generation", ...)`` (see :func:`kvpress_pipeline`).

Any :class:`KVPolicy` fits, classical or learned (a learned scorer is a KVPolicy whose
``prefill_scores`` runs its network). Not the offline oracle: it reads the future, which no
runtime has. Pinned: kvpress 0.5.5 (``KVPRESS_VERSION``), the version the parity tests ran on.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import torch
from kvpress import DecodingPress, PrefillDecodingPress, ScorerPress
from kvpress.presses.base_press import is_prefilling
from kvpress.utils import compute_n_kept
from transformers import DynamicCache

from heurist.policies.kv.base import KVPolicy
from heurist.policies.kv.fidelity import Reference
from heurist.policies.kv.metrics import agreement, kl_divergence, perplexity
from heurist.policies.kv.observation import DecodeStep, LayerObservation
from heurist.policies.kv.registry import make_policy
from heurist.policies.kv.select import complement, victims

__all__ = ["KVPRESS_VERSION", "PolicyDecodingPress", "PolicyPress", "decode_press", "kvpress_fidelity",
           "kvpress_greedy", "kvpress_pipeline", "policy_press"]

#: The kvpress version the adapter and its parity tests were written against.
KVPRESS_VERSION = "0.5.5"


@dataclass
class PolicyPress(ScorerPress):
    """kvpress ``ScorerPress`` scoring with a heurist ``policy``.

    compression_ratio: fraction of the context REMOVED (kvpress's convention; ``1 - budget``).
    """

    policy: KVPolicy | None = field(default=None)
    #: Set by :class:`PolicyDecodingPress`: per layer, the real positions kvpress kept (in its
    #: gather order) and the policy's decode statistics gathered at them.
    tracker: dict | None = field(default=None, repr=False)

    def __post_init__(self):
        super().__post_init__()
        if not isinstance(self.policy, KVPolicy):
            raise ValueError(  # noqa: TRY004  (constructors raise ValueError: the CLI maps it)
                f"PolicyPress needs a heurist KVPolicy, got {type(self.policy).__name__}")
        if self.policy.offline:
            raise ValueError(f"policy {self.policy.name!r} reads the future (offline oracle); "
                             "no runtime can run it")
        if not self.policy.evicts and self.compression_ratio != 0:
            raise ValueError(f"policy {self.policy.name!r} never evicts; use compression_ratio=0")

    def score(self, module, hidden_states, keys, values, attentions, kwargs) -> torch.Tensor:
        """``[B, Hkv, T]`` keep-scores from the policy, one observation per batch row."""
        t = keys.shape[2]
        n = compute_n_kept(t, self.compression_ratio)
        rows = []
        for b in range(keys.shape[0]):
            attn = None if attentions is None else attentions[b]
            obs = LayerObservation(attn=attn, keys=keys[b], layer=module.layer_idx,
                                   values=values[b])
            rows.append(self.policy.prefill_scores(obs, n))
            if self.tracker is not None and b == 0:
                self._last = obs
        return torch.stack(rows)

    def compress(self, module, hidden_states, keys, values, attentions, kwargs):
        if not self.policy.evicts:  # the full cache: kvpress's ratio-0 path, nothing scored
            return keys, values
        if self.tracker is None:
            return super().compress(module, hidden_states, keys, values, attentions, kwargs)
        if keys.shape[0] != 1:
            raise ValueError("decode-time tracking runs one sequence at a time (batch 1)")
        t = keys.shape[2]
        scores = self.score(module, hidden_states, keys, values, attentions, kwargs)
        # ScorerPress.compress keeps scores.topk(n) in topk order; the same call names them.
        kept = scores.topk(compute_n_kept(t, self.compression_ratio), dim=-1).indices[0]
        keys, values = super().compress(module, hidden_states, keys, values, attentions, kwargs)
        # Decoding goes on from position order, as heurist's cache does: a policy may score by
        # cache slot (random draws per slot), and attention sums then run in the same order.
        order = kept.argsort(-1)
        kept = kept.gather(-1, order)
        gi = order[None, ..., None].expand_as(keys)
        stats = self.policy.prefill_stats(self._last)
        self.tracker[module.layer_idx] = {
            "positions": kept, "next": t,
            "stats": {k: v.gather(-1, kept.expand(*v.shape[:-2], *kept.shape)).clone()
                      for k, v in stats.items()}}
        return keys.gather(2, gi), values.gather(2, gi)


def policy_press(name: str, budget: float, **kwargs) -> PolicyPress:
    """The registry's policy ``name`` (its keyword hyperparameters in ``kwargs``) as a press
    keeping ``budget`` of the context (the full cache gets ratio 0, whatever ``budget``)."""
    policy = make_policy(name, **kwargs)
    if not 0.0 < budget <= 1.0:
        raise ValueError(f"budget must be a fraction in (0, 1], got {budget}")
    return PolicyPress(compression_ratio=(1.0 - budget) if policy.evicts else 0.0, policy=policy)


def kvpress_pipeline(model, tokenizer):
    """kvpress's ``kv-press-text-generation`` pipeline over an already loaded model (offline)."""
    import kvpress  # noqa: F401  (registers the pipeline task)
    from transformers import pipeline

    return pipeline("kv-press-text-generation", model=model, tokenizer=tokenizer,
                    device=model.device)


def _compressed_cache(model, press, context: torch.Tensor) -> DynamicCache:
    """Prefill ``context [T]`` under ``with press(model):``, exactly as kvpress's pipeline does
    (the base model, no LM head) -> the cache kvpress compressed."""
    cache = DynamicCache(config=model.config)
    with press(model):
        model.model(input_ids=context[None], past_key_values=cache)
    return cache


@torch.inference_mode()
def kvpress_greedy(model, press, context: torch.Tensor, first: torch.Tensor, n: int) -> torch.Tensor:
    """``[n]`` greedy tokens after ``first [1]`` on a cache kvpress compressed from ``context [T]``;
    the loop of kvpress's ``generate_answer`` (real positions ``T, T+1, ...``) without its EOS stop."""
    t = context.numel()
    cache = _compressed_cache(model, press, context)
    tok, out = first, []
    for i in range(n):
        logits = model(tok[None], past_key_values=cache, position_ids=torch.tensor([[t + i]])).logits
        tok = logits[0, -1].argmax().reshape(1)
        out.append(tok)
    return torch.cat(out)


@torch.inference_mode()
def kvpress_fidelity(model, ids: torch.Tensor, ref: Reference, press, *, greedy: bool = True) -> dict:
    """KL, perplexity and greedy agreement of ``press`` against ``ref`` (the full-cache
    :func:`~heurist.policies.kv.fidelity.reference_run` of the same ``ids [N]``), measured
    THROUGH kvpress: its hook compresses the prefill, then the continuation is teacher-forced at
    real positions (heurist's protocol, :func:`~heurist.policies.kv.fidelity.run_policy`)."""
    t, c = ref.context_len, ref.inputs.numel()
    context = torch.as_tensor(ids).reshape(-1)[:t]
    cache = _compressed_cache(model, press, context)
    kept = cache.get_seq_length()
    logits = model(ref.inputs[None], past_key_values=cache,
                   position_ids=torch.arange(t, t + c)[None]).logits[0]
    agree = float("nan")
    if greedy and ref.greedy.numel():
        agree = agreement(ref.greedy, kvpress_greedy(model, press, context, ref.first,
                                                     ref.greedy.numel()))
    return {"kl": kl_divergence(ref.logits, logits), "ppl": perplexity(logits, ref.targets),
            "agreement": agree, "n_kept": kept}


@dataclass
class PolicyDecodingPress(DecodingPress):
    """kvpress ``DecodingPress`` running a heurist policy's DECODE form: after every decoded token
    the policy observes the new query's attention (kvpress's hook hands it over), and every
    ``compression_interval`` tokens the cache is cut back to ``target_size`` entries per head by
    the policy's ``decode_scores`` -- heurist's ``--mode decode`` when the interval is 1.

    The policy's running statistics start from the prefill, so ``base_press`` must also compress
    the prefill: use :func:`decode_press`, which pairs them in kvpress's ``PrefillDecodingPress``.
    kvpress stores kept entries in ``topk`` order; in tracking mode the prefill press puts them
    back in position order (heurist's cache order) and the press tracks each entry's real position.
    The tracker is NOT cleared by kvpress's ``reset`` (its pipeline resets between the prefill and
    the decoding phase); every prefill overwrites it.
    """

    hidden_states_buffer_size: int = 0

    def __post_init__(self):
        if not isinstance(self.base_press, PolicyPress):
            raise ValueError(  # noqa: TRY004  (constructors raise ValueError: the CLI maps it)
                "PolicyDecodingPress needs a PolicyPress as base_press")
        super().__post_init__()
        if self.base_press.tracker is None:
            self.base_press.tracker = {}

    def forward_hook(self, module, input, kwargs, output):
        hidden_states = kwargs["hidden_states"]
        q_len = hidden_states.shape[1]
        if is_prefilling(kwargs["cache_position"], q_len):
            return output
        layer = module.layer_idx
        track = self.base_press.tracker.get(layer)
        if track is None:
            raise ValueError("no prefill record: compress the prefill with the same PolicyPress "
                             "(see decode_press)")
        if output[1] is None:
            raise ValueError("the decode press needs attention weights (eager attention)")
        policy = self.base_press.policy
        cache_layer = kwargs["past_key_values"].layers[layer]
        keys = cache_layer.keys[0]
        new = torch.arange(track["next"], track["next"] + q_len)
        pos = torch.cat([track["positions"], new.expand(keys.shape[0], -1)], dim=1)
        stats = {k: torch.cat([v, v.new_zeros(*v.shape[:-1], q_len)], dim=-1)
                 for k, v in track["stats"].items()}
        self.layer_step_counts[layer] += 1
        for i in range(q_len):  # one query at a time, as heurist's decode mode sees them
            step = DecodeStep(attn=output[1][0, :, i, :], keys=keys, positions=pos, layer=layer,
                              step=track.setdefault("step", 0), capacity=self.target_size,
                              values=cache_layer.values[0])
            policy.observe(stats, step)
            track["step"] += 1
        n_evict = keys.shape[1] - self.target_size
        if n_evict > 0 and self.layer_step_counts[layer] >= self.compression_interval:
            keep = complement(victims(policy.decode_scores(stats, step), n_evict), keys.shape[1])
            gi = keep[None, ..., None].expand(1, -1, -1, keys.shape[-1])
            cache_layer.keys = cache_layer.keys.gather(2, gi)
            cache_layer.values = cache_layer.values.gather(2, gi)
            pos = pos.gather(1, keep)
            stats = {k: v.gather(-1, keep.expand(*v.shape[:-2], *keep.shape))
                     for k, v in stats.items()}
            self.layer_step_counts[layer] = 0
        track.update(positions=pos, stats=stats, next=track["next"] + q_len)
        return output


def decode_press(name: str, budget: float, context_len: int, *, compression_interval: int = 1,
                 **kwargs) -> PrefillDecodingPress:
    """kvpress ``PrefillDecodingPress`` running the registry's policy ``name`` in both phases: the
    prefill of ``context_len`` tokens keeps ``n_kept(context_len, budget)`` entries per head, and
    decoding holds the cache at that size (heurist's ``--mode decode`` for interval 1)."""
    prefill = policy_press(name, budget, **kwargs)
    if not prefill.policy.evicts:
        raise ValueError(f"policy {name!r} never evicts; it has no decode-time press")
    decoding = PolicyDecodingPress(base_press=prefill, compression_interval=compression_interval,
                                   target_size=compute_n_kept(context_len, 1.0 - budget))
    return PrefillDecodingPress(prefilling_press=prefill, decoding_press=decoding)

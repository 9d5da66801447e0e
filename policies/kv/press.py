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
from kvpress import ScorerPress
from kvpress.utils import compute_n_kept
from transformers import DynamicCache

from heurist.policies.kv.base import KVPolicy
from heurist.policies.kv.fidelity import Reference
from heurist.policies.kv.metrics import agreement, kl_divergence, perplexity
from heurist.policies.kv.observation import LayerObservation
from heurist.policies.kv.registry import make_policy

__all__ = ["KVPRESS_VERSION", "PolicyPress", "kvpress_fidelity", "kvpress_greedy", "kvpress_pipeline",
           "policy_press"]

#: The kvpress version the adapter and its parity tests were written against.
KVPRESS_VERSION = "0.5.5"


@dataclass
class PolicyPress(ScorerPress):
    """kvpress ``ScorerPress`` scoring with a heurist ``policy``.

    compression_ratio: fraction of the context REMOVED (kvpress's convention; ``1 - budget``).
    """

    policy: KVPolicy | None = field(default=None)

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
            obs = LayerObservation(attn=attn, keys=keys[b], layer=module.layer_idx)
            rows.append(self.policy.prefill_scores(obs, n))
        return torch.stack(rows)

    def compress(self, module, hidden_states, keys, values, attentions, kwargs):
        if not self.policy.evicts:  # the full cache: kvpress's ratio-0 path, nothing scored
            return keys, values
        return super().compress(module, hidden_states, keys, values, attentions, kwargs)


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

"""Parity with kvpress: run a kvpress press on the real model and capture, per layer and KV head,
the context entries it KEPT; compare with the set our policy keeps on the same input.

The capture wraps the press's own ``compress`` (kvpress's forward hook calls it once per layer at
prefill) and recovers the kept indices by matching the returned keys against the input keys, so it
records what kvpress actually did (its scoring, ``topk`` and gather), not a re-derivation.
"""
from __future__ import annotations

import torch
from transformers import DynamicCache

from heurist.policies.kv.base import KVPolicy
from heurist.policies.kv.observation import LayerObservation
from heurist.policies.kv.registry import PARITY_POLICIES, make_policy

__all__ = [
    "PARITY_POLICIES",
    "heurist_kept",
    "kvpress_kept",
    "make_press",
    "parity",
    "prefill_observations",
    "same_sets",
]

def make_press(name: str, budget: float, **kwargs):
    """The kvpress press matching our policy ``name``, keeping ``budget`` of the context."""
    import kvpress

    if name not in PARITY_POLICIES:
        raise ValueError(f"no kvpress counterpart for {name!r}; known: {', '.join(PARITY_POLICIES)}")
    return getattr(kvpress, PARITY_POLICIES[name])(compression_ratio=1.0 - budget, **kwargs)


def _match(before: torch.Tensor, after: torch.Tensor) -> torch.Tensor:
    """``before [Hkv, T, D]``, ``after [Hkv, n, D]`` -> ``[Hkv, n]`` index of each kept key."""
    eq = (after[:, :, None, :] == before[:, None, :, :]).all(-1)  # [Hkv, n, T]
    if not bool((eq.sum(-1) == 1).all()):
        raise ValueError("kvpress returned keys that do not match exactly one input key")
    return eq.float().argmax(-1)


@torch.inference_mode()
def kvpress_kept(model, press, ids: torch.Tensor) -> list[torch.Tensor]:
    """Per layer ``[Hkv, n]`` sorted indices that ``press`` keeps when prefilling ``ids [T]``."""
    captured: dict[int, torch.Tensor] = {}
    original = press.compress

    def compress(module, hidden_states, keys, values, attentions, kwargs):
        k2, v2 = original(module, hidden_states, keys, values, attentions, kwargs)
        captured[module.layer_idx] = _match(keys[0], k2[0]).sort(-1).values
        return k2, v2

    press.compress = compress  # instance attribute: kvpress's hook calls self.compress
    try:
        with press(model):
            model.model(input_ids=ids[None], past_key_values=DynamicCache(config=model.config))
    finally:
        del press.compress
    return [captured[i] for i in range(len(captured))]


@torch.inference_mode()
def prefill_observations(model, ids: torch.Tensor) -> list[LayerObservation]:
    """Per layer, what a policy observes after prefilling ``ids [T]`` (eager attention, keys)."""
    cache = DynamicCache(config=model.config)
    out = model(ids[None], past_key_values=cache, output_attentions=True, use_cache=True,
                logits_to_keep=1)
    return [LayerObservation(attn=a[0], keys=lay.keys[0], layer=i, values=lay.values[0])
            for i, (a, lay) in enumerate(zip(out.attentions, cache.layers))]


def heurist_kept(observations: list[LayerObservation], policy: KVPolicy,
                 n: int) -> list[torch.Tensor]:
    """Per layer ``[Hkv, n]`` sorted indices our ``policy`` keeps from the prefill observations."""
    return [policy.select(obs, n) for obs in observations]


def same_sets(theirs: list[torch.Tensor], ours: list[torch.Tensor]) -> float:
    """Fraction of (layer, KV head) whose sorted kept indices are identical."""
    same = [torch.equal(a[h], b[h]) for a, b in zip(theirs, ours) for h in range(a.shape[0])]
    return sum(same) / len(same)


def parity(model, ids: torch.Tensor, name: str, budget: float, *, parity_mode: str = "kvpress",
           seed: int = 0, observations: list[LayerObservation] | None = None,
           theirs: list[torch.Tensor] | None = None, **press_kwargs) -> float:
    """Fraction of (layer, KV head) kept sets identical between kvpress and our ``name``
    (``observations``/``theirs``: reuse one prefill of ``ids`` / one kvpress capture)."""
    from kvpress.utils import compute_n_kept

    if theirs is None:
        pk = dict(press_kwargs)
        if name == "random":
            pk["seed"] = seed
        theirs = kvpress_kept(model, make_press(name, budget, **pk), ids)
    n = compute_n_kept(ids.numel(), 1.0 - budget)
    ours_kwargs = dict(press_kwargs, parity=parity_mode)
    if name == "random":
        ours_kwargs["seed"] = seed
    if observations is None:
        observations = prefill_observations(model, ids)
    ours = heurist_kept(observations, make_policy(name, **ours_kwargs), n)
    return same_sets(theirs, ours)

"""KV-cache eviction baselines, the cache that applies them in real SmolLM2 generation, fidelity
metrics against the full cache, parity with kvpress, and any policy as a kvpress press.

One policy is one unit (:class:`KVPolicy`): it scores entries per (layer, KV head); choosing
(:mod:`~heurist.policies.kv.select`) and evicting (:class:`PolicyCache`) are separate.

Names load lazily (PEP 562): importing this package, or its torch-free ``registry``, imports
neither torch nor transformers, so the CLI checks its flags before paying for them.
"""
from __future__ import annotations

import importlib

#: public name -> the submodule that defines it.
_HOME = {
    "KVPolicy": "base",
    "PolicyCache": "cache",
    "aggregate_seeds": "evaluate", "evaluate_text": "evaluate",
    "FidelityResult": "fidelity", "Reference": "fidelity",
    "prefill_recall": "fidelity", "reference_run": "fidelity", "run_policy": "fidelity",
    "FullCache": "full", "H2O": "h2o", "KeyNorm": "knorm",
    "agreement": "metrics", "kl_divergence": "metrics", "perplexity": "metrics",
    "DecodeStep": "observation", "LayerObservation": "observation", "group_mean": "observation",
    "ObservedAttention": "observed", "FutureOracle": "oracle", "RandomPolicy": "random_policy",
    "EVICTION_MODES": "registry", "PARITY_MODES": "registry", "PARITY_POLICIES": "registry",
    "POLICY_NAMES": "registry", "make_policy": "registry",
    "parse_budgets": "registry", "parse_policies": "registry", "policy_class": "registry",
    "Scissorhands": "scissorhands",
    "PolicyPress": "press", "kvpress_fidelity": "press", "policy_press": "press",
    "complement": "select", "keep_top": "select", "n_kept": "select", "victims": "select",
    "SnapKV": "snapkv", "StreamingLLM": "streaming", "TOVA": "tova",
}

__all__ = [
    "EVICTION_MODES",
    "H2O",
    "PARITY_MODES",
    "PARITY_POLICIES",
    "POLICY_NAMES",
    "TOVA",
    "DecodeStep",
    "FidelityResult",
    "FullCache",
    "FutureOracle",
    "KVPolicy",
    "KeyNorm",
    "LayerObservation",
    "ObservedAttention",
    "PolicyCache",
    "PolicyPress",
    "RandomPolicy",
    "Reference",
    "Scissorhands",
    "SnapKV",
    "StreamingLLM",
    "aggregate_seeds",
    "agreement",
    "complement",
    "evaluate_text",
    "group_mean",
    "keep_top",
    "kl_divergence",
    "kvpress_fidelity",
    "make_policy",
    "n_kept",
    "parse_budgets",
    "parse_policies",
    "perplexity",
    "policy_class",
    "policy_press",
    "prefill_recall",
    "reference_run",
    "run_policy",
    "victims",
]


def __getattr__(name: str):
    if name not in _HOME:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{_HOME[name]}"), name)
    globals()[name] = value  # later lookups skip this hook
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_HOME))

"""Policies by name (the names the CLI and the benchmark use), and the list syntax of their flags.

Importable without torch: the table names each class by module, imported on first use, so the CLI
can validate ``--policy`` and ``--budget`` before it loads anything heavy.
"""
from __future__ import annotations

import importlib
import math

__all__ = ["EVICTION_MODES", "PARITY_MODES", "PARITY_POLICIES", "POLICY_NAMES", "make_policy",
           "parse_budgets", "parse_policies", "policy_class"]

#: When a policy evicts: once after the prefill (kvpress), or also after every decoded token.
EVICTION_MODES = ("prefill", "decode")
#: Whose definitions a policy scores with where ours and kvpress's differ.
PARITY_MODES = ("heurist", "kvpress")

#: name -> "module:Class" under ``heurist.policies.kv``.
_CLASSES = {
    "full": "full:FullCache",
    "random": "random_policy:RandomPolicy",
    "streaming": "streaming:StreamingLLM",
    "h2o": "h2o:H2O",
    "tova": "tova:TOVA",
    "scissorhands": "scissorhands:Scissorhands",
    "snapkv": "snapkv:SnapKV",
    "knorm": "knorm:KeyNorm",
    "observed": "observed:ObservedAttention",
    "oracle": "oracle:FutureOracle",
    "learned": "learned:LearnedScorer",  # the trained scorer shipped in policies/artifacts/kv_scorer
}
POLICY_NAMES = tuple(_CLASSES)

#: our policy name -> kvpress press class name (H2O's kvpress counterpart is ObservedAttention).
PARITY_POLICIES = {"streaming": "StreamingLLMPress", "snapkv": "SnapKVPress", "tova": "TOVAPress",
                   "knorm": "KnormPress", "observed": "ObservedAttentionPress",
                   "h2o": "ObservedAttentionPress", "random": "RandomPress"}


def policy_class(name: str):
    """The :class:`~heurist.policies.kv.base.KVPolicy` subclass registered as ``name``."""
    if name not in _CLASSES:
        raise ValueError(f"unknown KV policy {name!r}; known: {', '.join(POLICY_NAMES)}")
    module, cls = _CLASSES[name].split(":")
    return getattr(importlib.import_module(f"heurist.policies.kv.{module}"), cls)


def make_policy(name: str, **kwargs):
    """A policy by name; ``kwargs`` are its keyword-only hyperparameters (``seed`` for random)."""
    cls = policy_class(name)
    if name != "random":
        kwargs.pop("seed", None)
    return cls(**kwargs)


def parse_policies(spec: str, *, known=POLICY_NAMES, flag: str = "--policy",
                   what: str = "KV policy") -> list[str]:
    """``"full,h2o"`` -> ``["full", "h2o"]``, every name checked against ``known`` (``what`` names
    them in the error)."""
    names = [s.strip() for s in spec.split(",") if s.strip()]
    if not names:
        raise ValueError(f"{flag} names no policy: {spec!r}")
    for n in names:
        if n not in known:
            raise ValueError(f"{flag}: {n!r} is not a {what}; known: {', '.join(known)}")
    return names


def parse_budgets(spec: str, *, flag: str = "--budget") -> list[float]:
    """``"0.25,0.5"`` -> ``[0.25, 0.5]``; each a fraction in (0, 1]."""
    try:
        budgets = [float(s) for s in spec.split(",") if s.strip()]
    except ValueError:
        raise ValueError(f"{flag} takes fractions like 0.25,0.5, got {spec!r}") from None
    if not budgets or any(not (math.isfinite(b) and 0.0 < b <= 1.0) for b in budgets):
        raise ValueError(f"{flag}: each budget must be a fraction in (0, 1], got {spec!r}")
    return budgets

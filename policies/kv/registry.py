"""Policies by name (the names the CLI and the benchmark use)."""
from __future__ import annotations

from heurist.policies.kv.base import KVPolicy
from heurist.policies.kv.full import FullCache
from heurist.policies.kv.h2o import H2O
from heurist.policies.kv.knorm import KeyNorm
from heurist.policies.kv.observed import ObservedAttention
from heurist.policies.kv.oracle import FutureOracle
from heurist.policies.kv.random_policy import RandomPolicy
from heurist.policies.kv.scissorhands import Scissorhands
from heurist.policies.kv.snapkv import SnapKV
from heurist.policies.kv.streaming import StreamingLLM
from heurist.policies.kv.tova import TOVA

__all__ = ["POLICIES", "POLICY_NAMES", "make_policy", "parse_policies"]

POLICIES: dict[str, type[KVPolicy]] = {cls.name: cls for cls in (
    FullCache, RandomPolicy, StreamingLLM, H2O, TOVA, Scissorhands, SnapKV, KeyNorm,
    ObservedAttention, FutureOracle)}
POLICY_NAMES = tuple(POLICIES)


def make_policy(name: str, **kwargs) -> KVPolicy:
    """A policy by name; ``kwargs`` are its keyword-only hyperparameters (``seed`` for random)."""
    if name not in POLICIES:
        raise ValueError(f"unknown KV policy {name!r}; known: {', '.join(POLICY_NAMES)}")
    cls = POLICIES[name]
    if cls is not RandomPolicy:
        kwargs.pop("seed", None)
    return cls(**kwargs)


def parse_policies(spec: str) -> list[str]:
    """``"full,h2o"`` -> ``["full", "h2o"]``, every name checked."""
    names = [s.strip() for s in spec.split(",") if s.strip()]
    if not names:
        raise ValueError("no policy given")
    for n in names:
        if n not in POLICIES:
            raise ValueError(f"unknown KV policy {n!r}; known: {', '.join(POLICY_NAMES)}")
    return names

"""KV-cache eviction baselines, the cache that applies them in real SmolLM2 generation, fidelity
metrics against the full cache, and parity with kvpress.

One policy is one unit (:class:`KVPolicy`): it scores entries per (layer, KV head); choosing
(:mod:`~heurist.policies.kv.select`) and evicting (:class:`PolicyCache`) are separate.
"""

from heurist.policies.kv.base import PARITY_MODES, KVPolicy
from heurist.policies.kv.cache import PolicyCache
from heurist.policies.kv.evaluate import aggregate_seeds, evaluate_text, parse_budgets
from heurist.policies.kv.fidelity import (
    MODES,
    FidelityResult,
    Reference,
    prefill_recall,
    reference_run,
    run_policy,
)
from heurist.policies.kv.full import FullCache
from heurist.policies.kv.h2o import H2O
from heurist.policies.kv.knorm import KeyNorm
from heurist.policies.kv.metrics import agreement, kl_divergence, perplexity
from heurist.policies.kv.observation import DecodeStep, LayerObservation, group_mean
from heurist.policies.kv.observed import ObservedAttention
from heurist.policies.kv.oracle import FutureOracle
from heurist.policies.kv.random_policy import RandomPolicy
from heurist.policies.kv.registry import POLICIES, POLICY_NAMES, make_policy, parse_policies
from heurist.policies.kv.scissorhands import Scissorhands
from heurist.policies.kv.select import complement, keep_top, n_kept, victims
from heurist.policies.kv.snapkv import SnapKV
from heurist.policies.kv.streaming import StreamingLLM
from heurist.policies.kv.tova import TOVA

__all__ = [
    "H2O",
    "MODES",
    "PARITY_MODES",
    "POLICIES",
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
    "make_policy",
    "n_kept",
    "parse_budgets",
    "parse_policies",
    "perplexity",
    "prefill_recall",
    "reference_run",
    "run_policy",
    "victims",
]

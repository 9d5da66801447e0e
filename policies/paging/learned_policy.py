"""The learned eviction policy (slot attention, no predictions) as a :class:`PagingPolicy`, so
``simulate`` and ``heurist simulate --policy learned`` run it like any other policy.

The exported network acts in the paging env (:class:`~heurist.envs.paging.env.PagingEnv`): one
decision per miss with a full cache, the action a slot. The action log is replayed under the env's
two conventions (a compulsory miss fills the lowest free slot; an eviction empties the chosen
slot, which the missed page fills) to give the miss flags and victims, and the independent oracle
:func:`heurist.envs.paging.oracle.replay` checks the log and its miss count.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from heurist.policies.paging.base import PagingPolicy, register_policy

__all__ = ["ARTIFACT_NAME", "LearnedSlotPolicy", "gap_features_of", "input_predictor",
           "input_predictor_of", "shipped_policy_path", "slot_env"]

#: The folder of the shipped slot-attention policy under ``policies/artifacts``.
ARTIFACT_NAME = "paging_slot_attention"


def shipped_policy_path() -> Path:
    """The folder of the learned paging policy shipped inside the package."""
    return Path(__file__).resolve().parents[1] / "artifacts" / ARTIFACT_NAME


class _Memo:
    """A deterministic predictor with its outputs cached per (trace, cache size): training draws
    the same user traces again and again."""

    def __init__(self, predictor, *, conditional: bool = False, distance: bool = False) -> None:
        self.predictor = predictor
        self.conditional = conditional or distance
        self.distance = distance
        self.cache: dict = {}
        self.dist_cache: dict = {}  # gap distributions (slot_inputs.gap_distributions)

    def __call__(self, trace, *, cache_size: int, rng=None):
        trace = np.ascontiguousarray(trace, dtype=np.int64)
        key = (trace.tobytes(), int(cache_size))  # the bytes themselves: a hash could collide
        if key not in self.cache:
            self.cache[key] = self.predictor(trace, cache_size=int(cache_size), rng=rng)
        return self.cache[key]


def input_predictor(spec):
    """The predictions a slot policy reads: ``"none"``/``None`` (none: the policy sees recency,
    frequency and marks only); ``"learned"`` (the shipped learned predictor of
    :mod:`heurist.policies.paging.learned_predictor`, causal, no oracle: its point next arrivals
    and bits) or ``"conditional"`` (the same predictor, its gap distribution conditioned on the
    time elapsed at each decision: :mod:`heurist.policies.paging.slot_inputs`),
    ``"conditional_distance"`` (that, and its reuse-distance distribution conditioned on the
    current stack distance in the 1-bit channels); ``name:DIR`` for
    a predictor artifact folder. Returns ``(predictor or "none", weights sha256 or None)``."""
    if spec is None or str(spec) == "none":
        return "none", None
    name, _, folder = str(spec).partition(":")
    if name not in ("learned", "conditional", "conditional_distance"):
        raise ValueError(f"input predictor {spec!r}: expected none, learned, conditional, "
                         f"conditional_distance, or one of them :DIR")
    from heurist.policies.paging.learned_predictor import load_predictor

    pred = load_predictor(folder or None)
    return (_Memo(pred, conditional=name == "conditional", distance=name == "conditional_distance"),
            pred.manifest["weights"]["sha256"])


def slot_env(cache_size: int, inputs, *, gap_features: bool = False):
    """The env a slot policy plays in: :class:`PagingEnv`, or for ``conditional`` inputs the
    env with the conditional prediction channels; ``gap_features``: the env's opt-in
    inter-arrival channels (``PagingEnv(gap_features=True)``)."""
    if getattr(inputs, "conditional", False):
        from heurist.policies.paging.slot_inputs import LearnedInputsPagingEnv

        return LearnedInputsPagingEnv(cache_size=cache_size, predictor=inputs,
                                      gap_features=gap_features,
                                      distance=getattr(inputs, "distance", False))
    from heurist.envs.paging.env import PagingEnv

    return PagingEnv(cache_size=cache_size, gap_features=gap_features)


def gap_features_of(manifest: dict, folder="") -> bool:
    """Whether a slot-policy artifact was trained with the env's gap features
    (``training.env.gap_features``; absent: off); its network's ``slot_dim`` must be that
    env's channel count, else ``ValueError``."""
    from heurist.envs.paging.env import slot_feature_names

    gap = bool(((manifest.get("training") or {}).get("env") or {}).get("gap_features", False))
    want = len(slot_feature_names(gap))
    got = (manifest.get("network") or {}).get("config", {}).get("slot_dim")
    if got is not None and int(got) != want:
        raise ValueError(f"{folder}: training.env.gap_features={gap} gives {want} slot "
                         f"features, but the network reads {got}; the artifact is inconsistent")
    return gap


def input_predictor_of(manifest: dict, folder=""):
    """The input predictor a slot-policy artifact was trained with (``training.env
    .input_predictor``; absent: none); its weights must be the ones recorded at training time
    (``provenance.input_predictor.sha256``), else ``ValueError``."""
    spec = ((manifest.get("training") or {}).get("env") or {}).get("input_predictor", "none")
    pred, sha = input_predictor(spec)
    want = ((manifest.get("provenance") or {}).get("input_predictor") or {}).get("sha256")
    if sha is not None and sha != want:
        raise ValueError(f"{folder}: trained on input predictor {spec} with weights {want}, but "
                         f"that predictor's weights are now {sha}; retrain or pass the artifact")
    return pred


def _replay_slots(trace: np.ndarray, actions: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """``(miss [T], victims [T])`` of dense ``trace`` under the env's slot conventions."""
    slots = np.full(k, -1, dtype=np.int64)
    where: dict[int, int] = {}
    miss = np.zeros(trace.size, dtype=np.bool_)
    victims = np.full(trace.size, -1, dtype=np.int64)
    used = filled = 0
    for t, page in enumerate(trace.tolist()):
        if page in where:
            continue
        miss[t] = True
        if filled < k:
            slot = filled
            filled += 1
        else:
            slot = int(actions[used])
            used += 1
            victims[t] = slots[slot]
            del where[int(slots[slot])]
        slots[slot] = page
        where[page] = slot
    return miss, victims


@register_policy
class LearnedSlotPolicy(PagingPolicy):
    """The exported slot-attention eviction policy (greedy); ``artifact``: its folder (default:
    the one shipped in the package). Reads no oracle information: no predictions, or those of
    the learned predictor it was trained with (``training.env.input_predictor``), computed from
    the trace causally."""

    name = "Learned"
    aliases = ("learned_slot", "slot_attention")

    def __init__(self, *, artifact=None) -> None:
        self.artifact = shipped_policy_path() if artifact is None else Path(artifact)
        self._policy: Any = None
        self._inputs: Any = "none"  # its input predictor, set on load
        self._gap = False  # its env's gap-feature option, set on load

    def _load(self):
        if self._policy is None:
            from heurist.policies.export.slot_policy import load_policy

            policy = load_policy(self.artifact)
            if policy.manifest["network"].get("class") != "SlotAttentionPolicy":
                raise ValueError(f"{self.artifact}: not a slot-attention paging policy")
            self._inputs = input_predictor_of(policy.manifest, self.artifact)
            self._gap = gap_features_of(policy.manifest, self.artifact)
            self._policy = policy
        return self._policy

    def _run(self, trace, n_ids, k, predictions, seed):
        import torch

        from heurist.envs.paging.generator import instance_from_traces
        from heurist.envs.paging.oracle import replay

        policy = self._load()
        if trace.size == 0:
            return np.zeros(0, dtype=np.bool_), np.zeros(0, dtype=np.int64)
        instance = instance_from_traces([trace], cache_size=k, predictor=self._inputs,
                                        rng=np.random.default_rng(seed))
        env = slot_env(k, self._inputs, gap_features=self._gap)
        actions = []
        with torch.no_grad():
            td = env.reset(instance=instance)
            while not bool(td["done"].all()):
                action = policy(td)
                actions.append(int(action[0]))
                td["action"] = action
                td = env.step(td)["next"]
        acts = np.asarray(actions, dtype=np.int64)
        miss, victims = _replay_slots(trace, acts, k)
        valid, cost, _ = replay(trace, acts, cache_size=k)
        if not valid or int(cost) != int(miss.sum()) or int(env.misses()[0]) != int(miss.sum()):
            raise RuntimeError(f"learned policy: env ({int(env.misses()[0])}), oracle ({cost}) "
                               f"and replay ({int(miss.sum())}) disagree")
        return miss, victims

    def __repr__(self) -> str:
        return f"LearnedSlotPolicy(artifact={str(self.artifact)!r})"

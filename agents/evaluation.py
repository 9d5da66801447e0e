"""Held-out evaluation: the learned policy in the env vs the classical policies in ``simulate``,
on the same traces with the same predictions."""
from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import torch
from tensordict import TensorDictBase

__all__ = [
    "DEFAULT_BASELINES",
    "baseline_misses",
    "compare",
    "eval_instance",
    "policy_misses",
    "predictions_of",
    "results_table",
]

#: Classical baselines of the table (``simulate`` names); predictive ones need next arrivals.
DEFAULT_BASELINES = ("LRU", "FIFO", "LFU", "Marker", "PredictiveMarker", "BlindOracle", "OPT")


def eval_instance(traces: Sequence[np.ndarray], *, cache_size: int, predictor,
                  seed: int) -> TensorDictBase:
    """Instance [n] of the traces, with predictions drawn from ``np.random.default_rng(seed)``."""
    from heurist.envs.paging.generator import instance_from_traces

    return instance_from_traces(traces, cache_size=cache_size, predictor=predictor,
                                rng=np.random.default_rng(seed))


def predictions_of(instance: TensorDictBase, i: int):
    """The :class:`Predictions` of row ``i`` (None when the instance carries none)."""
    from heurist.envs.paging.predictions import Predictions

    L = int(instance["length"][i])
    keys = [k for k in ("next_arrival", "discard", "phase") if k in instance]
    if not keys:
        return None
    get = (lambda k: instance[k][i, :L].numpy() if k in keys else None)
    return Predictions(next_arrival=get("next_arrival"), discard=get("discard"),
                       phase=get("phase"))


def policy_misses(policy: Callable, instance: TensorDictBase, *, cache_size: int) -> np.ndarray:
    """Misses [n] of a td-policy played in the paging env on every row of ``instance``."""
    from heurist.agents.rollout import collect
    from heurist.envs.paging.env import PagingEnv

    env = PagingEnv(cache_size=cache_size)
    with torch.no_grad():
        out = collect(env, instance.clone(), policy, record=False)
    return out.misses.numpy()


def baseline_misses(instance: TensorDictBase, *, cache_size: int,
                    policies: Sequence[str] = DEFAULT_BASELINES, seed: int = 0
                    ) -> dict[str, np.ndarray]:
    """Misses [n] of each ``simulate`` policy (any name or alias ``simulate`` accepts); a policy
    whose prediction fields (its ``needs``) the instance lacks is skipped."""
    from heurist.policies.paging import get_policy, simulate

    n = instance.batch_size[0]
    out = {}
    for name in policies:
        needs = get_policy(name).needs
        if not all(field in instance for field in needs):
            continue
        vals = []
        for i in range(n):
            L = int(instance["length"][i])
            trace = instance["trace"][i, :L].numpy()
            pred = predictions_of(instance, i) if needs else None
            vals.append(simulate(trace, cache_size, name, predictions=pred, seed=seed).misses)
        out[name] = np.asarray(vals, dtype=np.float64)
    return out


def compare(policies: dict[str, Callable], traces: Sequence[np.ndarray], *, cache_size: int,
            predictor, seed: int, baselines: Sequence[str] = DEFAULT_BASELINES
            ) -> dict[str, np.ndarray]:
    """Per-trace misses [n] of td-policies (played in the env) and of the ``simulate``
    baselines, all on one instance (same predictions)."""
    inst = eval_instance(traces, cache_size=cache_size, predictor=predictor, seed=seed)
    res = {name: policy_misses(p, inst, cache_size=cache_size) for name, p in policies.items()}
    res.update(baseline_misses(inst, cache_size=cache_size, policies=baselines, seed=seed))
    return res


def results_table(results: dict[str, np.ndarray], *, requests: int, title: str = ""):
    """A rich Table: total misses, miss ratio and misses / OPT per policy (best first)."""
    from rich.table import Table

    opt = float(results["OPT"].sum()) if "OPT" in results else None
    table = Table(title=title)
    for col in ("policy", "misses", "miss ratio", "/ OPT", "/ LRU"):
        table.add_column(col, justify="right" if col != "policy" else "left")
    lru = float(results["LRU"].sum()) if "LRU" in results else None
    for name, v in sorted(results.items(), key=lambda kv: float(kv[1].sum())):
        m = float(v.sum())
        table.add_row(name, f"{m:,.0f}", f"{m / requests:.4f}",
                      f"{m / opt:.3f}" if opt else "-", f"{m / lru:.3f}" if lru else "-")
    return table

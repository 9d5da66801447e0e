"""Evaluate several policies x budgets on one text (shared by ``heurist kv evaluate`` and the
benchmark). Random is run over each seed and reported as the mean, with the seeds' spread."""
from __future__ import annotations

import math
import statistics

import torch

from heurist.policies.kv.fidelity import reference_run, run_policy
from heurist.policies.kv.registry import EVICTION_MODES, make_policy

__all__ = ["aggregate_seeds", "evaluate_text"]


def aggregate_seeds(rows: list[dict]) -> dict:
    """Mean of several seeds' result dicts for one (policy, budget); ``*_sd`` the spread."""
    out = dict(rows[0])
    for key in ("recall", "kl", "ppl", "agreement"):
        vals = [r[key] for r in rows]
        if any(math.isnan(v) for v in vals):  # not measured (agreement without greedy steps)
            out[key] = out[f"{key}_sd"] = float("nan")
            continue
        out[key] = statistics.fmean(vals)
        out[f"{key}_sd"] = statistics.stdev(vals) if len(vals) > 1 else 0.0
    out["seed"] = None
    out["seeds"] = [r["seed"] for r in rows]
    return out


def evaluate_text(model, ids: torch.Tensor, *, policies: list[str], budgets: list[float],
                  context: int, continuation: int, seeds: list[int] = (0,),
                  mode: str = "prefill", greedy_steps: int = 16, progress=None,
                  reference=None, parity: str = "heurist",
                  policy_kwargs: dict[str, dict] | None = None,
                  allocation=None) -> list[dict]:
    """One dict per (policy, budget): keys policy, budget, recall, kl, ppl, agreement (+ extras).

    ``progress`` (optional) is called with a short label after each run finishes; ``reference``
    (optional) is a :func:`reference_run` of ``ids`` already made with the same sizes; ``parity``
    ``"kvpress"`` scores with kvpress's definitions where they differ from ours;
    ``policy_kwargs`` (optional) maps a policy name to extra keyword hyperparameters (e.g.
    ``{"learned": {"artifact": path}}``); ``allocation`` (optional, prefill mode) an
    :class:`~heurist.policies.kv.allocation.Allocation` splitting each budget unevenly (rows are
    then named ``policy+label``); without one, a policy's own ``default_allocation`` applies in
    prefill mode (the shipped learned scorer's validated curve), ``Allocation()`` forces equal.
    """
    if mode not in EVICTION_MODES:
        raise ValueError(f"mode must be one of {EVICTION_MODES}, got {mode!r}")
    ref = reference if reference is not None else reference_run(
        model, ids, context=context, continuation=continuation, greedy_steps=greedy_steps)
    rows = []
    for name in policies:
        for budget in budgets:
            per_seed = []
            for seed in (seeds if name == "random" else [None]):
                kw = {"parity": parity} if seed is None else {"parity": parity, "seed": seed}
                kw.update((policy_kwargs or {}).get(name, {}))
                policy = make_policy(name, **kw)
                alloc = allocation
                if alloc is None and mode == "prefill":
                    alloc = getattr(policy, "default_allocation", None)
                per_seed.append(run_policy(model, ref, policy, budget, mode=mode,
                                           greedy=greedy_steps > 0,
                                           allocation=alloc).to_dict())
                if progress is not None:
                    progress(f"{name}@{budget:g}")
            rows.append(aggregate_seeds(per_seed) if name == "random" else per_seed[0])
    return rows

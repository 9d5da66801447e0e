"""Which network artifact ``heurist plan --method search --policy SPEC`` plans with: a shipped
Malloc artifact's name (a folder of ``policies/artifacts`` whose manifest names the Malloc env)
or an artifact folder, and the artifact's *role* in the search, read from its manifest.

Two roles share the ``MuZeroNet`` network class: ``muzero_model`` (the default; a network from
``scripts/train_muzero.py --export``, whose learned dynamics the search plans over, MuZero mode)
and ``alphazero_prior`` (``training.role`` in the manifest; a prior distilled from search over the
true simulator by ``scripts/benchmark_muzero_distill.py --export``: only its policy head is used,
as the prior of AlphaZero mode over the env's true simulator with greedy-rollout leaf values).

JSON and paths only, no torch: the CLI resolves the name before importing the search.
"""
from __future__ import annotations

from pathlib import Path

from heurist.policies.shipped import ARTIFACTS, resolve_artifact, shipped_artifacts

__all__ = ["ARTIFACTS", "MODEL_ROLE", "PRIOR_ROLE", "ROLES", "resolve_search_policy",
           "search_policy_role", "shipped_search_policies"]

MODEL_ROLE = "muzero_model"
PRIOR_ROLE = "alphazero_prior"
ROLES = (MODEL_ROLE, PRIOR_ROLE)


def shipped_search_policies() -> dict[str, Path]:
    """Name -> folder of the shipped artifacts trained on the Malloc env."""
    return shipped_artifacts(("Malloc",))


def resolve_search_policy(spec: str) -> Path:
    """The artifact folder of ``spec``: a shipped name first, else an existing folder;
    ``FileNotFoundError`` (one line, naming the shipped ones) otherwise."""
    shipped = shipped_search_policies()
    path = resolve_artifact(spec, shipped)
    if path is None:
        names = ", ".join(shipped) or "none"
        raise FileNotFoundError(f"{spec}: no such artifact folder and no shipped Malloc policy of "
                                f"that name (shipped: {names})")
    return path


def search_policy_role(manifest: dict) -> str:
    """The artifact's role in the search (``training.role``, default ``muzero_model``);
    ``ValueError`` for an unknown one."""
    training = manifest.get("training")
    role = training.get("role", MODEL_ROLE) if isinstance(training, dict) else MODEL_ROLE
    if role not in ROLES:
        raise ValueError(f"training.role {role!r} is not one of {', '.join(ROLES)}")
    return str(role)

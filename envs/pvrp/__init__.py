"""The profiled vehicle routing problem (PVRP-P and PVRP-ZC, after CAMP): instances, generator,
files, oracles and the two envs.

Importing this package does not import torch: the envs (``PVRPEnv``, ``PVRPSequentialEnv``) load
on first access, so ``heurist route`` reads and rejects an instance file at once.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

from heurist.envs.pvrp.generator import PREFERENCES, VARIANTS, ZONES, PVRPGenerator, generate
from heurist.envs.pvrp.instance import KEYS, MAX_DEMAND, PVRPInstances, Weights, validate_arrays
from heurist.envs.pvrp.npz_io import load_npz, save_npz

if TYPE_CHECKING:  # for static tools; imported on first access at run time
    from heurist.envs.pvrp.env import PVRPEnv
    from heurist.envs.pvrp.env_sequential import PVRPSequentialEnv

__all__ = [
    "KEYS",
    "MAX_DEMAND",
    "PREFERENCES",
    "VARIANTS",
    "ZONES",
    "PVRPEnv",
    "PVRPGenerator",
    "PVRPInstances",
    "PVRPSequentialEnv",
    "Weights",
    "generate",
    "load_npz",
    "save_npz",
    "validate_arrays",
]

_LAZY = {"PVRPEnv": "heurist.envs.pvrp.env", "PVRPSequentialEnv": "heurist.envs.pvrp.env_sequential"}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

"""The env contract reused by every heurist env: base class, registry, Gym wrapper, conformance.

The registry and ``data_dir`` import at once; ``HeuristEnv``, ``as_tensordict``, ``GymEnv`` and
``spec_to_space`` need torch/torchrl and load on first access, so ``import heurist.envs`` stays cheap.
"""
from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from heurist.envs.common.data import data_dir
from heurist.envs.common.registry import declare, entry, make, register, registered

if TYPE_CHECKING:
    from heurist.envs.common.base import HeuristEnv, as_tensordict
    from heurist.envs.common.gym_wrapper import GymEnv, spec_to_space

__all__ = [
           "GymEnv",
           "HeuristEnv",
           "as_tensordict",
           "data_dir",
           "declare",
           "entry",
           "make",
           "register",
           "registered",
           "spec_to_space",
]

_LAZY = {"HeuristEnv": "base", "as_tensordict": "base", "GymEnv": "gym_wrapper",
         "spec_to_space": "gym_wrapper"}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(f"{__name__}.{_LAZY[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))

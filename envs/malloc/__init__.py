"""Memory mapping of ML programs (mallocGame / MiniMalloc): the instance model, the cost model,
MiniMalloc CSV I/O and synthetic instances. Importing it costs no torch: ``MallocEnv`` (the
TorchRL env, registered as ``"Malloc"`` in ``heurist.envs``) is imported on first access."""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

from heurist.envs.malloc.cost_model import (
    isolated_saving,
    op_times,
    plan_in_fast,
    program_time,
    speedup,
    time_all_fast,
    time_all_slow,
)
from heurist.envs.malloc.instance import SLOW, TPU_V4I_CMEM_BYTES, MallocInstance, MemoryConfig
from heurist.envs.malloc.minimalloc_csv import capacity_from_name, read_csv, write_csv
from heurist.envs.malloc.synthetic import random_instance, zero_slack_instance

__all__ = [
    "SLOW",
    "TPU_V4I_CMEM_BYTES",
    "MallocInstance",
    "MemoryConfig",
    "capacity_from_name",
    "isolated_saving",
    "op_times",
    "plan_in_fast",
    "program_time",
    "random_instance",
    "read_csv",
    "speedup",
    "time_all_fast",
    "time_all_slow",
    "write_csv",
    "zero_slack_instance",
]

if TYPE_CHECKING:
    from heurist.envs.malloc.env import MallocEnv

__all__ += ["MallocEnv"]


def __getattr__(name: str) -> Any:
    if name == "MallocEnv":
        from heurist.envs.malloc.env import MallocEnv

        return MallocEnv
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

"""Decision problems of ML systems, each a batched TorchRL env with a Gymnasium view.

``make(name, **kwargs)`` builds any registered env; ``registered()`` lists them. Importing this
package imports neither torch nor any env: ``ENVS`` below is the static table of the built-in envs
(name -> ``"module:Class"`` and the small ``test_kwargs`` the conformance suite runs), and an env's
module is imported when it is first made. ``gymnasium.make("heurist/<Name>-v0")`` works right after
``import heurist.envs``: the Gym ids are registered here by entry-point string.

A new env adds one row here (see docs/ARCHITECTURE.md).
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

from heurist.envs.common.registry import declare, entry, make, register, registered

if TYPE_CHECKING:  # the classes, for static tools; imported on first access at run time
    from heurist.envs.common.base import HeuristEnv
    from heurist.envs.common.gym_wrapper import GymEnv

__all__ = ["ENVS", "GymEnv", "HeuristEnv", "entry", "make", "register", "registered"]

ENVS: dict[str, tuple[str, dict[str, Any]]] = {
    "KVCache": ("heurist.envs.kv.env:KVCacheEnv",
                {"max_len": 40, "budget": 8, "min_length": 24}),
    "Malloc": ("heurist.envs.malloc.env:MallocEnv",
               {"mode": "mapping", "n_buffers": 12, "k": 4, "lookahead": 2, "n_bins": 4,
                "undo": True, "max_undos": 3}),
    # capacity 10 against demands 1..9: a vehicle's load often equals a client's demand, so a mask
    # that turns ``demand <= load`` into ``<`` fails the legal-actions check (at 40 it never did)
    "PVRP": ("heurist.envs.pvrp.env:PVRPEnv", {"n_clients": 8, "n_vehicles": 3, "capacity": 10}),
    "PVRPSequential": ("heurist.envs.pvrp.env_sequential:PVRPSequentialEnv",
                       {"n_clients": 8, "n_vehicles": 3, "variant": "zc", "capacity": 10}),
    "Paging": ("heurist.envs.paging.env:PagingEnv",
               {"cache_size": 4, "trace_length": 48, "n_pages": 12}),
}

for _name, (_target, _kwargs) in ENVS.items():
    declare(_name, _target, test_kwargs=_kwargs)


def __getattr__(name: str) -> Any:
    if name in ("GymEnv", "HeuristEnv"):
        from heurist.envs import common

        return getattr(common, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))

"""The env registry: ``heurist.envs.make(name, **kwargs)``.

Every env package registers its env classes on import (``register``); ``_discover`` imports all
sub-packages of ``heurist.envs`` so the registry is complete without a hand-kept list. Each entry
also carries ``test_kwargs``: a small, fast configuration the shared conformance suite runs on.
"""
from __future__ import annotations

import importlib
import inspect
import pkgutil
from dataclasses import dataclass, field
from typing import Any

__all__ = ["EnvEntry", "entry", "make", "register", "registered"]


@dataclass(frozen=True)
class EnvEntry:
    name: str
    cls: type
    test_kwargs: dict[str, Any] = field(default_factory=dict)

    @property
    def gym_id(self) -> str:
        return f"heurist/{self.name}-v0"


_REGISTRY: dict[str, EnvEntry] = {}
_DISCOVERED = False


def register(name: str, *, test_kwargs: dict[str, Any] | None = None):
    """Class decorator: registers an env under ``name`` (and its Gym id ``heurist/<name>-v0``)."""

    def deco(cls):
        _REGISTRY[name] = EnvEntry(name, cls, dict(test_kwargs or {}))
        cls.name = name
        from heurist.envs.common.gym_wrapper import register_gym

        register_gym(_REGISTRY[name])
        return cls

    return deco


def _discover() -> None:
    global _DISCOVERED
    if _DISCOVERED:
        return
    import heurist.envs as pkg

    for info in pkgutil.iter_modules(pkg.__path__):
        if info.ispkg and info.name != "common":
            importlib.import_module(f"heurist.envs.{info.name}")
    _DISCOVERED = True


def registered() -> list[str]:
    """Names of all registered envs, sorted."""
    _discover()
    return sorted(_REGISTRY)


def entry(name: str) -> EnvEntry:
    _discover()
    if name not in _REGISTRY:
        raise KeyError(f"unknown env {name!r}; registered envs: {', '.join(sorted(_REGISTRY))}")
    return _REGISTRY[name]


def make(name: str, **kwargs):
    """Builds the env registered as ``name``. Unknown keyword arguments raise ``TypeError``."""
    cls = entry(name).cls
    params = inspect.signature(cls.__init__).parameters
    if not any(p.kind is p.VAR_KEYWORD for p in params.values()):
        allowed = {k for k in params if k != "self"}
        unknown = sorted(set(kwargs) - allowed)
        if unknown:
            raise TypeError(f"{name}: unknown argument(s) {unknown}; "
                            f"accepted: {sorted(allowed)}")
    return cls(**kwargs)

"""The env registry: ``heurist.envs.make(name, **kwargs)``.

Registration is lazy, so ``import heurist.envs`` costs no torch or torchrl import. ``declare(name,
"module:Class", test_kwargs=...)`` records where an env class lives; ``entry``/``make`` import that
module on first use. ``heurist.envs`` declares the built-in envs in one static table. The
``register`` class decorator stays for envs defined in code (a test's toy env, a user's own env)
and, on a declared name, checks that the class is the declared one.

Each entry carries ``test_kwargs``: a small, fast configuration the shared conformance suite runs
on. Declaring also registers the Gymnasium id ``heurist/<name>-v0`` with an entry-point string, so
``gymnasium.make`` imports the env only when called. Importing gymnasium itself costs about 55 ms,
a tenth of a CLI call's budget, and the CLI never uses it: when gymnasium is not imported yet, the
ids are registered right after its import instead (a one-shot import hook), so
``gymnasium.make("heurist/Paging-v0")`` works after ``import heurist.envs`` either way.
"""
from __future__ import annotations

import importlib
import importlib.abc
import importlib.util
import inspect
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

__all__ = ["EnvEntry", "declare", "entry", "make", "register", "registered"]

GYM_ENTRY_POINT = "heurist.envs.common.gym_wrapper:GymEnv"

C = TypeVar("C", bound=type)


@dataclass(frozen=True)
class EnvEntry:
    """One registered env: its name, its class target ``"module:Class"`` and ``test_kwargs``."""

    name: str
    target: str
    test_kwargs: dict[str, Any] = field(default_factory=dict)

    @property
    def gym_id(self) -> str:
        return f"heurist/{self.name}-v0"

    @property
    def cls(self) -> type:
        """The env class (imports its module on first use)."""
        module, _, attr = self.target.partition(":")
        cls = _CLASSES.get(self.target)
        if cls is None:
            cls = getattr(importlib.import_module(module), attr)
            _CLASSES[self.target] = cls
        return cls


_REGISTRY: dict[str, EnvEntry] = {}
_CLASSES: dict[str, type] = {}  # target -> class, filled on import or by ``register``


def _target(cls: type) -> str:
    return f"{cls.__module__}:{cls.__qualname__}"


def declare(name: str, target: str, *, test_kwargs: dict[str, Any] | None = None) -> EnvEntry:
    """Registers env ``name`` whose class is ``target`` (``"package.module:Class"``) without
    importing it, and its Gym id. Declaring the same name twice with another target raises."""
    if ":" not in target:
        raise ValueError(f"env {name!r}: target must be 'module:Class', got {target!r}")
    old = _REGISTRY.get(name)
    if old is not None and old.target != target:
        raise ValueError(f"env {name!r} is already declared as {old.target}, not {target}")
    _REGISTRY[name] = EnvEntry(name, target, dict(test_kwargs or {}))
    _register_gym(_REGISTRY[name])
    return _REGISTRY[name]


def register(name: str, *, test_kwargs: dict[str, Any] | None = None) -> Callable[[C], C]:
    """Class decorator: registers an env class under ``name`` (and its Gym id). For a name that
    is already declared, the class must be the declared one and ``test_kwargs``, when given, the
    declared ones: the static table stays the single source."""

    def deco(cls: C) -> C:
        target = _target(cls)
        old = _REGISTRY.get(name)
        if old is None:
            declare(name, target, test_kwargs=test_kwargs)
        elif old.target != target:
            raise ValueError(f"env {name!r} is declared as {old.target}, registered as {target}")
        elif test_kwargs is not None and dict(test_kwargs) != old.test_kwargs:
            raise ValueError(f"env {name!r}: test_kwargs {test_kwargs} differ from the declared "
                             f"{old.test_kwargs} (keep them in one place: heurist.envs)")
        _CLASSES[target] = cls
        cls.name = name  # type: ignore[attr-defined]
        return cls

    return deco


def _register_gym(e: EnvEntry) -> None:
    """Registers ``heurist/<name>-v0`` with Gymnasium by entry-point string (idempotent), now if
    gymnasium is imported, else as soon as it is."""
    if "gymnasium" not in sys.modules:
        _AfterGymnasiumImport.install()
        return
    import gymnasium as gym

    if e.gym_id not in gym.registry:
        gym.register(id=e.gym_id, entry_point=GYM_ENTRY_POINT, kwargs={"env_name": e.name})


class _AfterGymnasiumImport(importlib.abc.MetaPathFinder):
    """An import hook: finds ``gymnasium`` through the other finders and, once its package has
    run, registers every declared env's Gym id and removes itself. It stays until gymnasium is
    really imported: ``importlib.util.find_spec("gymnasium")`` (torchrl asks that) imports
    nothing and must not use it up."""

    @classmethod
    def install(cls) -> None:
        if not any(isinstance(f, cls) for f in sys.meta_path):
            sys.meta_path.insert(0, cls())

    def find_spec(self, name, path=None, target=None):
        if name != "gymnasium":
            return None
        for finder in sys.meta_path:
            if finder is self or not hasattr(finder, "find_spec"):
                continue
            spec = finder.find_spec(name, path, target)
            if spec is not None:
                break
        else:
            return None
        if spec.loader is None or not hasattr(spec.loader, "exec_module"):
            return spec
        run = spec.loader.exec_module

        def exec_module(module):
            run(module)
            if self in sys.meta_path:
                sys.meta_path.remove(self)
            for e in list(_REGISTRY.values()):
                _register_gym(e)

        spec.loader.exec_module = exec_module  # type: ignore[method-assign]
        return spec


def registered() -> list[str]:
    """Names of all registered envs, sorted."""
    return sorted(_REGISTRY)


def entry(name: str) -> EnvEntry:
    """The registry entry of env ``name``; ``KeyError`` lists the registered names."""
    if name not in _REGISTRY:
        raise KeyError(f"unknown env {name!r}; registered envs: {', '.join(sorted(_REGISTRY))}")
    return _REGISTRY[name]


def make(name: str, **kwargs: Any) -> Any:
    """Builds the env registered as ``name``. Unknown keyword arguments raise ``TypeError``."""
    cls = entry(name).cls
    init = cls.__init__  # type: ignore[misc]  # the class's own, not a metaclass __call__
    params = inspect.signature(init).parameters
    if not any(p.kind is p.VAR_KEYWORD for p in params.values()):
        allowed = {k for k in params if k != "self"}
        unknown = sorted(set(kwargs) - allowed)
        if unknown:
            raise TypeError(f"{name}: unknown argument(s) {unknown}; "
                            f"accepted: {sorted(allowed)}")
    return cls(**kwargs)

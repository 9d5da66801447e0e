"""The env contract shared by every heurist decision problem.

A heurist env is a batched TorchRL :class:`~torchrl.envs.EnvBase` (``batch_locked=False``).

* The env itself has ``batch_size=[]``; ``reset(batch_size=[B])`` or ``reset(instance=td)``
  (an instance TensorDict of batch ``[B]``) starts ``B`` independent episodes.
* The internal state lives in the env object (``self.state``); the TensorDict carries only what
  the agent observes (including ``action_mask``), plus ``reward``/``done``/``terminated``.
* Instances come from an injected ``generator`` (a callable ``(batch_size, rng) -> TensorDict``).
* Rows that finished stay absorbing: their mask allows only action 0, reward 0, done stays True.
* ``check_solution`` and ``evaluate`` recompute validity and the return from the instance and the
  action log alone, without the step code. The action log is ``[B, T, *action_shape]``: the actions
  of all steps of one rollout; steps after a row's episode ended are ignored.
* ``snapshot()`` copies the episodes' evolving state (a dict of arrays or tensors, each ``[B, ...]``,
  so rows can be taken and stored by indexing); ``restore(snap)`` puts it back and returns the
  observation TensorDict [B] of that point. The instance is not part of a snapshot: restore into
  the env that holds the same instances (the same reset). Search with the true simulator
  (AlphaZero mode) keeps one snapshot per tree node.
"""
from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any, ClassVar

import numpy as np
import torch
from tensordict import TensorDict, TensorDictBase
from torchrl.envs import EnvBase

__all__ = ["HeuristEnv", "as_tensordict"]


class HeuristEnv(EnvBase):
    """Base class of all heurist envs (see the module docstring for the contract).

    Subclasses set every spec in ``__init__`` and implement ``_reset_instance``, ``_step_batch`` and the
    two oracles. ``action_key``'s trailing shape is ``action_shape`` (``()`` for one pointer,
    ``(M,)`` for M parallel agents); the mask is ``action_mask`` of shape
    ``[*action_shape, n_actions]``.
    """

    name: ClassVar[str] = ""
    batch_locked = False
    #: the fields of ``self.state`` that steps change (the rest is fixed by the instance); what
    #: ``snapshot`` copies and ``restore`` puts back
    snapshot_fields: ClassVar[tuple[str, ...]] = ()

    def __init__(self, *, generator: Callable[..., TensorDictBase] | None = None,
                 seed: int = 0, device: str | torch.device = "cpu") -> None:
        super().__init__(device=device, batch_size=torch.Size([]))
        self.generator = generator
        self._seed = int(seed)
        self.rng = np.random.default_rng(self._seed)
        self.state: Any = None

    # ------------------------------------------------------------------ instances
    def generate(self, batch_size: int, *, seed: int | None = None) -> TensorDictBase:
        """Draws a batch of ``batch_size`` instances from the injected generator."""
        if self.generator is None:
            raise ValueError(f"{type(self).__name__} has no generator: pass reset(instance=...)")
        rng = self.rng if seed is None else np.random.default_rng(seed)
        return self.generator(int(batch_size), rng)

    def _set_seed(self, seed: int | None) -> None:
        self._seed = 0 if seed is None else int(seed)
        self.rng = np.random.default_rng(self._seed)

    # ------------------------------------------------------------------ TorchRL hooks
    def _reset(self, tensordict: TensorDictBase | None = None, *,
               instance: TensorDictBase | None = None, batch_size=None, **kwargs) -> TensorDictBase:
        if kwargs:
            raise TypeError(f"unexpected reset arguments: {sorted(kwargs)}")
        unbatched = False
        if instance is None:
            if batch_size is None:
                if tensordict is not None and len(tensordict.batch_size):
                    batch_size = tensordict.batch_size
                else:  # TorchRL's unbatched convention: one episode, no batch dim
                    batch_size, unbatched = torch.Size([1]), True
            if isinstance(batch_size, int):
                batch_size = torch.Size([batch_size])
            if len(batch_size) != 1:
                raise ValueError(f"heurist envs take a 1-D batch, got batch_size={tuple(batch_size)}")
            instance = self.generate(int(batch_size[0]))
        if instance.batch_dims != 1:
            raise ValueError(f"instance must have a 1-D batch, got {tuple(instance.batch_size)}")
        self.instance = instance
        self._unbatched = unbatched
        out = self._reset_instance(instance)
        return out.squeeze(0) if unbatched else out

    def _step(self, tensordict: TensorDictBase) -> TensorDictBase:
        if tensordict.batch_dims == 0:
            return self._step_batch(tensordict.unsqueeze(0)).squeeze(0)
        return self._step_batch(tensordict)

    def _step_batch(self, tensordict: TensorDictBase) -> TensorDictBase:
        """One decision for every row of ``tensordict`` [B]; returns the next TensorDict [B]
        with the observation keys, ``reward`` [B, 1], ``done`` and ``terminated`` [B, 1]."""
        raise NotImplementedError

    def _reset_instance(self, instance: TensorDictBase) -> TensorDictBase:
        """Starts one episode per instance row; returns the first observation TensorDict [B]."""
        raise NotImplementedError

    # ------------------------------------------------------------------ oracles
    def check_solution(self, instance: TensorDictBase, actions: torch.Tensor) -> torch.Tensor:
        """Validity of each row's action log, recomputed without the step code -> bool [B]."""
        raise NotImplementedError

    def evaluate(self, instance: TensorDictBase, actions: torch.Tensor) -> torch.Tensor:
        """The return (sum of rewards) of each row's action log, recomputed -> float [B]."""
        raise NotImplementedError

    def legal_actions(self, instance: TensorDictBase, actions: torch.Tensor) -> torch.Tensor:
        """Which actions are legal after the action log ``actions`` [B, t, *A] (``t`` may be 0),
        recomputed from the instance and the log alone, without the step code or its mask
        -> bool [B, *A, n]. Rows whose episode already ended may return anything: the conformance
        suite compares this with ``action_mask`` on live rows only, in both directions (a legal
        move the mask forbids is as wrong as an illegal one it allows)."""
        raise NotImplementedError

    # ------------------------------------------------------------------ snapshot / restore
    def snapshot(self) -> dict[str, Any]:
        """A copy of every row's evolving state: ``{field: array or tensor [B, ...]}`` for the
        fields in ``snapshot_fields``, independent of later steps (AlphaZero-mode search)."""
        if self.state is None:
            raise RuntimeError(f"{type(self).__name__}.snapshot before reset")
        if not self.snapshot_fields:
            raise NotImplementedError(f"{type(self).__name__} declares no snapshot_fields")
        return {f: _copy(getattr(self.state, f)) for f in self.snapshot_fields}

    def restore(self, snapshot: dict[str, Any]) -> TensorDictBase:
        """Puts the evolving state of ``snapshot`` (from ``snapshot()``, or rows of snapshots
        stacked back to the batch) into the env and returns the observation TensorDict [B] at
        that point, with ``done`` but no ``reward``. The env must hold the instances the snapshot
        was taken on; stepping after a restore replays exactly what followed the snapshot."""
        if self.state is None:
            raise RuntimeError(f"{type(self).__name__}.restore before reset")
        missing = set(self.snapshot_fields) - set(snapshot)
        if missing:
            raise ValueError(f"{type(self).__name__}.restore: snapshot lacks {sorted(missing)}")
        for f in self.snapshot_fields:
            old, new = getattr(self.state, f), snapshot[f]
            if getattr(old, "shape", None) != getattr(new, "shape", None):
                raise ValueError(f"{type(self).__name__}.restore: {f} has shape "
                                 f"{tuple(new.shape)}, the env holds {tuple(old.shape)}")
            # a fresh copy: a step after this restore must not write into the caller's snapshot
            setattr(self.state, f, _copy(new))
        out = self._restored_td()
        return out.squeeze(0) if getattr(self, "_unbatched", False) else out

    def _restored_td(self) -> TensorDictBase:
        """The observation TensorDict [B] (observation keys, ``done``, ``terminated``) of the
        current state, without stepping; called by ``restore``."""
        raise NotImplementedError

    # ------------------------------------------------------------------ helpers
    @property
    def action_shape(self) -> torch.Size:
        """Trailing shape of one action (``()`` for a single pointer)."""
        return self.full_action_spec[self.action_key].shape

    def observation(self, td: TensorDictBase) -> TensorDictBase:
        """The observation keys of ``td`` (what an agent may look at)."""
        return td.select(*self.observation_spec.keys(True, True))

    def _done_td(self, done: torch.Tensor) -> dict[str, torch.Tensor]:
        done = done.reshape(-1, 1).to(torch.bool)
        return {"done": done, "terminated": done.clone()}


def _copy(x: Any) -> Any:
    """An independent copy of a numpy array or torch tensor (``copy.deepcopy`` otherwise)."""
    if isinstance(x, np.ndarray):
        return x.copy()
    if isinstance(x, torch.Tensor):
        return x.clone()
    return copy.deepcopy(x)


def as_tensordict(data: dict[str, Any], batch: int) -> TensorDict:
    """Builds an instance TensorDict [batch] from numpy/torch arrays."""
    return TensorDict({k: torch.as_tensor(v) for k, v in data.items()}, batch_size=[batch])

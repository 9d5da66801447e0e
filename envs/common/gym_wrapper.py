"""Gymnasium view of a heurist env: a wrapper over the same batched core, batch 1."""
from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np
import torch
from gymnasium import spaces
from torchrl.data import Binary, Bounded, Categorical, Composite, OneHot

__all__ = ["GymEnv", "spec_to_space"]


def spec_to_space(spec) -> spaces.Space:
    """Translates a TorchRL spec (batch-free) into a Gymnasium space."""
    if isinstance(spec, Composite):
        return spaces.Dict({k: spec_to_space(v) for k, v in spec.items()})
    shape = tuple(spec.shape)
    dtype = torch.empty((), dtype=spec.dtype).numpy().dtype
    if isinstance(spec, Categorical):
        if shape == ():
            return spaces.Discrete(spec.n)
        return spaces.MultiDiscrete(np.full(shape, spec.n))
    if isinstance(spec, (Binary, OneHot)) or spec.dtype == torch.bool:
        return spaces.MultiBinary(shape if shape else 1)
    if isinstance(spec, Bounded):
        return spaces.Box(spec.space.low.numpy(), spec.space.high.numpy(), shape, dtype)
    return spaces.Box(-np.inf, np.inf, shape, dtype)


class GymEnv(gym.Env):
    """Runs the batched core with batch size 1. Not a second implementation: every step is the
    core's step."""

    metadata: dict[str, Any] = {"render_modes": []}  # noqa: RUF012  (gym.Env: not a ClassVar)

    def __init__(self, core=None, *, env_name: str | None = None, **kwargs: Any) -> None:
        if core is None:
            if env_name is None:
                raise ValueError("GymEnv needs a core env or the env_name of a registered env")
            from heurist.envs.common.registry import make

            core = make(env_name, **kwargs)
        self.core = core
        self.observation_space = spec_to_space(core.observation_spec)
        self.action_space = spec_to_space(core.full_action_spec[core.action_key])
        self._td = None

    def _obs(self, td) -> dict[str, np.ndarray]:
        return {k: td[k][0].numpy() for k in self.core.observation_spec}

    def reset(self, *, seed: int | None = None, options: dict | None = None):
        super().reset(seed=seed)
        if seed is not None:
            self.core.set_seed(seed)
        instance = (options or {}).get("instance")
        self._td = (self.core.reset(instance=instance) if instance is not None
                    else self.core.reset(batch_size=[1]))
        return self._obs(self._td), {}

    def step(self, action):
        if self._td is None:
            raise ValueError("GymEnv.step before reset(): call reset() first")
        td = self._td.clone(False)
        td[self.core.action_key] = torch.as_tensor(np.asarray(action)).reshape(
            1, *self.core.action_shape)
        out = self.core.step(td)["next"]
        self._td = out
        reward = float(out["reward"][0].sum())
        terminated = bool(out["terminated"][0].any())
        return self._obs(out), reward, terminated, False, {}


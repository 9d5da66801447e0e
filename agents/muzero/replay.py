"""MuZero's replay: whole self-play episodes in a ring of positions, prioritised sampling from a
``SumTree``, and K-step unrolls with n-step value targets.

A position keeps its observation, action, reward, the search's policy target and root value, and
the absolute index range of its episode. The value target of position t is
``z_t = sum_{i<n} gamma^i r_{t+i} + gamma^n v_{t+n}`` with v the search's root value (or, with
``bootstrap_fn``, the current network's value of that observation: the value part of
"reanalyse"), every term past the episode's end 0.
"""
from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch

from heurist.agents.muzero.model import UnrollBatch
from heurist.agents.muzero.sumtree import SumTree

__all__ = ["Replay"]

_FIELDS = ("obs", "act", "rew", "pi", "rootv", "start", "end", "abs_idx")


class Replay:
    """Up to ``capacity`` positions of observations ``[D]`` and policies over ``A`` actions.

    Args (keyword-only): capacity, obs_dim, n_actions; alpha (priority exponent), beta
    (importance-sampling exponent), discount, n_step.
    """

    def __init__(self, *, capacity: int, obs_dim: int, n_actions: int, alpha: float = 0.6,
                 beta: float = 0.4, discount: float = 1.0, n_step: int = 10) -> None:
        if capacity < 1 or n_step < 1:
            raise ValueError(f"Replay: capacity and n_step must be >= 1, got {capacity}, "
                             f"{n_step}")
        if alpha < 0 or not 0 <= beta <= 1:
            raise ValueError(f"Replay: alpha >= 0 and beta in [0, 1], got {alpha}, {beta}")
        self.capacity, self.n_actions = int(capacity), int(n_actions)
        self.alpha, self.beta, self.discount, self.n_step = alpha, beta, discount, int(n_step)
        self.obs = np.zeros((capacity, obs_dim), np.float32)
        self.act = np.zeros(capacity, np.int64)
        self.rew = np.zeros(capacity, np.float32)
        self.pi = np.zeros((capacity, n_actions), np.float32)
        self.rootv = np.zeros(capacity, np.float32)
        self.start = np.zeros(capacity, np.int64)   # absolute index of the episode's first step
        self.end = np.zeros(capacity, np.int64)     # ... and one past its last
        self.abs_idx = np.full(capacity, -1, np.int64)
        self.n_written = 0
        self.tree = SumTree(capacity)

    def __len__(self) -> int:
        return min(self.n_written, self.capacity)

    def add_episode(self, obs: np.ndarray, act: np.ndarray, rew: np.ndarray, pi: np.ndarray,
                    rootv: np.ndarray) -> None:
        """One episode of T steps: obs ``[T, D]``, act/rew/rootv ``[T]``, pi ``[T, A]``."""
        T = len(act)
        if not 1 <= T <= self.capacity:
            raise ValueError(f"Replay.add_episode: {T} steps for a capacity of {self.capacity}")
        a0 = self.n_written
        slots = np.arange(a0, a0 + T) % self.capacity
        # an older episode partly overwritten here can no longer be unrolled: drop it whole
        old = self.abs_idx[slots]
        hit = old >= 0
        if hit.any():
            lo, hi = int(self.start[slots][hit].min()), int(self.end[slots][hit].max())
            gone = np.arange(max(lo, a0 + T - self.capacity), min(hi, a0))
            self.tree.update(gone % self.capacity, np.zeros(len(gone)))
        self.obs[slots], self.act[slots], self.rew[slots] = obs, act, rew
        self.pi[slots], self.rootv[slots] = pi, rootv
        self.start[slots], self.end[slots], self.abs_idx[slots] = a0, a0 + T, np.arange(a0, a0 + T)
        self.n_written += T
        z = self._targets(np.arange(a0, a0 + T), 0, None)[:, 0]
        self.tree.update(slots, self.priority(np.abs(z - rootv)))

    def priority(self, err: np.ndarray) -> np.ndarray:
        """Priority of a value error: ``(|err| + 1e-3) ** alpha``."""
        return (np.abs(err) + 1e-3) ** self.alpha

    def _targets(self, t: np.ndarray, K: int, bootstrap_fn: Callable | None) -> np.ndarray:
        """n-step value targets ``[len(t), K+1]`` of positions t..t+K (absolute indices)."""
        n, g = self.n_step, self.discount
        end = self.end[t % self.capacity]
        P = t[:, None] + np.arange(K + n + 1)[None, :]
        inside = P < end[:, None]
        slot = P % self.capacity
        r = np.where(inside, self.rew[slot], 0.0)
        if bootstrap_fn is None:
            v = np.where(inside, self.rootv[slot], 0.0)
        else:  # reanalyse: the current network's value of the bootstrap observations
            v = np.zeros(P.shape)
            boot = inside[:, n:]
            if boot.any():
                v[:, n:][boot] = bootstrap_fn(self.obs[slot[:, n:][boot]])
        gi = g ** np.arange(n)
        z = np.stack([(r[:, k:k + n] * gi).sum(1) + g ** n * v[:, k + n] for k in range(K + 1)], 1)
        return z

    def sample(self, batch_size: int, K: int, rng: np.random.Generator,
               bootstrap_fn: Callable | None = None) -> tuple[UnrollBatch, np.ndarray]:
        """A prioritised batch unrolled ``K`` steps, and the sampled slots (for
        ``update_priorities``). Past an episode's end: random actions, value and reward 0, no
        policy target."""
        slots = self.tree.sample(batch_size, rng)
        prob = self.tree.get(slots) / self.tree.total
        w = (len(self) * prob) ** -self.beta
        w = w / w.max()
        t = self.abs_idx[slots]
        end = self.end[slots]
        P = t[:, None] + np.arange(K + 1)[None, :]
        inside = P < end[:, None]
        slot = P % self.capacity
        act = np.where(inside[:, :K], self.act[slot[:, :K]],
                       rng.integers(0, self.n_actions, (batch_size, K)))
        rew = np.where(inside[:, :K], self.rew[slot[:, :K]], 0.0)
        pi = np.where(inside[..., None], self.pi[slot], 0.0)
        z = self._targets(t, K, bootstrap_fn)
        f = torch.float32
        batch = UnrollBatch(obs=torch.from_numpy(self.obs[slots]),
                            actions=torch.from_numpy(act), values=torch.tensor(z, dtype=f),
                            rewards=torch.tensor(rew, dtype=f), policies=torch.tensor(pi, dtype=f),
                            policy_mask=torch.tensor(inside, dtype=f),
                            weights=torch.tensor(w, dtype=f))
        return batch, slots

    def update_priorities(self, slots: np.ndarray, err: np.ndarray) -> None:
        """New priorities from value errors ``[n]`` of sampled ``slots`` [n]."""
        self.tree.update(slots, self.priority(err))

    def state_dict(self) -> dict:
        """Plain tensors and ints (for ``save_tensors``)."""
        d: dict = {k: torch.from_numpy(getattr(self, k).copy()) for k in _FIELDS}
        d["tree"] = torch.from_numpy(self.tree.tree.copy())
        d["n_written"] = self.n_written
        return d

    def load_state_dict(self, d: dict) -> None:
        for k in _FIELDS:
            getattr(self, k)[...] = d[k].numpy()
        self.tree.tree[...] = d["tree"].numpy()
        self.n_written = int(d["n_written"])

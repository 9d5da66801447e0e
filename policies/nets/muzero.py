"""MuZero's three networks (representation, dynamics, prediction) and its categorical scalars.

Values and rewards are predicted as distributions over an integer support ``[-S, S]`` of the
*transformed* scalar ``h(scale * x)`` with ``h(x) = sign(x)(sqrt(|x| + 1) - 1) + eps x``
(Pohlen et al. 2018, as in MuZero); ``inverse_transform`` is its exact inverse. A scalar becomes
a two-hot vector on its two neighbouring support points (``scalar_to_support``); a distribution
becomes a scalar by its mean, then the inverse transform (``support_to_scalar``).

Inference only: the K-step unroll loss and training live in ``heurist.agents.muzero``.
"""
from __future__ import annotations

import torch
from torch import nn

__all__ = ["MuZeroNet", "flat_observation", "inverse_transform", "scalar_to_support",
           "support_to_scalar", "transform"]

#: the observation keys ``flat_observation`` concatenates, in order (Malloc's observation)
OBS_KEYS = ("buffers", "candidates", "occupancy", "skyline", "progress", "action_mask")


def transform(x: torch.Tensor, eps: float = 1e-3) -> torch.Tensor:
    """h(x) = sign(x) (sqrt(|x| + 1) - 1) + eps x, elementwise."""
    return torch.sign(x) * (torch.sqrt(x.abs() + 1) - 1) + eps * x


def inverse_transform(y: torch.Tensor, eps: float = 1e-3) -> torch.Tensor:
    """The exact inverse of ``transform``: solving |y| = (sqrt(|x|+1) - 1) + eps |x| for |x|
    (a quadratic in sqrt(|x|+1)) gives |x| = ((sqrt(1 + 4 eps (|y| + 1 + eps)) - 1) / (2 eps))^2
    - 1."""
    r = (torch.sqrt(1 + 4 * eps * (y.abs() + 1 + eps)) - 1) / (2 * eps)
    return torch.sign(y) * (r * r - 1)


def scalar_to_support(x: torch.Tensor, support_size: int, *, scale: float = 1.0,
                      eps: float = 1e-3) -> torch.Tensor:
    """Scalars ``x [...]`` -> two-hot probabilities ``[..., 2S+1]`` on the support ``-S..S`` of
    ``h(scale * x)`` (clipped to the support); the mean of the result is ``h(scale * x)``."""
    y = transform(x * scale, eps).clamp(-support_size, support_size)
    lo = y.floor()
    p_hi = y - lo
    idx = (lo + support_size).long()
    out = torch.zeros(*x.shape, 2 * support_size + 1, dtype=x.dtype, device=x.device)
    out.scatter_(-1, idx.unsqueeze(-1), (1 - p_hi).unsqueeze(-1))
    hi = (idx + 1).clamp(max=2 * support_size)  # y == S: p_hi is 0, the index only must exist
    out.scatter_add_(-1, hi.unsqueeze(-1), p_hi.unsqueeze(-1))
    return out


def support_to_scalar(logits: torch.Tensor, *, scale: float = 1.0,
                      eps: float = 1e-3) -> torch.Tensor:
    """Logits ``[..., 2S+1]`` -> scalars ``[...]``: h^-1(E[support]) / scale."""
    s = (logits.shape[-1] - 1) // 2
    support = torch.arange(-s, s + 1, dtype=logits.dtype, device=logits.device)
    y = (torch.softmax(logits, -1) * support).sum(-1)
    return inverse_transform(y, eps) / scale


def flat_observation(td) -> torch.Tensor:
    """A Malloc observation TensorDict [B] -> float32 ``[B, D]`` (``OBS_KEYS`` flattened)."""
    b = td.batch_size[0]
    return torch.cat([td[k].reshape(b, -1).float() for k in OBS_KEYS], -1)


def _mlp(n_in: int, hidden: int, n_out: int) -> nn.Sequential:
    return nn.Sequential(nn.Linear(n_in, hidden), nn.LayerNorm(hidden), nn.ReLU(),
                         nn.Linear(hidden, hidden), nn.LayerNorm(hidden), nn.ReLU(),
                         nn.Linear(hidden, n_out))


def _scale_state(s: torch.Tensor) -> torch.Tensor:
    """Min-max scales each latent state to [0, 1] (MuZero's hidden-state normalisation)."""
    lo = s.min(-1, keepdim=True).values
    hi = s.max(-1, keepdim=True).values
    return (s - lo) / (hi - lo).clamp(min=1e-5)


class MuZeroNet(nn.Module):
    """Representation ``h(o)``, dynamics ``g(s, a) -> (s', r)`` and prediction ``f(s) -> (p, v)``.

    Args (keyword-only):
        obs_dim: D of the flat observation. n_actions: A.
        latent: size of the latent state. hidden: width of the MLPs.
        support_size: S of the value and reward supports ``[-S, S]``.
        value_scale: scalars are transformed as ``h(value_scale * x)`` (Malloc's returns are
            fractions of time saved, in [0, 1]: a scale of 100 spreads them over the support).
    """

    def __init__(self, *, obs_dim: int, n_actions: int, latent: int = 64, hidden: int = 128,
                 support_size: int = 10, value_scale: float = 100.0) -> None:
        super().__init__()
        for name, v in (("obs_dim", obs_dim), ("n_actions", n_actions), ("latent", latent),
                        ("hidden", hidden), ("support_size", support_size)):
            if int(v) != v or v < 1:
                raise ValueError(f"MuZeroNet: {name} must be an integer >= 1, got {v!r}")
        if value_scale <= 0:
            raise ValueError(f"MuZeroNet: value_scale must be > 0, got {value_scale}")
        self.obs_dim, self.n_actions, self.latent = int(obs_dim), int(n_actions), int(latent)
        self.support_size, self.value_scale = int(support_size), float(value_scale)
        # what an exported artifact's manifest records to rebuild the network
        self.config = {"obs_dim": self.obs_dim, "n_actions": self.n_actions,
                       "latent": self.latent, "hidden": int(hidden),
                       "support_size": self.support_size, "value_scale": self.value_scale}
        n_sup = 2 * self.support_size + 1
        self.represent_net = _mlp(self.obs_dim, hidden, self.latent)
        self.dynamics_net = _mlp(self.latent + self.n_actions, hidden, self.latent)
        self.reward_net = _mlp(self.latent + self.n_actions, hidden, n_sup)
        self.policy_net = _mlp(self.latent, hidden, self.n_actions)
        self.value_net = _mlp(self.latent, hidden, n_sup)

    def represent(self, obs: torch.Tensor) -> torch.Tensor:
        """``[B, D]`` -> latent ``[B, latent]``."""
        return _scale_state(self.represent_net(obs))

    def dynamics(self, s: torch.Tensor, action: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """latent ``[B, latent]``, action ``[B]`` int -> (next latent, reward logits
        ``[B, 2S+1]``)."""
        x = torch.cat([s, nn.functional.one_hot(action.long(), self.n_actions).to(s.dtype)], -1)
        return _scale_state(self.dynamics_net(x)), self.reward_net(x)

    def predict(self, s: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """latent -> (policy logits ``[B, A]``, value logits ``[B, 2S+1]``)."""
        return self.policy_net(s), self.value_net(s)

    def to_scalar(self, logits: torch.Tensor) -> torch.Tensor:
        """Value or reward logits ``[..., 2S+1]`` -> scalars ``[...]`` in env units."""
        return support_to_scalar(logits, scale=self.value_scale)

    def forward(self, obs: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The prior of AlphaZero mode: obs ``[B, D]`` -> (policy logits ``[B, A]``, value
        ``[B]``)."""
        logits, v = self.predict(self.represent(obs))
        return logits, self.to_scalar(v)

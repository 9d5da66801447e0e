"""REINFORCE baselines for the routing agents: shared (POMO), greedy rollout (AM) and critic.

Each baseline turns the returns ``[B, K]`` of K rollouts per instance (K = 1 unless several starts
or samples share an instance) into advantages ``[B, K]``; the policy loss is then
``-mean(advantage * logp)``. What a baseline keeps between iterations (the frozen greedy policy,
the critic and its optimizer) is in its ``state_dict``, so a resumed run continues bit for bit.
"""
from __future__ import annotations

import copy

import torch
from tensordict import TensorDictBase
from torch import nn

from heurist.policies.nets.routing.encoder import MHAEncoder
from heurist.policies.nets.routing.features import PROFILE_DIM, profile_features

__all__ = ["BASELINES", "CriticBaseline", "RolloutBaseline", "RoutingCritic", "SharedBaseline",
           "make_baseline", "policy_loss"]

BASELINES = ("shared", "rollout", "critic")


def policy_loss(advantage: torch.Tensor, logp: torch.Tensor) -> torch.Tensor:
    """``-mean(advantage * logp)``: ``advantage`` (no gradient) and ``logp`` ``[B, K]``."""
    return -(advantage.detach() * logp).mean()


class SharedBaseline:
    """POMO's shared baseline: each rollout's return minus the mean of its instance's K rollouts
    (needs K >= 2: starts, samples or symmetric copies)."""

    name = "shared"

    def advantage(self, returns: torch.Tensor, td0: TensorDictBase, instance, env) -> torch.Tensor:
        if returns.shape[1] < 2:
            raise ValueError("the shared baseline needs K >= 2 rollouts per instance "
                             "(trainer.n_samples >= 2 or multistart)")
        return returns - returns.mean(1, keepdim=True)

    def after_step(self, **_) -> dict:
        return {}

    def state_dict(self) -> dict:
        return {}

    def load_state_dict(self, state: dict) -> None:
        pass


class RolloutBaseline:
    """Kool et al.'s greedy rollout baseline: the return of the frozen best policy decoded
    greedily on the same instance. Every ``every`` iterations the current policy replaces it if
    it is better on the fixed check set by a one-sided paired t-test at ``alpha``.

    ``warmup`` W > 0: the first W iterations use the exponential baseline instead (an
    exponential moving average of the batch's mean return, ``beta`` 0.8, starting at the first
    batch's mean), with no greedy rollout and no check; the first check comes at the end of
    iteration W. This is Kool et al.'s and rl4co's schedule (their warm-up is one epoch: 1,280,000
    instances in the paper, 100,000 in rl4co); W = 0 (the default) is the rollout baseline
    throughout."""

    name = "rollout"

    def __init__(self, net: nn.Module, *, check_set: TensorDictBase, every: int,
                 alpha: float = 0.05, warmup: int = 0, beta: float = 0.8) -> None:
        if warmup < 0 or not 0 <= beta < 1:
            raise ValueError(f"RolloutBaseline: warmup must be >= 0 and beta in [0, 1), got "
                             f"{warmup} and {beta}")
        self.net = copy.deepcopy(net).eval()
        for p in self.net.parameters():
            p.requires_grad_(False)
        self.check_set, self.every, self.alpha = check_set, int(every), float(alpha)
        self.values: torch.Tensor | None = None  # the frozen policy's check-set returns
        self.warmup, self.beta = int(warmup), float(beta)
        self.seen = 0  # advantage calls (iterations) so far: the warm-up's clock
        self.ema: torch.Tensor | None = None  # the exponential baseline during the warm-up

    @torch.no_grad()
    def _greedy(self, net, instance, env) -> torch.Tensor:
        from heurist.policies.decoding import run_episode

        return run_episode(env, net, instance).reward.float()

    def advantage(self, returns: torch.Tensor, td0: TensorDictBase, instance, env) -> torch.Tensor:
        self.seen += 1
        if self.seen <= self.warmup:  # rl4co's ExponentialBaseline.eval, batch mean included
            mean = returns.detach().mean()
            self.ema = mean if self.ema is None else self.beta * self.ema + (1 - self.beta) * mean
            return returns - self.ema
        base = self._greedy(self.net, instance, env).to(returns.device)  # [B]
        return returns - base.unsqueeze(1)

    def after_step(self, *, net: nn.Module, it: int, env, **_) -> dict:
        if self.seen < self.warmup:  # still warming up: the frozen policy is not used yet
            return {}
        if (it + 1) % self.every and self.seen != self.warmup:
            return {}
        from scipy.stats import ttest_rel

        if self.values is None:
            self.values = self._greedy(self.net, self.check_set, env).cpu()
        was = net.training
        cand = self._greedy(net.eval(), self.check_set, env).cpu()
        net.train(was)
        better = float(cand.mean()) > float(self.values.mean())
        if better:
            p = float(ttest_rel(cand.double().numpy(), self.values.double().numpy(),
                                alternative="greater").pvalue)
            better = p < self.alpha
        if better:
            self.net.load_state_dict(net.state_dict())
            self.values = cand
        return {"baseline/check_return": float(self.values.mean()),
                "baseline/updated": float(better)}

    def state_dict(self) -> dict:
        state = {"net": self.net.state_dict(),
                 "values": torch.empty(0) if self.values is None else self.values}
        if self.warmup:  # only with a warm-up: older checkpoints have neither key
            state["seen"] = torch.tensor(self.seen)
            state["ema"] = torch.empty(0) if self.ema is None else self.ema
        return state

    def load_state_dict(self, state: dict) -> None:
        self.net.load_state_dict(state["net"])
        self.values = state["values"] if state["values"].numel() else None
        if "seen" in state:
            self.seen = int(state["seen"])
            self.ema = state["ema"] if state["ema"].numel() else None


class RoutingCritic(nn.Module):
    """The value of an instance ``[B]`` from its first observation: the encoded nodes' mean and
    the mean of every vehicle's profile of the nodes, then an MLP (Bello et al.'s critic with the
    AM encoder)."""

    def __init__(self, *, dim: int = 64, n_heads: int = 4, n_layers: int = 2) -> None:
        super().__init__()
        from heurist.policies.nets.routing.embeddings import InitEmbedding

        self.embed = InitEmbedding(dim=dim)
        self.encoder = MHAEncoder(dim=dim, n_heads=n_heads, n_layers=n_layers, ff_dim=2 * dim,
                                  norm="layer")
        self.profile = nn.Linear(PROFILE_DIM, dim)
        self.head = nn.Sequential(nn.Linear(2 * dim, dim), nn.ReLU(), nn.Linear(dim, 1))

    def forward(self, td: TensorDictBase) -> torch.Tensor:
        nodes = self.encoder(self.embed(td)).mean(1)  # [B, H]
        prof = self.profile(profile_features(td)).mean((1, 2))  # [B, H]
        return self.head(torch.cat([nodes, prof], -1)).squeeze(-1)


class CriticBaseline:
    """A learned critic ``V(instance)`` fitted to the returns by MSE with its own Adam."""

    name = "critic"

    def __init__(self, *, dim: int, lr: float, device, max_grad_norm: float = 1.0) -> None:
        self.critic = RoutingCritic(dim=dim).to(device)
        self.opt = torch.optim.Adam(self.critic.parameters(), lr=lr)
        self.max_grad_norm = float(max_grad_norm)
        self._pending: tuple[torch.Tensor, torch.Tensor] | None = None

    def advantage(self, returns: torch.Tensor, td0: TensorDictBase, instance, env) -> torch.Tensor:
        value = self.critic(td0)  # [B]
        self._pending = (value, returns.mean(1).detach())
        return returns - value.detach().unsqueeze(1)

    def after_step(self, **_) -> dict:
        if self._pending is None:
            return {}
        value, target = self._pending
        self._pending = None
        loss = nn.functional.mse_loss(value, target)
        self.opt.zero_grad()
        loss.backward()
        nn.utils.clip_grad_norm_(self.critic.parameters(), self.max_grad_norm)
        self.opt.step()
        return {"loss/critic": float(loss.detach())}

    def state_dict(self) -> dict:
        return {"critic": self.critic.state_dict(), "optimizer": self.opt.state_dict()}

    def load_state_dict(self, state: dict) -> None:
        self.critic.load_state_dict(state["critic"])
        self.opt.load_state_dict(state["optimizer"])


def make_baseline(name: str, net: nn.Module, *, check_set: TensorDictBase, every: int,
                  critic_dim: int, critic_lr: float, device, max_grad_norm: float = 1.0,
                  warmup: int = 0):
    """The baseline called ``name`` (one of :data:`BASELINES`); ``warmup``: the rollout
    baseline's exponential warm-up iterations (:class:`RolloutBaseline`)."""
    if name == "shared":
        return SharedBaseline()
    if name == "rollout":
        return RolloutBaseline(net, check_set=check_set, every=every, warmup=warmup)
    if name == "critic":
        return CriticBaseline(dim=critic_dim, lr=critic_lr, device=device,
                              max_grad_norm=max_grad_norm)
    raise ValueError(f"agent.baseline must be one of {', '.join(BASELINES)}, got {name!r}")

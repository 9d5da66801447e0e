"""MuZero mode trained on an expert's targets instead of its own self-play.

Self-play over a learned model did not learn within minutes (``docs/benchmarks/muzero.md``): its
targets come from searching an untrained model. Here the *true* simulator writes every target,
and the learned model (``MuZeroNet``: representation, dynamics, prediction) is fitted to them;
planning then searches the learned model only (``LearnedModel``), never the env.

The expert is the one-step lookahead over the greedy rollout (AlphaZero mode's leaf value,
``mapping_rollout``): at each position ``s`` every legal action ``a`` is stepped once by the true
simulator (reward ``r(s, a)``, and the greedy rollout's return ``V(s')`` from the child, 0 after
the end), and the expert plays ``argmax_a r(s, a) + V(s')`` (ties: the lowest index). In the env's
``size`` decision order it is well above MSA on synthetic instances (32 held-out: 1.2819 vs MSA
1.2650; in the ``msa`` order only 1.2690), so the experiment uses that order.
What each position keeps (``lookahead_targets``):

- ``value``: ``V(s)``, the greedy rollout's return from ``s`` (a fixed function of the state,
  so the value head and the children's values estimate the same thing);
- ``pi``: the policy target ``softmax(sigma * q_hat)`` over the legal actions, ``q_hat`` the
  lookahead's ``r + V`` min-max scaled over the legal actions and ``sigma = 5.1`` (Gumbel
  MuZero's ``(c_visit + max N) c_scale`` at one visit per action);
- ``child_r``, ``child_v``: ``r(s, a)`` and ``V(s')`` for every action (``legal`` marks the
  meaningful ones): the reward and value targets of the dynamics for *every* action, not only the
  one played, which is what search over the model compares at its root.

``model_loss`` is ``unroll_loss``'s K-step unroll along the expert's trajectory (value, reward,
policy cross-entropies on the categorical supports; 1/K on the recurrent steps; the latent's
gradient halved per step; past the end: random actions, reward and value 0, no policy) plus the
all-actions term: one dynamics step from the root latent for each legal action, reward and child
value cross-entropies averaged over the legal actions.

``ExpertModelTrainer`` (``MuZeroConfig.targets = "expert"``) has ``MuZeroTrainer``'s interface:
iteration ``i`` plays ``rows`` fresh synthetic instances (seeds drawn from ``(seed, i)`` in
``[0, 10**9)``, so they never meet the held-out seeds ``10**9 + j`` of the benchmarks) with the
expert, appends them to an ``ExpertReplay`` ring, and takes ``train_steps`` AdamW steps on
uniform K-step batches drawn from the same ``(seed, i)`` stream. A checkpoint holds the network,
optimiser, replay and iteration, so a resumed run gives bit-identical weights.
"""
from __future__ import annotations

import time
from dataclasses import asdict

import numpy as np
import torch

from heurist.agents.muzero.model import UnrollBatch, _scale_grad
from heurist.agents.muzero.rollout import mapping_rollout
from heurist.agents.muzero.train import MuZeroConfig, MuZeroTrainer, check_same_config
from heurist.policies.export.atomic import load_tensors
from heurist.policies.nets.muzero import MuZeroNet, flat_observation, scalar_to_support

__all__ = ["EXPERT_SIGMA", "ExpertModelTrainer", "ExpertReplay", "expert_instances",
           "lookahead_episodes", "lookahead_targets", "model_loss"]

#: the policy target's ``softmax(EXPERT_SIGMA * q_hat)``: Gumbel's (50 + 1) * 0.1
EXPERT_SIGMA = 5.1
#: per-position fields of an expert episode, in ``lookahead_episodes``' tuple order
FIELDS = ("obs", "act", "rew", "pi", "value", "legal", "child_r", "child_v")


def lookahead_targets(env, td) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """At the env's state ``td`` [B] (a Malloc mapping env): (child rewards ``[B, A]``, child
    rollout values ``[B, A]``, the state's own rollout value ``[B]``), each legal action stepped
    once by the true simulator (``snapshot``/``restore``/``step``), the values by the greedy
    rollout ``mapping_rollout`` (0 at the end); an illegal action's entries are 0. The env
    is left at ``td``'s state."""
    mask = td["action_mask"].cpu().numpy()
    B, A = mask.shape
    snap = env.snapshot()
    root_v = np.where(td["done"].reshape(B).numpy(), 0.0, mapping_rollout(env))
    first = mask.argmax(-1)
    child_r, child_v = np.zeros((B, A)), np.zeros((B, A))
    for a in range(A):
        if not mask[:, a].any():
            continue
        t = env.restore(snap)
        t["action"] = torch.from_numpy(np.where(mask[:, a], a, first).astype(np.int64))
        out = env.step(t)["next"]
        r = out["reward"].reshape(B).numpy().astype(np.float64)
        v = np.where(out["done"].reshape(B).numpy(), 0.0,
                     mapping_rollout(env))
        child_r[:, a] = np.where(mask[:, a], r, 0.0)
        child_v[:, a] = np.where(mask[:, a], v, 0.0)
    env.restore(snap)
    return child_r, child_v, root_v


def policy_target(q: np.ndarray, legal: np.ndarray, sigma: float = EXPERT_SIGMA) -> np.ndarray:
    """``softmax(sigma * q_hat)`` over the legal actions of ``q [B, A]`` (``q_hat``: min-max
    scaled over the legal actions; all equal -> uniform); 0 on illegal actions. float32."""
    big = np.where(legal, q, np.inf).min(-1, keepdims=True)
    top = np.where(legal, q, -np.inf).max(-1, keepdims=True)
    span = np.where(top > big, top - big, 1.0)
    z = np.where(legal, sigma * (q - big) / span, -np.inf)
    z = z - z.max(-1, keepdims=True)
    e = np.where(legal, np.exp(z), 0.0)
    return (e / e.sum(-1, keepdims=True)).astype(np.float32)


def lookahead_episodes(instances: list, *, k: int = 8, order: str = "size") -> tuple[list[tuple[np.ndarray, ...]], np.ndarray]:
    """Plays one episode per instance (one batch) with the one-step lookahead expert. Returns per
    row the tuple of ``FIELDS`` (obs ``[T, D]``, act ``[T]``, rew ``[T]``, pi ``[T, A]``, value
    ``[T]``, legal ``[T, A]``, child_r ``[T, A]``, child_v ``[T, A]``) and the returns ``[B]``.
    Deterministic: no random draw."""
    from heurist.envs.malloc.env import MallocEnv
    from heurist.envs.malloc.generator import pad_instances

    env = MallocEnv(mode="mapping", k=k, order=order)
    td = env.reset(instance=pad_instances(list(instances)))
    B = td.batch_size[0]
    rec: list[list] = [[] for _ in range(B)]
    returns = np.zeros(B)
    while not td["done"].all():
        live = ~td["done"].reshape(B).numpy()
        legal = td["action_mask"].numpy().copy()
        obs = flat_observation(td).numpy()
        child_r, child_v, value = lookahead_targets(env, td)
        q = np.where(legal, child_r + child_v, -np.inf)
        a = np.where(live, q.argmax(-1), 0)
        pi = policy_target(child_r + child_v, legal)
        td["action"] = torch.from_numpy(np.ascontiguousarray(a, np.int64))
        td = env.step(td)["next"]
        r = td["reward"].reshape(B).numpy().astype(np.float64)
        returns += np.where(live, r, 0.0)
        for b in np.flatnonzero(live):
            rec[b].append((obs[b], a[b], r[b], pi[b], value[b], legal[b], child_r[b],
                           child_v[b]))
    episodes = [tuple(np.array(x) for x in zip(*steps)) for steps in rec]
    return episodes, returns


def expert_instances(cfg: MuZeroConfig, rng: np.random.Generator, rows: int) -> list:
    """``rows`` synthetic instances of ``cfg``'s distribution (as self-play's), their seeds drawn
    in ``[0, 10**9)``: disjoint from the held-out seeds ``10**9 + j``."""
    from heurist.envs.malloc.synthetic import random_instance

    ns = rng.integers(cfg.n_min, cfg.n_max + 1, rows)
    seeds = rng.integers(0, 10**9, rows)
    return [random_instance(int(n), seed=int(s), max_lifetime=16, size_range=(1024, 2**20),
                            capacity_fraction=cfg.capacity_fraction) for n, s in zip(ns, seeds)]


class ExpertReplay:
    """A ring of up to ``capacity`` expert positions (``FIELDS``), each with its episode's
    absolute index range; uniform K-step batches."""

    def __init__(self, *, capacity: int, obs_dim: int, n_actions: int) -> None:
        if capacity < 1:
            raise ValueError(f"ExpertReplay: capacity must be >= 1, got {capacity}")
        self.capacity, self.n_actions = int(capacity), int(n_actions)
        A = n_actions
        self.obs = np.zeros((capacity, obs_dim), np.float32)
        self.act = np.zeros(capacity, np.int64)
        self.rew = np.zeros(capacity, np.float32)
        self.pi = np.zeros((capacity, A), np.float32)
        self.value = np.zeros(capacity, np.float32)
        self.legal = np.zeros((capacity, A), bool)
        self.child_r = np.zeros((capacity, A), np.float32)
        self.child_v = np.zeros((capacity, A), np.float32)
        self.end = np.zeros(capacity, np.int64)      # one past the episode's last absolute index
        self.abs_idx = np.full(capacity, -1, np.int64)
        self.n_written = 0

    def __len__(self) -> int:
        return min(self.n_written, self.capacity)

    def add_episode(self, *fields: np.ndarray) -> None:
        """One episode: the ``FIELDS`` arrays, T steps each."""
        T = len(fields[1])
        if not 1 <= T <= self.capacity:
            raise ValueError(f"ExpertReplay.add_episode: {T} steps for {self.capacity}")
        a0 = self.n_written
        slots = np.arange(a0, a0 + T) % self.capacity
        for name, x in zip(FIELDS, fields):
            getattr(self, name)[slots] = x
        self.end[slots], self.abs_idx[slots] = a0 + T, np.arange(a0, a0 + T)
        self.n_written += T

    def sample(self, batch_size: int, K: int, rng: np.random.Generator
               ) -> tuple[UnrollBatch, torch.Tensor, torch.Tensor, torch.Tensor]:
        """A uniform batch unrolled ``K`` steps along the expert's actions (an unroll stops at
        the episode's end, or where the ring overwrote the rest of it) and the root's all-action
        targets: (batch, legal ``[Bs, A]``, child_r ``[Bs, A]``, child_v ``[Bs, A]``)."""
        n = len(self)
        slots = rng.integers(0, n, batch_size)
        t = self.abs_idx[slots]
        P = t[:, None] + np.arange(K + 1)[None, :]
        slot = P % self.capacity
        inside = (P < self.end[slots][:, None]) & (self.abs_idx[slot] == P)
        acts = np.where(inside[:, :K], self.act[slot[:, :K]],
                        rng.integers(0, self.n_actions, (batch_size, K)))
        f = torch.float32
        batch = UnrollBatch(
            obs=torch.from_numpy(self.obs[slots]), actions=torch.from_numpy(acts),
            values=torch.tensor(np.where(inside, self.value[slot], 0.0), dtype=f),
            rewards=torch.tensor(np.where(inside[:, :K], self.rew[slot[:, :K]], 0.0), dtype=f),
            policies=torch.tensor(np.where(inside[..., None], self.pi[slot], 0.0), dtype=f),
            policy_mask=torch.tensor(inside, dtype=f), weights=torch.ones(batch_size))
        return (batch, torch.from_numpy(self.legal[slots]),
                torch.from_numpy(self.child_r[slots]), torch.from_numpy(self.child_v[slots]))

    def state_dict(self) -> dict:
        d: dict = {k: torch.from_numpy(getattr(self, k).copy())
                   for k in (*FIELDS, "end", "abs_idx")}
        d["n_written"] = self.n_written
        return d

    def load_state_dict(self, d: dict) -> None:
        for k in (*FIELDS, "end", "abs_idx"):
            getattr(self, k)[...] = d[k].numpy()
        self.n_written = int(d["n_written"])


def _ce(target: torch.Tensor, logits: torch.Tensor) -> torch.Tensor:
    return -(target * torch.log_softmax(logits, -1)).sum(-1)


def model_loss(net: MuZeroNet, batch: UnrollBatch, legal: torch.Tensor, child_r: torch.Tensor,
               child_v: torch.Tensor, *, value_coef: float = 0.25, rank_coef: float = 1.0,
               min_span: float = 1e-3) -> tuple[torch.Tensor, dict[str, float]]:
    """The K-step unroll along the expert's actions plus the all-actions term at the root (see
    the module docstring) plus ``rank_coef`` x the siblings' ranking term: the cross-entropy
    between ``softmax(sigma (q - min q) / span)`` of the true one-step ``q = r + V`` and the same
    of the model's ``r_hat + v_hat`` over the legal actions (``span``: the true q's range, at
    least ``min_span``), whose optimum is the model's q equal to the true one up to a constant:
    search compares siblings, so their order matters more than each value's absolute error.
    Returns (the scalar loss, its parts)."""
    K = batch.actions.shape[1]
    S, scale = net.support_size, net.value_scale
    Bs, A = legal.shape
    s0 = net.represent(batch.obs)
    v_t = scalar_to_support(batch.values, S, scale=scale)
    r_t = scalar_to_support(batch.rewards, S, scale=scale)
    parts = {"value": 0.0, "reward": 0.0, "policy": 0.0, "all_reward": 0.0, "all_value": 0.0}
    total = torch.zeros(Bs)
    s = s0
    for k in range(K + 1):
        if k > 0:
            s, r_logits = net.dynamics(s, batch.actions[:, k - 1])
            s = _scale_grad(s, 0.5)
            lr = _ce(r_t[:, k - 1], r_logits)
        else:
            lr = torch.zeros(())
        p_logits, v_logits = net.predict(s)
        lv = _ce(v_t[:, k], v_logits)
        lp = _ce(batch.policies[:, k], p_logits) * batch.policy_mask[:, k]
        w = 1.0 if k == 0 else 1.0 / K
        total = total + w * (value_coef * lv + lr + lp)
        for name, x in (("value", lv), ("reward", lr), ("policy", lp)):
            parts[name] += float(x.detach().mean()) * w
    # every legal action from the root: what the search compares there
    s_rep = s0.repeat_interleave(A, 0)
    acts = torch.arange(A).repeat(Bs)
    s1, r_logits = net.dynamics(_scale_grad(s_rep, 0.5), acts)
    _, v_logits = net.predict(s1)
    m = legal.reshape(-1).float()
    lr_all = _ce(scalar_to_support(child_r.reshape(-1), S, scale=scale), r_logits) * m
    lv_all = _ce(scalar_to_support(child_v.reshape(-1), S, scale=scale), v_logits) * m
    n_legal = legal.sum(-1).clamp(min=1).float()
    lr_all = lr_all.reshape(Bs, A).sum(-1) / n_legal
    lv_all = lv_all.reshape(Bs, A).sum(-1) / n_legal
    total = total + lr_all + value_coef * lv_all
    parts["all_reward"] = float(lr_all.detach().mean())
    parts["all_value"] = float(lv_all.detach().mean())
    if rank_coef:
        q = (child_r + child_v).double()
        q_hat = (net.to_scalar(r_logits) + net.to_scalar(v_logits)).reshape(Bs, A).double()
        lo = q.masked_fill(~legal, torch.inf).min(-1, keepdim=True).values
        hi = q.masked_fill(~legal, -torch.inf).max(-1, keepdim=True).values
        span = (hi - lo).clamp(min=min_span)
        z = ((q - lo) * EXPERT_SIGMA / span).masked_fill(~legal, -torch.inf)
        z_hat = ((q_hat - lo) * EXPERT_SIGMA / span).masked_fill(~legal, -torch.inf)
        target = torch.softmax(z, -1)
        l_rank = -(target * torch.log_softmax(z_hat, -1).masked_fill(~legal, 0.0)).sum(-1)
        l_rank = l_rank.float() * (legal.sum(-1) > 1)  # a forced move has nothing to rank
        total = total + rank_coef * l_rank
        parts["rank"] = float(l_rank.detach().mean())
    return total.mean(), parts


class ExpertModelTrainer(MuZeroTrainer):
    """``MuZeroTrainer`` with the lookahead expert's targets (``MuZeroConfig.targets =
    "expert"``): same network, optimiser, checkpoints and ``run``; the replay is an
    ``ExpertReplay`` and ``iterate`` plays the expert instead of self-play. MuZeroConfig's
    self-play keys (simulations, n_step, discount, reanalyse, policy, workers) are unused."""

    def __init__(self, cfg: MuZeroConfig, *, selfplay=None) -> None:
        if cfg.workers:
            raise ValueError("ExpertModelTrainer: workers must be 0 (the expert runs here)")
        super().__init__(cfg)
        self.replay = ExpertReplay(capacity=cfg.replay_capacity, obs_dim=self.net.obs_dim,
                                   n_actions=self.net.n_actions)

    def load(self, path) -> None:
        d = load_tensors(path)
        check_same_config(d["config"], self.cfg, path)  # written with targets="expert" always
        self.net.load_state_dict(d["net"])
        self.opt.load_state_dict(d["opt"])
        self.replay.load_state_dict(d["replay"])
        self.iteration = int(d["iteration"])
        self.history = list(d["history"])

    def state_dict(self) -> dict:
        return {**super().state_dict(), "config": asdict(self.cfg)}

    def iterate(self) -> dict[str, float]:
        """One expert batch and ``train_steps`` gradient steps; returns its log line."""
        cfg = self.cfg
        t0 = time.perf_counter()
        rng = np.random.default_rng([cfg.seed, self.iteration])
        episodes, returns = lookahead_episodes(expert_instances(cfg, rng, cfg.rows), k=cfg.k,
                                               order=cfg.order)
        for ep in episodes:
            self.replay.add_episode(*ep)
        t1 = time.perf_counter()
        parts_sum: dict[str, float] = {}
        for _ in range(cfg.train_steps):
            batch, legal, child_r, child_v = self.replay.sample(cfg.batch_size, cfg.unroll, rng)
            self.net.train()
            loss, parts = model_loss(self.net, batch, legal, child_r, child_v,
                                     rank_coef=cfg.rank_coef)
            self.opt.zero_grad()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(self.net.parameters(), 5.0)
            self.opt.step()
            for k, v in {**parts, "loss": float(loss.detach())}.items():
                parts_sum[k] = parts_sum.get(k, 0.0) + v / cfg.train_steps
        self.net.eval()
        self.iteration += 1
        log = {"iteration": self.iteration, "return": float(returns.mean()),
               "selfplay_s": t1 - t0, "train_s": time.perf_counter() - t1, **parts_sum}
        self.history.append(log)
        return log

"""MuZero training on the Malloc mapping game: batched self-play with Gumbel MuZero search over
the learned model, a prioritised replay with n-step targets, the K-step unroll loss, and
resumable, atomically written checkpoints.

One iteration = one self-play batch (``rows`` episodes on fresh synthetic instances of
``n_min..n_max`` buffers, every decision searched) + ``train_steps`` gradient steps. Every random
draw comes from a generator seeded by ``(seed, iteration)``, so a run resumed from a checkpoint
gives the same weights as one run straight through.

With ``workers = W >= 1`` the batch is split into W shards (:func:`shard_rows`), shard ``w``
seeded by ``(seed, iteration, w)`` (:func:`selfplay_shard`), and the learner samples from its own
``(seed, iteration)`` stream. The shards are played by a ``selfplay`` callable (the Ray actors of
``heurist.agents.distributed.selfplay``) or, without one, in this process one after the other
(:func:`serial_selfplay`, the same episodes); either way the episodes enter the replay in shard
order, so the run does not depend on how the shards were scheduled. ``workers = 0`` is the
single-batch stream of earlier checkpoints. Nothing here imports Ray.
"""
from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from heurist.agents.muzero.model import LearnedModel, unroll_loss
from heurist.agents.muzero.replay import Replay
from heurist.agents.search import gumbel_muzero_policy, muzero_policy
from heurist.policies.export.atomic import load_tensors, save_tensors
from heurist.policies.nets.muzero import MuZeroNet, flat_observation

__all__ = ["SELFPLAY_POLICIES", "TARGETS", "MuZeroConfig", "MuZeroTrainer", "SelfPlayFn", "Shard", "build_net",
           "check_same_config", "malloc_dims", "self_play", "self_play_step", "selfplay_shard",
           "serial_selfplay", "shard_rows"]

#: self-play searches: Gumbel MuZero (gumbel_scale 1) or PUCT MuZero (Dirichlet noise at the root,
#: actions sampled from the visit counts at temperature 1)
SELFPLAY_POLICIES = ("gumbel", "puct")

#: where MuZero's training targets come from: its own self-play search over the learned model, or
#: the one-step lookahead expert over the true simulator (``expert_model.ExpertModelTrainer``)
TARGETS = ("selfplay", "expert")

# (episodes, returns) of one self-play batch: per episode (obs [T, D], act [T], rew [T],
# pi [T, A], root value [T]); returns [B]
Shard = tuple[list, np.ndarray]


@dataclass
class MuZeroConfig:
    """Hyperparameters (all have defaults; ``train_muzero.py`` exposes them as flags)."""

    seed: int = 0
    rows: int = 32                 # self-play episodes per iteration (the env's batch)
    n_min: int = 30                # buffers per synthetic instance, uniform in [n_min, n_max]
    n_max: int = 60
    capacity_fraction: float = 0.25
    k: int = 8                     # candidate offsets (the env's K); actions = K + 1
    order: str = "msa"             # the env's decision order (msa: isolated saving per byte)
    simulations: int = 8           # search budget per self-play decision
    unroll: int = 5                # K of the unroll loss
    n_step: int = 10
    discount: float = 1.0
    batch_size: int = 128
    train_steps: int = 16          # gradient steps per iteration
    lr: float = 1e-3
    weight_decay: float = 1e-4
    replay_capacity: int = 50_000
    latent: int = 64
    hidden: int = 128
    support_size: int = 10
    value_scale: float = 100.0
    reanalyse: bool = True         # bootstrap n-step targets with the current network's value
    workers: int = 0               # self-play shards per iteration (0: one batch, the old stream)
    policy: str = "gumbel"         # self-play search: gumbel (Gumbel MuZero) or puct (MuZero's)
    targets: str = "selfplay"      # selfplay, or expert: the lookahead expert's (expert_model.py)
    rank_coef: float = 1.0         # targets=expert: weight of the siblings' ranking term

    def __post_init__(self) -> None:
        if self.policy not in SELFPLAY_POLICIES:
            raise ValueError(f"policy {self.policy!r}: must be one of "
                             f"{', '.join(SELFPLAY_POLICIES)}")
        if self.targets not in TARGETS:
            raise ValueError(f"targets {self.targets!r}: must be one of {', '.join(TARGETS)}")
        if self.workers < 0 or self.rows < max(self.workers, 1):
            raise ValueError(f"workers {self.workers} / rows {self.rows}: need 0 <= workers "
                             "<= rows")


def malloc_dims(k: int) -> tuple[int, int]:
    """(obs_dim, n_actions) of the Malloc mapping env with K candidates (other settings
    default)."""
    from heurist.envs.malloc.env import MallocEnv
    from heurist.envs.malloc.generator import pad_instances
    from heurist.envs.malloc.synthetic import random_instance

    env = MallocEnv(mode="mapping", k=k)
    td = env.reset(instance=pad_instances([random_instance(4, seed=0)]))
    return flat_observation(td).shape[1], env.n_actions


def build_net(cfg: MuZeroConfig) -> MuZeroNet:
    """A freshly initialised network of ``cfg``'s shape (from torch's global generator)."""
    obs_dim, n_actions = malloc_dims(cfg.k)
    return MuZeroNet(obs_dim=obs_dim, n_actions=n_actions, latent=cfg.latent, hidden=cfg.hidden,
                     support_size=cfg.support_size, value_scale=cfg.value_scale)


def _instances(cfg: MuZeroConfig, rng: np.random.Generator, rows: int) -> list:
    from heurist.envs.malloc.synthetic import random_instance

    ns = rng.integers(cfg.n_min, cfg.n_max + 1, rows)
    seeds = rng.integers(0, 2**31 - 1, rows)
    return [random_instance(int(n), seed=int(s), max_lifetime=16, size_range=(1024, 2**20),
                            capacity_fraction=cfg.capacity_fraction) for n, s in zip(ns, seeds)]


def self_play(net: MuZeroNet, instances: list, *, k: int, simulations: int,
              rng: np.random.Generator, gumbel_scale: float = 1.0,
              order: str = "msa", policy: str = "gumbel") -> tuple[list, np.ndarray]:
    """Plays one episode per instance with Gumbel MuZero search (``policy="puct"``: PUCT MuZero
    with root noise, the action sampled from the visit counts) over the learned model at every
    decision. Returns per row (obs [T, D], act [T], rew [T], pi [T, A], root value [T]) and the
    rows' returns [B]."""
    from heurist.envs.malloc.env import MallocEnv
    from heurist.envs.malloc.generator import pad_instances

    env = MallocEnv(mode="mapping", k=k, order=order)
    td = env.reset(instance=pad_instances(instances))
    model = LearnedModel(net)
    B = len(instances)
    rec: list[list] = [[] for _ in range(B)]
    returns = np.zeros(B)
    while not td["done"].all():
        live = ~td["done"].reshape(B).numpy()
        obs = flat_observation(td).numpy()
        root = model.root(td)
        if policy == "puct":
            out = muzero_policy(None, rng, root, model, num_simulations=simulations,
                                temperature=1.0)
        else:
            out = gumbel_muzero_policy(None, rng, root, model, num_simulations=simulations,
                                       gumbel_scale=gumbel_scale)
        a = np.where(live, out.action, 0)
        rootv = out.search_tree.summary().value
        td["action"] = torch.from_numpy(np.ascontiguousarray(a, np.int64))
        td = env.step(td)["next"]
        r = td["reward"].reshape(B).numpy().astype(np.float64)
        returns += r
        for b in np.flatnonzero(live):
            rec[b].append((obs[b], a[b], r[b], out.action_weights[b], rootv[b]))
    episodes = [tuple(np.array(x) for x in zip(*steps)) for steps in rec]
    return episodes, returns


def self_play_step(net: MuZeroNet, cfg: MuZeroConfig, rng: np.random.Generator,
                   rows: int) -> Shard:
    """One self-play batch of ``rows`` fresh instances, all drawn from ``rng`` (the instances
    first, then the search's noise): what the trainer and every self-play worker run."""
    return self_play(net, _instances(cfg, rng, rows), k=cfg.k, simulations=cfg.simulations,
                     rng=rng, order=cfg.order, policy=cfg.policy)


def shard_rows(rows: int, shards: int) -> list[int]:
    """Rows per shard: ``rows`` split as evenly as possible, the first shards one larger."""
    return [rows // shards + (w < rows % shards) for w in range(shards)]


def selfplay_shard(net: MuZeroNet, cfg: MuZeroConfig, *, iteration: int, shard: int) -> Shard:
    """Shard ``shard`` of iteration ``iteration`` (``cfg.workers`` shards), seeded by
    ``(seed, iteration, shard)`` only: the same episodes whichever process plays it."""
    rng = np.random.default_rng([cfg.seed, iteration, shard])
    return self_play_step(net, cfg, rng, shard_rows(cfg.rows, cfg.workers)[shard])


def serial_selfplay(net: MuZeroNet, cfg: MuZeroConfig, iteration: int) -> list[Shard]:
    """Every shard of an iteration in this process, in shard order (no Ray)."""
    return [selfplay_shard(net, cfg, iteration=iteration, shard=w) for w in range(cfg.workers)]


# (network, iteration) -> the iteration's shards in shard order
SelfPlayFn = Callable[[MuZeroNet, int], list[Shard]]


def check_same_config(saved: dict, cfg: Any, path: str | Path) -> None:
    """A checkpoint resumes only the run that wrote it: ``ValueError`` naming the settings in
    which ``saved`` (its config dict) differs from the dataclass ``cfg``."""
    if saved != asdict(cfg):
        diff = sorted(k for k in saved if saved[k] != asdict(cfg).get(k))
        raise ValueError(f"checkpoint {path} was written with other settings: {diff}")


class MuZeroTrainer:
    """Holds the network, optimiser, replay and iteration counter; ``run`` trains and
    checkpoints to ``ckpt`` (resuming from it when it exists)."""

    def __init__(self, cfg: MuZeroConfig, *, selfplay: SelfPlayFn | None = None) -> None:
        self.cfg = cfg
        # with workers >= 1: plays the shards (None: serial_selfplay in this process)
        self.selfplay = selfplay
        torch.manual_seed(cfg.seed)
        self.net = build_net(cfg)
        obs_dim, n_actions = self.net.obs_dim, self.net.n_actions
        self.opt = torch.optim.AdamW(self.net.parameters(), lr=cfg.lr,
                                     weight_decay=cfg.weight_decay)
        self.replay = Replay(capacity=cfg.replay_capacity, obs_dim=obs_dim, n_actions=n_actions,
                             discount=cfg.discount, n_step=cfg.n_step)
        self.iteration = 0
        self.history: list[dict[str, float]] = []

    def net_config(self) -> dict[str, Any]:
        n = self.net
        return {"obs_dim": n.obs_dim, "n_actions": n.n_actions, "latent": n.latent,
                "hidden": self.cfg.hidden, "support_size": n.support_size,
                "value_scale": n.value_scale}

    # ------------------------------------------------------------------ checkpoints
    def state_dict(self) -> dict:
        return {"config": asdict(self.cfg), "net": self.net.state_dict(),
                "opt": self.opt.state_dict(), "replay": self.replay.state_dict(),
                "iteration": self.iteration,
                "history": [{k: float(v) for k, v in h.items()} for h in self.history]}

    def save(self, path: str | Path) -> Path:
        return save_tensors(path, self.state_dict())

    def load(self, path: str | Path) -> None:
        d = load_tensors(path)
        # written before workers / policy existed: one batch, Gumbel self-play
        saved = {"workers": 0, "policy": "gumbel", "targets": "selfplay", "rank_coef": 1.0,
                 **d["config"]}
        check_same_config(saved, self.cfg, path)
        self.net.load_state_dict(d["net"])
        self.opt.load_state_dict(d["opt"])
        self.replay.load_state_dict(d["replay"])
        self.iteration = int(d["iteration"])
        self.history = list(d["history"])

    # ------------------------------------------------------------------ training
    def _bootstrap(self, obs: np.ndarray) -> np.ndarray:
        with torch.no_grad():
            self.net.eval()
            return self.net(torch.from_numpy(obs))[1].double().numpy()

    def iterate(self) -> dict[str, float]:
        """One self-play batch and ``train_steps`` gradient steps; returns its log line."""
        cfg = self.cfg
        t0 = time.perf_counter()
        rng = np.random.default_rng([cfg.seed, self.iteration])
        if cfg.workers == 0:  # one batch; rng then goes on to the replay's samples
            shards = [self_play_step(self.net, cfg, rng, cfg.rows)]
        elif self.selfplay is None:
            shards = serial_selfplay(self.net, cfg, self.iteration)
        else:
            shards = self.selfplay(self.net, self.iteration)
        if len(shards) != max(cfg.workers, 1):
            raise RuntimeError(f"self-play returned {len(shards)} shards for {cfg.workers}")
        for episodes, _ in shards:  # shard order, whatever order they finished in
            for ep in episodes:
                self.replay.add_episode(*ep)
        returns = np.concatenate([r for _, r in shards])
        t1 = time.perf_counter()
        parts_sum = {"value": 0.0, "reward": 0.0, "policy": 0.0, "loss": 0.0}
        boot = self._bootstrap if cfg.reanalyse else None
        for _ in range(cfg.train_steps):
            batch, slots = self.replay.sample(cfg.batch_size, cfg.unroll, rng, boot)
            self.net.train()
            loss, parts, err = unroll_loss(self.net, batch)
            self.opt.zero_grad()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(self.net.parameters(), 5.0)
            self.opt.step()
            self.replay.update_priorities(slots, err.numpy())
            for k, v in parts.items():
                parts_sum[k] += v / cfg.train_steps
            parts_sum["loss"] += float(loss.detach()) / cfg.train_steps
        self.iteration += 1
        log = {"iteration": self.iteration, "return": float(returns.mean()),
               "selfplay_s": t1 - t0, "train_s": time.perf_counter() - t1, **parts_sum}
        self.history.append(log)
        return log

    def run(self, iterations: int, *, ckpt: str | Path | None = None, checkpoint_every: int = 5,
            time_budget_s: float | None = None, progress: Any = None) -> list[dict[str, float]]:
        """Trains until ``iterations`` in total (or the time budget), resuming from ``ckpt`` when
        it exists and checkpointing to it every ``checkpoint_every`` iterations and at the end."""
        if ckpt is not None and Path(ckpt).is_file():
            self.load(ckpt)
        t0 = time.perf_counter()
        while self.iteration < iterations:
            log = self.iterate()
            if progress is not None:
                progress(log)
            done = self.iteration >= iterations or (
                time_budget_s is not None and time.perf_counter() - t0 > time_budget_s)
            if ckpt is not None and (done or self.iteration % checkpoint_every == 0):
                self.save(ckpt)
            if done:
                break
        return self.history

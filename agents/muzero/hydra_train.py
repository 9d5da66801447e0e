"""mallocMuZero training from the Hydra configs: ``python scripts/train.py
experiment=muzero_malloc_mapping`` (or ``agent=gumbel_muzero|muzero|alphazero``).

What the agent group selects:

- ``gumbel_muzero``: :class:`MuZeroTrainer`, Gumbel MuZero self-play over the learned model;
- ``muzero``: the same trainer with PUCT MuZero self-play (``agent.config.policy: puct``: root
  Dirichlet noise, actions sampled from the visit counts);
- ``alphazero``: :class:`ExpertIterationTrainer`, expert iteration with search over the env's true
  simulator (``distill.py``): each iteration's expert plays fresh synthetic instances with the
  network's prior (uniform in iteration 0) and the network's representation + prediction are
  fitted to its action weights and returns. The export is a prior artifact (role
  ``alphazero_prior``, what the shipped ``malloc-prior`` is).

``agent.config`` holds :class:`MuZeroConfig`'s keywords (``seed`` is ``agent.config.seed``),
``agent.iterations`` the run's length and ``agent.eval_instances`` the held-out synthetic
instances planned at the end. The trainer group gives what every run has: ``ckpt_every``,
``resume`` (continue from ``<run_dir>/checkpoint.pt``), ``stop_after`` (simulate an
interruption), ``max_seconds`` (a wall budget), ``threads``, ``evaluate``, ``export``. Checkpoints
are written atomically (``save_tensors``: temporary file, then ``os.replace``); a resumed run gives
bit-identical weights to one run straight through, since iteration ``i`` draws everything from
``(seed, i)``. The metrics go to ``logger`` (wandb offline + ``metrics.csv``, or CSV only), the
network to ``<run_dir>/policy`` (an artifact ``heurist plan --method search --policy`` loads).

``agent.workers`` (0: in-process self-play) splits each iteration's self-play (for ``alphazero``:
the expert's games) into that many shards, played by as many Ray actors (:func:`heurist.agents.distributed.selfplay.
start_selfplay`, as ``scripts/train_muzero.py --workers``; a local Ray of ``agent.workers`` CPUs,
no dashboard, ended with the run). It sets ``MuZeroConfig.workers``: the run gives bit-identical
weights to ``agent.config.workers=N`` played in this process (shard ``w`` of iteration ``i`` is
seeded by ``(seed, i, w)``, the shards enter the replay in shard order), resumed too. It is not
bit-identical to ``agent.workers=0``, by design: that path (kept bit for bit) searches all
``rows`` episodes as one batch whose instances and noise come from the one ``(seed, i)``
generator in batch order, so no split into independently seeded shards reproduces its draws;
what stays the same is the episodes' distribution and the training step, not the draws.
"""
from __future__ import annotations

import json
import time
from dataclasses import asdict, fields
from pathlib import Path

import numpy as np
import torch
from omegaconf import DictConfig, OmegaConf

from heurist.agents.config_check import MUZERO_AGENTS, check_muzero_config
from heurist.agents.muzero.train import MuZeroConfig, MuZeroTrainer, build_net, check_same_config
from heurist.policies.export.atomic import load_tensors, save_tensors

__all__ = ["MUZERO_AGENTS", "ExpertIterationTrainer", "check_muzero_config", "is_muzero_config",
           "muzero_config", "train_muzero"]


def is_muzero_config(cfg: DictConfig) -> bool:
    """Whether ``cfg``'s agent is one of :data:`MUZERO_AGENTS` (``scripts/train.py`` dispatches
    on it)."""
    return OmegaConf.select(cfg, "agent.name", default=None) in MUZERO_AGENTS


def muzero_config(cfg: DictConfig) -> MuZeroConfig:
    """``agent.config`` as a :class:`MuZeroConfig` (``agent.workers`` >= 1 sets its ``workers``);
    an unknown key, a value of the wrong type or out of range is a ``ValueError`` naming it as an
    override."""
    section = OmegaConf.select(cfg, "agent.config", default=None)
    if section is None:
        raise ValueError("agent.config is missing from the config")
    raw = OmegaConf.to_container(section, resolve=True)
    known = {f.name: f for f in fields(MuZeroConfig)}
    for key, value in raw.items():
        if key not in known:
            raise ValueError(f"agent.config.{key}: not a MuZeroConfig setting (one of "
                             f"{', '.join(known)})")
        want = type(known[key].default)
        ok = isinstance(value, want) and not (want is not bool and isinstance(value, bool))
        if want is float and isinstance(value, int) and not isinstance(value, bool):
            raw[key], ok = float(value), True
        if not ok:
            raise ValueError(f"agent.config.{key}={value}: must be a {want.__name__}")
    for key in ("rows", "k", "simulations", "unroll", "n_step", "batch_size", "train_steps",
                "replay_capacity", "latent", "hidden", "support_size"):
        if key in raw and raw[key] < 1:
            raise ValueError(f"agent.config.{key}={raw[key]}: must be an integer >= 1")
    for key in ("lr", "value_scale", "capacity_fraction"):
        if key in raw and not raw[key] > 0:
            raise ValueError(f"agent.config.{key}={raw[key]}: must be > 0")
    n_min, n_max = raw.get("n_min", 30), raw.get("n_max", 60)
    if n_min < 2 or n_max < n_min:
        raise ValueError(f"agent.config.n_min={n_min} / agent.config.n_max={n_max}: need "
                         "2 <= n_min <= n_max")
    from heurist.envs.malloc.candidates import ORDERS

    if raw.get("order", "msa") not in ORDERS:
        raise ValueError(f"agent.config.order={raw['order']}: must be one of {', '.join(ORDERS)}")
    ray_workers = OmegaConf.select(cfg, "agent.workers", default=0)
    if ray_workers:  # Ray plays the shards: one shard per actor
        if raw.get("workers", 0) not in (0, ray_workers):
            raise ValueError(f"agent.workers={ray_workers} / agent.config.workers="
                             f"{raw['workers']}: set one of them (Ray plays one shard per worker)")
        raw["workers"] = ray_workers
    try:
        return MuZeroConfig(**raw)
    except ValueError as exc:
        raise ValueError(f"agent.config: {exc}") from None


class ExpertIterationTrainer:
    """AlphaZero mode's training (``agent=alphazero``), with :class:`MuZeroTrainer`'s interface
    (``net``, ``iteration``, ``history``, ``iterate``, ``save``, ``load``).

    One iteration: ``rows`` fresh synthetic instances drawn from ``(seed, iteration)``, played by
    Gumbel search over the true simulator (``simulations`` per decision, greedy-rollout leaf
    values, the network's prior from iteration 1 on, uniform in iteration 0), then
    ``train_steps`` AdamW steps on its positions (``train_prior``; a fresh optimiser each
    iteration, so a checkpoint is the network and the history). MuZeroConfig's model-only keys
    (unroll, n_step, discount, replay_capacity, reanalyse, policy) are unused.

    ``workers`` >= 1 splits the expert's rows into shards seeded by ``(seed, iteration, shard)``
    (:func:`~heurist.agents.muzero.distill.expert_shard`), played by ``selfplay`` (the Ray actors
    of :func:`~heurist.agents.distributed.selfplay.start_selfplay`) or, without one, here one
    after the other: the same positions either way. ``workers = 0`` keeps the one-batch stream."""

    def __init__(self, cfg: MuZeroConfig, *, selfplay=None) -> None:
        self.cfg = cfg
        torch.manual_seed(cfg.seed)
        self.net = build_net(cfg)
        self.iteration = 0
        self.history: list[dict[str, float]] = []
        self.selfplay = selfplay  # (net, iteration) -> the shards' ExpertData in shard order

    def state_dict(self) -> dict:
        return {"config": asdict(self.cfg), "net": self.net.state_dict(),
                "iteration": self.iteration,
                "history": [{k: float(v) for k, v in h.items()} for h in self.history]}

    def save(self, path: str | Path) -> Path:
        return save_tensors(path, self.state_dict())

    def load(self, path: str | Path) -> None:
        d = load_tensors(path)
        # written before targets existed: the default
        check_same_config({"targets": "selfplay", "rank_coef": 1.0, **d["config"]}, self.cfg,
                          path)
        self.net.load_state_dict(d["net"])
        self.iteration = int(d["iteration"])
        self.history = list(d["history"])

    def iterate(self) -> dict[str, float]:
        """One expert batch and ``train_steps`` gradient steps; returns its log line."""
        from heurist.agents.muzero.distill import (
            ExpertData,
            expert_shard,
            expert_targets,
            train_prior,
        )
        from heurist.agents.muzero.train import _instances

        cfg = self.cfg
        t0 = time.perf_counter()
        rng = np.random.default_rng([cfg.seed, self.iteration])
        if cfg.workers == 0:  # one batch: the instances, then the seed, from (seed, iteration)
            insts = _instances(cfg, rng, cfg.rows)
            seed = int(rng.integers(0, 2**31 - 1))
            data = expert_targets(insts, num_simulations=cfg.simulations, k=cfg.k,
                                  order=cfg.order, seed=seed,
                                  net=self.net if self.iteration > 0 else None)
        else:  # the shards draw from (seed, iteration, shard); training from (seed, iteration)
            seed = int(rng.integers(0, 2**31 - 1))
            shards = ([expert_shard(self.net, cfg, iteration=self.iteration, shard=w)
                       for w in range(cfg.workers)] if self.selfplay is None
                      else self.selfplay(self.net, self.iteration))
            if len(shards) != cfg.workers:
                raise RuntimeError(f"expert iteration: {len(shards)} shards for {cfg.workers}")
            data = ExpertData.concat(shards)
        t1 = time.perf_counter()
        losses = train_prior(self.net, data, steps=cfg.train_steps, batch_size=cfg.batch_size,
                             lr=cfg.lr, weight_decay=cfg.weight_decay, seed=seed)
        self.iteration += 1
        log = {"iteration": self.iteration, "return": float(data.returns.mean()),
               "positions": float(len(data)), "loss": float(np.mean(losses)),
               "selfplay_s": t1 - t0, "train_s": time.perf_counter() - t1}
        self.history.append(log)
        return log


def _held_out(cfg: MuZeroConfig, n: int) -> list:
    """``n`` synthetic instances of the training distribution from a stream no iteration uses
    (``(seed, -1)`` is not a valid iteration; SeedSequence takes only non-negative words, so the
    stream is ``(seed, 2**32 - 1)``)."""
    from heurist.agents.muzero.train import _instances

    return _instances(cfg, np.random.default_rng([cfg.seed, 2**32 - 1]), n)


def _evaluate(trainer, cfg: DictConfig, mz: MuZeroConfig, *, alphazero: bool) -> dict:
    """Plans ``agent.eval_instances`` held-out instances with the trained network at
    ``agent.search.simulations`` (MuZero mode over the learned model, or AlphaZero mode with the
    network as prior) and with the classical MSA-like planner; mean speedups."""
    from heurist.agents.muzero.model import LearnedModel
    from heurist.agents.muzero.planner import plan_mapping
    from heurist.policies.malloc import plan as classical_plan

    n = int(OmegaConf.select(cfg, "agent.eval_instances", default=0))
    if n == 0:
        return {}
    insts = _held_out(mz, n)
    learned = LearnedModel(trainer.net)
    kw = ({"prior": learned.prior, "value": "rollout"} if alphazero else {"model": learned})
    res, _ = plan_mapping(insts, num_simulations=int(cfg.agent.search.simulations), k=mz.k,
                          order=mz.order, policy=str(cfg.agent.search.policy), **kw)
    from heurist.agents.muzero.evaluation import mapping_speedup

    msa = [mapping_speedup(i, classical_plan(i, "msa", mode="mapping")) for i in insts]
    search = [r.speedup for r in res]
    return {"eval/instances": n, "eval/search_speedup": float(np.mean(search)),
            "eval/msa_speedup": float(np.mean(msa)),
            "eval/search_beats_msa": int(sum(s > m + 1e-12 for s, m in zip(search, msa)))}


def _export(trainer, mz: MuZeroConfig, folder: Path, *, alphazero: bool, results: dict) -> Path:
    training = {"config": asdict(mz), "iterations": trainer.iteration,
                "wall_s": sum(h["selfplay_s"] + h["train_s"] for h in trainer.history)}
    metrics = {"final_return": trainer.history[-1]["return"] if trainer.history else None,
               **{k: v for k, v in results.items() if k.startswith("eval/")}}
    if alphazero:
        from heurist.agents.muzero.distill import export_prior

        return export_prior(trainer.net, folder, training=training, metrics=metrics,
                            replace=True)
    from heurist.policies.export.artifact import export_artifact

    return export_artifact(trainer.net, folder, replace=True, training=training, metrics=metrics)


def train_muzero(cfg: DictConfig, *, console=None) -> dict:
    """Trains the ``cfg`` run (see the module docstring) in ``trainer.run_dir``; returns the
    results dict (also ``<run_dir>/results.json``)."""
    from rich.console import Console

    from heurist.agents.loggers import make_logger

    console = console or Console()
    check_muzero_config(cfg)
    tc = cfg.trainer
    if tc.run_dir is None:
        raise ValueError("trainer.run_dir is not set (scripts/train.py sets it to Hydra's run dir)")
    torch.set_num_threads(int(tc.threads))
    t0 = time.perf_counter()
    mz = muzero_config(cfg)
    alphazero = cfg.agent.name == "alphazero"
    if alphazero:
        trainer = ExpertIterationTrainer(mz)
    elif mz.targets == "expert":  # the learned model fitted to the lookahead expert's targets
        from heurist.agents.muzero.expert_model import ExpertModelTrainer

        trainer = ExpertModelTrainer(mz)
    else:
        trainer = MuZeroTrainer(mz)
    run_dir = Path(tc.run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    ckpt = run_dir / "checkpoint.pt"
    if bool(tc.resume):
        if ckpt.is_file():
            trainer.load(ckpt)
            console.print(f"resumed from {ckpt} at iteration {trainer.iteration}")
        else:
            console.print(f"[yellow]trainer.resume: no checkpoint at {ckpt}; starting fresh")
    total = int(cfg.agent.iterations)
    stop_after = OmegaConf.select(cfg, "trainer.stop_after", default=None)
    stop = total if stop_after is None else min(total, int(stop_after))
    budget = OmegaConf.select(cfg, "trainer.max_seconds", default=None)
    every = int(tc.ckpt_every)
    logger = make_logger(cfg.logger.kind, run_dir, project=cfg.logger.project,
                         mode=cfg.logger.mode, config=OmegaConf.to_container(cfg, resolve=True),
                         console=console)
    out_of_time = False
    pool = None
    if int(OmegaConf.select(cfg, "agent.workers", default=0)) and trainer.iteration < stop:
        from heurist.agents.distributed.selfplay import start_selfplay
        from heurist.agents.muzero.distill import expert_shard

        # a local Ray of agent.workers CPUs; alphazero's actors play the expert's shards
        pool = start_selfplay(mz, threads=int(tc.threads), **({"fn": expert_shard}
                                                              if alphazero else {}))
        trainer.selfplay = pool
    try:
        while trainer.iteration < stop:
            log = trainer.iterate()
            it = trainer.iteration
            logger.log({f"train/{k}": v for k, v in log.items() if k != "iteration"}, step=it)
            console.print(f"it {it:4d}  " + "  ".join(f"{k} {v:.4g}" for k, v in log.items()
                                                     if k != "iteration")
                          + f"  [{time.perf_counter() - t0:.0f}s]", soft_wrap=True)
            out_of_time = budget is not None and time.perf_counter() - t0 > float(budget)
            if it % every == 0 or it == stop or out_of_time:
                trainer.save(ckpt)
            if out_of_time and it < stop:
                console.print(f"trainer.max_seconds={budget}: stopped after iteration {it} "
                              f"of {total}")
                break
    finally:
        if pool is not None:
            pool.shutdown()  # the actors, and Ray when this run started it
            trainer.selfplay = None
    if not ckpt.is_file():  # resumed at the end already, or 0 iterations to run
        trainer.save(ckpt)
    if trainer.iteration < total and not out_of_time:  # trainer.stop_after: resume later
        console.print(f"stopped after iteration {trainer.iteration} of {total}; checkpoint {ckpt}")
        logger.finish()
        return {"stopped_at": trainer.iteration, "checkpoint": str(ckpt)}
    results: dict = {"agent": str(cfg.agent.name), "iterations": trainer.iteration,
                     "train_seconds": time.perf_counter() - t0,
                     "final_return": trainer.history[-1]["return"] if trainer.history else None}
    if out_of_time:
        results["max_seconds"] = float(budget)
        results["planned_iterations"] = total
    if bool(tc.evaluate):
        ev = _evaluate(trainer, cfg, mz, alphazero=alphazero)
        if ev:  # one row with the last iteration's metrics (the CSV keeps one row per step)
            last = trainer.history[-1] if trainer.history else {}
            logger.log({**{f"train/{k}": v for k, v in last.items() if k != "iteration"}, **ev},
                       step=trainer.iteration)
        results.update(ev)
    if bool(tc.export):
        path = _export(trainer, mz, run_dir / "policy", alphazero=alphazero, results=results)
        results["exported"] = str(path)
        console.print(f"exported policy: {path}")
        logger.log_artifact(path, name="policy", kind="policy")
    results["checkpoint"] = str(ckpt)
    logger.log_artifact(ckpt, name="checkpoint", kind="checkpoint")
    results["total_seconds"] = time.perf_counter() - t0
    (run_dir / "results.json").write_text(json.dumps(results, indent=2))
    logger.finish()
    return results

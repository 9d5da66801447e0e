"""The training run behind ``scripts/train.py``, the same for every env: a *task* (what the env
needs: its network, one iteration's update, the held-out evaluation, the export) plugs into one
loop with seeded iterations, a progress bar, atomic resumable checkpoints, the metric logger,
``results.json`` and the exported policy artifact.

Tasks (``env.kind``): ``paging`` (:class:`~heurist.agents.paging_task.PagingTask`: Belady
imitation, then REINFORCE with a shared baseline, on BrightKite) and ``routing``
(:class:`~heurist.agents.routing_task.RoutingTask`: REINFORCE with shared, greedy-rollout or
critic baselines on the PVRP envs).

Every iteration ``it`` draws its instances and samples from generators seeded by ``(seed, it)``,
so a resumed run is identical to an uninterrupted one.

Time is recorded twice: wall seconds (``time.perf_counter``) and CPU seconds of this process and
its reaped children (:func:`cpu_seconds`: PyVRP expert workers included), per logged iteration
(``time/wall_s``, ``time/cpu_s``, since the run's start) and in ``results.json`` and the exported
manifest (``train_seconds``, ``train_cpu_seconds``), so a budget claim can be made in CPU time on
a shared machine, where wall time overstates it.
"""
from __future__ import annotations

import json
import resource
import time
from pathlib import Path

import numpy as np
import torch
from omegaconf import DictConfig, OmegaConf

from heurist.agents.checkpoint import load_checkpoint, save_checkpoint
from heurist.agents.loggers import make_logger

__all__ = ["TASKS", "build_net", "cpu_seconds", "iteration_seed", "make_task", "train"]

#: env.kind -> task class (module, name), imported on use
TASKS = {"paging": ("heurist.agents.paging_task", "PagingTask"),
         "routing": ("heurist.agents.routing_task", "RoutingTask")}


def env_kind(cfg: DictConfig) -> str:
    """``env.kind`` of the config (``paging`` when absent: configs older than the routing task)."""
    return str(OmegaConf.select(cfg, "env.kind", default="paging"))


def make_task(cfg: DictConfig, *, console):
    """The task object of ``cfg`` (loads its data: a bad path fails here, before any file)."""
    import importlib

    kind = env_kind(cfg)
    if kind not in TASKS:
        raise ValueError(f"env.kind={kind}: must be one of {', '.join(TASKS)}")
    module, name = TASKS[kind]
    return getattr(importlib.import_module(module), name)(cfg, console=console)


def build_net(agent_cfg, *, env_cfg=None):
    """The network of ``agent`` config: the paging slot scorer or a routing model by name
    (``env_cfg``: the run's env config, whose opt-in paging channels widen the slot input)."""
    if str(agent_cfg.get("name", "slot_attention")) == "slot_attention":
        from heurist.agents.paging_task import build_paging_net

        gap = bool((env_cfg or {}).get("gap_features", False))
        return build_paging_net(agent_cfg, gap_features=gap)
    from heurist.agents.routing_task import build_routing_net

    return build_routing_net(agent_cfg)


def cpu_seconds() -> float:
    """User + system CPU seconds of this process (all its threads) and of its terminated, waited-for
    children (the PyVRP expert pool), since the process started."""
    own = resource.getrusage(resource.RUSAGE_SELF)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime


def iteration_seed(seed: int, it: int) -> int:
    """The seed of iteration ``it``'s instance draw and action samples."""
    return int(np.random.SeedSequence([int(seed), int(it)]).generate_state(1)[0])


def _save(path: Path, net, opt, iteration: int, cfg: DictConfig, task) -> None:
    state = {"net": net.state_dict(), "optimizer": opt.state_dict(), "iteration": iteration,
             "config": OmegaConf.to_container(cfg, resolve=True)}
    extra = task.extra_state()
    if extra:
        state["task"] = extra
    save_checkpoint(path, state)


def _init_from(net, folder, *, console) -> None:
    """Loads the weights of artifact ``folder`` into ``net`` (``trainer.init_from``: fine-tuning a
    shipped policy); the artifact's network class and config must be ``net``'s exactly."""
    from heurist.policies.export import load_network

    src, manifest = load_network(folder)
    if type(src) is not type(net) or dict(src.config) != dict(net.config):
        raise ValueError(f"trainer.init_from={folder}: the artifact is "
                         f"{manifest['network']['class']} {dict(src.config)}, the config builds "
                         f"{type(net).__name__} {dict(net.config)}")
    net.load_state_dict(src.state_dict())
    console.print(f"initialised from {folder}")


def _resume(net, opt, task, ckpt_path: Path, *, resume: bool, console) -> int:
    """Loads the checkpoint when resuming; returns the iteration to start from."""
    if not resume:
        return 0
    if not ckpt_path.is_file():
        console.print(f"[yellow]trainer.resume: no checkpoint at {ckpt_path}; starting fresh")
        return 0
    state = load_checkpoint(ckpt_path)
    net.load_state_dict(state["net"])
    opt.load_state_dict(state["optimizer"])
    task.load_extra_state(state.get("task", {}))
    console.print(f"resumed from {ckpt_path} at iteration {int(state['iteration'])}")
    return int(state["iteration"])


def _run_iterations(net, opt, task, cfg, *, start: int, ckpt_path: Path, logger,
                    console, t0: float, c0: float) -> tuple[int, bool]:
    """Iterations ``start ..`` with a progress bar and a checkpoint every ``ckpt_every``;
    returns (where it stopped, whether ``trainer.max_seconds`` stopped it). ``stop_after``
    simulates an interruption; ``max_seconds`` (wall seconds since ``t0``, the run's start) is a
    training budget: the run then evaluates and exports what it has. Each iteration also logs
    ``time/wall_s`` and ``time/cpu_s`` (since ``t0`` / ``c0``, :func:`cpu_seconds`)."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    tc = cfg.trainer
    total = task.total
    stop = total if tc.get("stop_after") is None else min(total, int(tc.stop_after))
    budget = tc.get("max_seconds")
    columns = (TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
               TimeElapsedColumn(), TextColumn("{task.fields[info]}"))
    with Progress(*columns, console=console, transient=False) as progress:
        bar = progress.add_task("training", total=total, completed=start, info="")
        for it in range(start, stop):
            seed = iteration_seed(tc.seed, it)
            tgen = torch.Generator().manual_seed(seed)
            for group in opt.param_groups:
                group["lr"] = task.lr(it)
            metrics = task.iteration(net, opt, it, seed=seed, tgen=tgen)
            logger.log({**metrics, "time/wall_s": time.perf_counter() - t0,
                        "time/cpu_s": cpu_seconds() - c0}, step=it)
            if (it + 1) % int(tc.ckpt_every) == 0 or it + 1 in (total, stop):
                _save(ckpt_path, net, opt, it + 1, cfg, task)
            info = " ".join(f"{k.split('/')[-1]}={v:.3f}" for k, v in metrics.items()
                            if isinstance(v, float))
            progress.update(bar, advance=1, info=info)
            if budget is not None and time.perf_counter() - t0 > float(budget) and it + 1 < stop:
                _save(ckpt_path, net, opt, it + 1, cfg, task)
                console.print(f"trainer.max_seconds={budget}: stopped after iteration {it + 1} "
                              f"of {total}")
                return it + 1, True
    return stop, False


def train(cfg: DictConfig, *, console=None) -> dict:
    """Runs the whole pipeline of ``cfg`` (see ``configs/train.yaml``); returns the results dict
    (also written to ``<run_dir>/results.json``)."""
    from rich.console import Console

    console = console or Console()
    tc = cfg.trainer
    if tc.run_dir is None:
        raise ValueError("trainer.run_dir is not set (scripts/train.py sets it to Hydra's run dir)")
    torch.set_num_threads(int(tc.threads))
    t0, c0 = time.perf_counter(), cpu_seconds()
    task = make_task(cfg, console=console)
    run_dir = Path(tc.run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)  # after the data loaded: bad data leaves nothing

    torch.manual_seed(int(tc.seed))
    net = task.build_net()
    if tc.get("init_from") is not None:  # a resumed checkpoint below overrides these weights
        _init_from(net, tc.init_from, console=console)
    opt = torch.optim.Adam(net.parameters(), lr=task.lr(0))
    task.setup(net)
    ckpt_path = run_dir / "checkpoint.pt"
    start = _resume(net, opt, task, ckpt_path, resume=bool(tc.resume), console=console)
    logger = make_logger(cfg.logger.kind, run_dir, project=cfg.logger.project,
                         mode=cfg.logger.mode, config=OmegaConf.to_container(cfg, resolve=True),
                         console=console)
    total = task.total
    stop, out_of_time = _run_iterations(net, opt, task, cfg, start=start, ckpt_path=ckpt_path,
                                        logger=logger, console=console, t0=t0, c0=c0)
    train_s, train_cpu_s = time.perf_counter() - t0, cpu_seconds() - c0
    if stop < total and not out_of_time:  # an interrupted run (trainer.stop_after): resume it with trainer.resume=true
        console.print(f"stopped after iteration {stop} of {total}; checkpoint {ckpt_path}")
        logger.finish()
        return {"stopped_at": stop, "checkpoint": str(ckpt_path)}

    results: dict = {"train_seconds": train_s, "train_cpu_seconds": train_cpu_s,
                     "iterations": stop, **task.describe()}
    if out_of_time:
        results["max_seconds"] = float(tc.max_seconds)
        results["planned_iterations"] = total
    if total == 0 and not ckpt_path.is_file():
        _save(ckpt_path, net, opt, 0, cfg, task)
    if tc.evaluate:
        results.update(task.evaluate(net, logger=logger, step=total))
    if tc.export:  # the artifact folder: weights.safetensors + manifest.json
        path = task.export(net, run_dir / "policy", results=results)
        results["exported"] = str(path)
        console.print(f"exported policy: {path}")
    results["checkpoint"] = str(ckpt_path)
    logger.log_artifact(ckpt_path, name="checkpoint", kind="checkpoint")
    if tc.export:
        logger.log_artifact(results["exported"], name="policy", kind="policy")
    results["total_seconds"] = time.perf_counter() - t0
    results["total_cpu_seconds"] = cpu_seconds() - c0
    (run_dir / "results.json").write_text(json.dumps(results, indent=2))
    logger.finish()
    return results

"""The training run behind ``scripts/train.py``: Belady imitation warm start, then REINFORCE with
a shared baseline, on BrightKite training users; held-out evaluation against the baselines;
atomic resumable checkpoints; the exported policy.

Every iteration ``it`` draws its instances and samples from generators seeded by ``(seed, it)``,
so a resumed run is identical to an uninterrupted one.
"""
from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np
import torch
from omegaconf import DictConfig, OmegaConf

from heurist.agents.checkpoint import load_checkpoint, save_checkpoint
from heurist.agents.data import find_traces, load_split, total_requests
from heurist.agents.evaluation import compare, results_table
from heurist.agents.imitation import imitation_update
from heurist.agents.loggers import make_logger
from heurist.agents.policy import NetPolicy
from heurist.agents.reinforce import reinforce_update, shared_baseline_advantage
from heurist.agents.rollout import collect
from heurist.policies.nets import SlotAttentionPolicy

__all__ = ["build_net", "iteration_seed", "train"]


def build_net(agent_cfg) -> SlotAttentionPolicy:
    """The network of ``agent`` config (feature sizes come from the env)."""
    from heurist.envs.paging.env import REQUEST_FEATURES, SLOT_FEATURES

    return SlotAttentionPolicy(slot_dim=len(SLOT_FEATURES), request_dim=len(REQUEST_FEATURES),
                               embed_dim=agent_cfg.embed_dim, n_heads=agent_cfg.n_heads,
                               n_layers=agent_cfg.n_layers, ff_dim=agent_cfg.ff_dim,
                               clip=agent_cfg.clip)


def iteration_seed(seed: int, it: int) -> int:
    """The seed of iteration ``it``'s instance draw and action samples."""
    return int(np.random.SeedSequence([int(seed), int(it)]).generate_state(1)[0])


def _no_decisions(roll) -> dict:
    """Metrics of a batch of windows in which no eviction was needed: nothing to learn from."""
    return {"train/misses": float(roll.misses.mean()), "train/decisions": 0}


def _imitation_iteration(net, opt, env, gen_fn, cfg, it, tgen):
    tc = cfg.trainer
    inst = gen_fn(tc.imitation_batch, np.random.default_rng(iteration_seed(tc.seed, it)))
    # DAgger: the first pass follows Belady, later ones the (sampling) policy, labelled by Belady.
    roll = collect(env, inst, NetPolicy(net, sample=True, generator=tgen), teacher=True,
                   follow_teacher=(it == 0))
    if roll.actions is None:
        return _no_decisions(roll)
    loss = imitation_update(net, opt, roll, batch_size=tc.minibatch, epochs=tc.imitation_epochs,
                            generator=tgen, max_grad_norm=tc.max_grad_norm)
    return {"loss/imitation": loss, "train/misses": float(roll.misses.mean()),
            "train/decisions": int(roll.actions.shape[0])}


def _reinforce_iteration(net, opt, env, gen_fn, cfg, it, tgen):
    tc = cfg.trainer
    n = int(tc.n_samples)
    inst = gen_fn(tc.reinforce_batch, np.random.default_rng(iteration_seed(tc.seed, it)))
    inst = inst[torch.arange(inst.batch_size[0]).repeat_interleave(n)]
    roll = collect(env, inst, NetPolicy(net, sample=True, generator=tgen))
    if roll.actions is None:
        return _no_decisions(roll)
    adv = shared_baseline_advantage(-roll.misses, n)
    loss = reinforce_update(net, opt, roll, adv, chunk=tc.chunk, max_grad_norm=tc.max_grad_norm)
    return {"loss/reinforce": loss, "train/misses": float(roll.misses.mean()),
            "train/decisions": int(roll.actions.shape[0])}


def _save(path: Path, net, opt, iteration: int, cfg: DictConfig) -> None:
    save_checkpoint(path, {"net": net.state_dict(), "optimizer": opt.state_dict(),
                           "iteration": iteration,
                           "config": OmegaConf.to_container(cfg, resolve=True)})


def _resume(net, opt, ckpt_path: Path, *, resume: bool, console) -> int:
    """Loads the checkpoint when resuming; returns the iteration to start from."""
    if not resume:
        return 0
    if not ckpt_path.is_file():
        console.print(f"[yellow]trainer.resume: no checkpoint at {ckpt_path}; starting fresh")
        return 0
    state = load_checkpoint(ckpt_path)
    net.load_state_dict(state["net"])
    opt.load_state_dict(state["optimizer"])
    console.print(f"resumed from {ckpt_path} at iteration {int(state['iteration'])}")
    return int(state["iteration"])


def _run_iterations(net, opt, env, gen_fn, cfg, *, start: int, ckpt_path: Path, logger,
                    console) -> int:
    """Iterations ``start ..`` (imitation first, then REINFORCE) with a progress bar and a
    checkpoint every ``ckpt_every``; returns where it stopped (``trainer.stop_after``)."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    tc = cfg.trainer
    n_imit = int(tc.imitation_iters)
    total = n_imit + int(tc.reinforce_iters)
    stop = total if tc.get("stop_after") is None else min(total, int(tc.stop_after))
    columns = (TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
               TimeElapsedColumn(), TextColumn("{task.fields[info]}"))
    with Progress(*columns, console=console, transient=False) as progress:
        task = progress.add_task("training", total=total, completed=start, info="")
        for it in range(start, stop):
            tgen = torch.Generator().manual_seed(iteration_seed(tc.seed, it))
            imitation = it < n_imit
            for group in opt.param_groups:
                group["lr"] = float(cfg.agent.lr if imitation else cfg.agent.reinforce_lr)
            step_fn = _imitation_iteration if imitation else _reinforce_iteration
            metrics = step_fn(net, opt, env, gen_fn, cfg, it, tgen)
            logger.log(metrics, step=it)
            if (it + 1) % int(tc.ckpt_every) == 0 or it + 1 in (total, stop):
                _save(ckpt_path, net, opt, it + 1, cfg)
            info = " ".join(f"{k.split('/')[-1]}={v:.3f}" for k, v in metrics.items()
                            if isinstance(v, float))
            progress.update(task, advance=1, info=info)
    return stop


def _evaluate_held_out(net, split: dict, cfg: DictConfig, *, logger, step: int, console) -> dict:
    """The learned policy against the baselines on the held-out users; prints the table and
    the verdict, returns the results entries."""
    ec = cfg.env
    k = int(ec.cache_size)
    net.eval()
    per = compare({"Learned": NetPolicy(net)}, split["test"], cache_size=k,
                  predictor=ec.predictor, seed=int(ec.eval_seed))
    requests = total_requests(split["test"])
    console.print(results_table(per, requests=requests,
                                title=f"held-out BrightKite users ({len(split['test'])}), "
                                      f"k = {k}, predictor {ec.predictor}"))
    totals = {name: float(v.sum()) for name, v in per.items()}
    beats = totals["Learned"] < totals["LRU"]
    verdict = "[green]PASS" if beats else "[red]FAIL"
    console.print(f"{verdict}[/]: learned {totals['Learned']:,.0f} misses vs LRU "
                  f"{totals['LRU']:,.0f} on the held-out users")
    logger.log({f"test/{n}": v for n, v in totals.items()}, step=step)
    return {"misses": totals, "requests": requests,
            "learned_over_opt": totals["Learned"] / totals["OPT"], "beats_lru": beats}


def train(cfg: DictConfig, *, console=None) -> dict:
    """Runs the whole pipeline of ``cfg`` (see ``configs/train.yaml``); returns the results dict
    (also written to ``<run_dir>/results.json``)."""
    from rich.console import Console

    from heurist.envs.paging.env import PagingEnv
    from heurist.envs.paging.generator import PagingGenerator
    from heurist.policies.export import data_provenance, export_policy

    console = console or Console()
    tc, ec = cfg.trainer, cfg.env
    if tc.run_dir is None:
        raise ValueError("trainer.run_dir is not set (scripts/train.py sets it to Hydra's run dir)")
    torch.set_num_threads(int(tc.threads))
    t0 = time.perf_counter()
    split = load_split(ec.data_dir, n_train=ec.n_train)
    run_dir = Path(tc.run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)  # after the data loaded: bad data leaves nothing
    k = int(ec.cache_size)
    gen_fn = PagingGenerator(traces=split["train"], length=ec.train_window, predictor=ec.predictor,
                             cache_size=k)
    env = PagingEnv(cache_size=k)

    torch.manual_seed(int(tc.seed))
    net = build_net(cfg.agent)
    opt = torch.optim.Adam(net.parameters(), lr=cfg.agent.lr)
    ckpt_path = run_dir / "checkpoint.pt"
    start = _resume(net, opt, ckpt_path, resume=bool(tc.resume), console=console)
    logger = make_logger(cfg.logger.kind, run_dir, project=cfg.logger.project,
                         mode=cfg.logger.mode, config=OmegaConf.to_container(cfg, resolve=True),
                         console=console)
    total = int(tc.imitation_iters) + int(tc.reinforce_iters)
    stop = _run_iterations(net, opt, env, gen_fn, cfg, start=start, ckpt_path=ckpt_path,
                           logger=logger, console=console)
    train_s = time.perf_counter() - t0
    if stop < total:  # an interrupted run (trainer.stop_after): resume it with trainer.resume=true
        console.print(f"stopped after iteration {stop} of {total}; checkpoint {ckpt_path}")
        logger.finish()
        return {"stopped_at": stop, "checkpoint": str(ckpt_path)}

    results: dict = {"train_seconds": train_s, "iterations": total, "cache_size": k,
                     "predictor": str(ec.predictor), "train_users": split["train_names"],
                     "test_users": split["test_names"]}
    if total == 0 and not ckpt_path.is_file():
        _save(ckpt_path, net, opt, 0, cfg)
    if tc.evaluate:
        results.update(_evaluate_held_out(net, split, cfg, logger=logger, step=total,
                                          console=console))
    if tc.export:  # the artifact folder: weights.safetensors + manifest.json
        path = export_policy(net, run_dir / "policy", replace=True,
                             training=OmegaConf.to_container(cfg, resolve=True), metrics=results,
                             provenance={"data": data_provenance(
                                 find_traces(ec.data_dir)[0].parent, split["train_names"],
                                 split["test_names"])})
        results["exported"] = str(path)
        console.print(f"exported policy: {path}")
    results["checkpoint"] = str(ckpt_path)
    results["total_seconds"] = time.perf_counter() - t0
    (run_dir / "results.json").write_text(json.dumps(results, indent=2))
    logger.finish()
    return results

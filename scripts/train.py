"""Train a policy (Hydra): ``python scripts/train.py [overrides]``.

mallocMuZero: ``python scripts/train.py experiment=muzero_malloc_mapping`` (or
``agent=gumbel_muzero|muzero|alphazero``): :func:`heurist.agents.muzero.hydra_train.train_muzero`
trains the search agent's network on synthetic Malloc mapping instances, evaluates it on held-out
ones and exports it under ``<run_dir>/policy`` (``heurist plan --method search --policy``).

Routing: ``python scripts/train.py experiment=camp_pvrp_p_n20_m3`` (or ``am_``/``pomo_``...; see
``configs/experiment/``): REINFORCE on PVRP, the held-out test set against the classical
constructors, the exported artifact under ``<run_dir>/policy``.

Defaults (paging): Belady imitation + REINFORCE on BrightKite's first 70 users (sorted file names), then
evaluation on the 30 held-out users against the classical policies; writes ``checkpoint.pt``,
``policy/`` (the exported artifact), ``results.json`` and ``metrics.csv`` under the run dir.

Exit status: 0 done; 1 the learned policy did not beat LRU (``trainer.require_beats_lru``) or the
best classical constructor (``trainer.require_beats_classical``, routing);
2 bad input (an unknown experiment, group option or key, a value out of range, missing data),
reported as one line on stderr before any work, with no run folder left behind.
In a multirun (``-m``) a failed member raises instead of exiting (``MemberFailed``, with the
status it would have exited with), so the other members run on and the sweep callback
(``hydra/callbacks=sweep``, on with ``hydra/launcher=local|slurm``) names it in
``<sweep_dir>/sweep_summary.json``.
"""
from __future__ import annotations

import hydra
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig, open_dict

PROG = "train.py"


@hydra.main(config_path="pkg://heurist.configs", config_name="train", version_base="1.3")
def main(cfg: DictConfig) -> int:
    from heurist.agents.entry import discard_unused_run_dir, fail, stop
    from heurist.agents.muzero.hydra_train import is_muzero_config, train_muzero
    from heurist.agents.trainer import train

    hydra_dir = HydraConfig.get().runtime.output_dir
    if cfg.trainer.run_dir is None:
        with open_dict(cfg):
            cfg.trainer.run_dir = hydra_dir
    try:
        if is_muzero_config(cfg):  # the search agents have their own loop and checks
            results = train_muzero(cfg)
        else:
            results = train(cfg)
    except (FileNotFoundError, ValueError) as exc:
        discard_unused_run_dir(hydra_dir, job_name=HydraConfig.get().job.name)
        fail(PROG, exc)
    if cfg.trainer.evaluate and cfg.trainer.get("require_beats_lru", False) and not results.get(
            "beats_lru", True):
        stop(PROG, "the learned policy did not beat LRU", status=1, quiet=True)
    if cfg.trainer.evaluate and cfg.trainer.get("require_beats_classical", False) and not \
            results.get("beats_classical", True):
        stop(PROG, "the learned policy did not beat the best classical constructor", status=1,
             quiet=True)
    return 0


def check(cfg: DictConfig) -> None:
    """The composed config's values, before any work (the search agents' checks for
    ``agent=gumbel_muzero|muzero|alphazero``, the paging/routing checks otherwise)."""
    from heurist.agents.config_check import check_train_config

    check_train_config(cfg)


if __name__ == "__main__":
    from heurist.agents.entry import run_checked

    run_checked(main, prog=PROG, config_name="train", check=check)

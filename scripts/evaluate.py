"""Evaluate a trained eviction policy on the held-out BrightKite users (Hydra):

    python scripts/evaluate.py policy=outputs/train/<run>/policy [cache_sizes=[5,10,20,40]]

``policy`` is an exported policy folder (``policy/``) or a training checkpoint (``checkpoint.pt``).
Prints a rich table (misses / OPT per policy and cache size) and writes ``evaluation.json``,
``evaluation.csv`` and ``miss_ratio.png`` (miss ratio vs cache size, one line per policy).

Exit status: 0 done; 2 bad input (unknown key, bad value, missing policy or data), reported as
one line on stderr before any work, with no run folder left behind.
"""
from __future__ import annotations

import hydra
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig

PROG = "evaluate.py"


@hydra.main(config_path="pkg://heurist.configs", config_name="evaluate", version_base="1.3")
def main(cfg: DictConfig) -> int:
    from heurist.agents.entry import discard_unused_run_dir, fail
    from heurist.agents.evaluate_run import run_evaluation

    hydra_dir = HydraConfig.get().runtime.output_dir
    try:
        run_evaluation(cfg, cfg.out_dir or hydra_dir)
    except (FileNotFoundError, ValueError) as exc:
        discard_unused_run_dir(hydra_dir, job_name=HydraConfig.get().job.name)
        fail(PROG, exc)
    return 0


if __name__ == "__main__":
    from heurist.agents.config_check import check_evaluate_config
    from heurist.agents.entry import run_checked

    run_checked(main, prog=PROG, config_name="evaluate", check=check_evaluate_config)

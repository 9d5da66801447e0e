"""Evaluate a trained eviction policy on the held-out BrightKite users (Hydra):

    python scripts/evaluate.py policy=outputs/train/<run>/policy.pt [cache_sizes=[5,10,20,40]]

``policy`` is an exported policy (``policy.pt``) or a training checkpoint (``checkpoint.pt``).
Prints a rich table (misses / OPT per policy and cache size) and writes ``evaluation.json``,
``evaluation.csv`` and ``miss_ratio.png`` (miss ratio vs cache size, one line per policy).
"""
from __future__ import annotations

import sys

import hydra
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig


@hydra.main(config_path="pkg://heurist.configs", config_name="evaluate", version_base="1.3")
def main(cfg: DictConfig) -> int:
    from heurist.agents.evaluate_run import run_evaluation

    try:
        run_evaluation(cfg, cfg.out_dir or HydraConfig.get().runtime.output_dir)
    except (FileNotFoundError, ValueError) as exc:
        print(f"evaluate.py: error: {exc}", file=sys.stderr)
        sys.exit(2)
    return 0


if __name__ == "__main__":
    main()

"""Train the paging eviction policy (Hydra): ``python scripts/train.py [overrides]``.

Defaults: Belady imitation + REINFORCE on BrightKite's first 70 users (sorted file names), then
evaluation on the 30 held-out users against the classical policies; writes ``checkpoint.pt``,
``policy.pt`` (exported), ``results.json`` and ``metrics.csv`` under the run dir.
"""
from __future__ import annotations

import sys

import hydra
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig, open_dict


@hydra.main(config_path="pkg://heurist.configs", config_name="train", version_base="1.3")
def main(cfg: DictConfig) -> int:
    from heurist.agents.trainer import train

    if cfg.trainer.run_dir is None:
        with open_dict(cfg):
            cfg.trainer.run_dir = HydraConfig.get().runtime.output_dir
    try:
        results = train(cfg)
    except FileNotFoundError as exc:
        print(f"train.py: error: {exc}", file=sys.stderr)
        sys.exit(2)
    if cfg.trainer.evaluate and cfg.trainer.require_beats_lru and not results["beats_lru"]:
        sys.exit(1)
    return 0


if __name__ == "__main__":
    main()

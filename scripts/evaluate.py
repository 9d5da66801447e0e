"""Evaluate a trained eviction policy on the held-out BrightKite users (Hydra):

    python scripts/evaluate.py policy=outputs/train/<run>/policy.pt [cache_sizes=[5,10,20,40]]

``policy`` is an exported policy (``policy.pt``) or a training checkpoint (``checkpoint.pt``).
Prints a rich table (misses / OPT per policy and cache size) and writes ``evaluation.json``,
``evaluation.csv`` and ``miss_ratio.png`` (miss ratio vs cache size, one line per policy).
"""
from __future__ import annotations

import csv
import json
import sys
from pathlib import Path

import hydra
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig


def _load(path: Path):
    import torch
    from heurist.agents.policy import NetPolicy
    from heurist.policies.export import load_policy
    from omegaconf import OmegaConf

    blob = torch.load(path, map_location="cpu", weights_only=True) if path.is_file() else None
    if isinstance(blob, dict) and "net" in blob and "config" in blob:  # a training checkpoint
        from heurist.agents.trainer import build_net

        net = build_net(OmegaConf.create(blob["config"]["agent"]))
        net.load_state_dict(blob["net"])
        return NetPolicy(net.eval())
    return load_policy(path)


def _plot(results: dict, sizes: list[int], requests: int, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.4, 4.2))
    for name in sorted(results, key=lambda n: -results[n][str(sizes[0])]):
        ys = [results[name][str(k)] / requests for k in sizes]
        ax.plot(sizes, ys, marker="o", lw=2.5 if name == "Learned" else 1.2, label=name)
    ax.set_xlabel("cache size k (pages)")
    ax.set_ylabel("miss ratio")
    ax.set_xscale("log", base=2)
    ax.set_xticks(sizes, [str(k) for k in sizes])
    ax.set_title("held-out BrightKite users")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


@hydra.main(config_path="pkg://heurist.configs", config_name="evaluate", version_base="1.3")
def main(cfg: DictConfig) -> int:
    import torch
    from heurist.agents.data import load_split
    from heurist.agents.evaluation import compare
    from rich.console import Console
    from rich.table import Table

    torch.set_num_threads(int(cfg.threads))
    console = Console()
    out = Path(cfg.out_dir or HydraConfig.get().runtime.output_dir)
    out.mkdir(parents=True, exist_ok=True)
    try:
        policy = _load(Path(cfg.policy))
        split = load_split(cfg.env.data_dir, n_train=cfg.env.n_train)
    except (FileNotFoundError, ValueError) as exc:
        print(f"evaluate.py: error: {exc}", file=sys.stderr)
        sys.exit(2)
    sizes = [int(k) for k in cfg.cache_sizes]
    requests = sum(len(t) for t in split["test"])
    results: dict[str, dict[str, float]] = {}
    for k in sizes:
        per = compare({"Learned": policy}, split["test"], cache_size=k,
                      predictor=cfg.env.predictor, seed=int(cfg.env.eval_seed),
                      baselines=list(cfg.baselines))
        for name, v in per.items():
            results.setdefault(name, {})[str(k)] = float(v.sum())
    table = Table(title=f"held-out BrightKite users ({len(split['test'])}): misses / OPT, "
                        f"predictor {cfg.env.predictor}")
    table.add_column("policy")
    for k in sizes:
        table.add_column(f"k={k}", justify="right")
    for name in sorted(results, key=lambda n: results[n][str(sizes[0])]):
        table.add_row(name, *[f"{results[name][str(k)] / results['OPT'][str(k)]:.3f}"
                              for k in sizes])
    console.print(table)
    payload = {"policy": str(cfg.policy), "predictor": str(cfg.env.predictor),
               "cache_sizes": sizes, "requests": requests, "test_users": split["test_names"],
               "misses": results}
    (out / "evaluation.json").write_text(json.dumps(payload, indent=2))
    with (out / "evaluation.csv").open("w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["policy", "cache_size", "misses", "miss_ratio", "over_opt"])
        for name, row in results.items():
            for k in sizes:
                m = row[str(k)]
                w.writerow([name, k, m, m / requests, m / results["OPT"][str(k)]])
    _plot(results, sizes, requests, out / "miss_ratio.png")
    console.print(f"wrote {out / 'evaluation.json'}, evaluation.csv, miss_ratio.png")
    return 0


if __name__ == "__main__":
    main()

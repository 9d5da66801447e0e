"""The evaluation run behind ``scripts/evaluate.py``: a trained policy vs the baselines on the
held-out users at several cache sizes; rich table, JSON, CSV and a miss-ratio PNG."""
from __future__ import annotations

import csv
import json
from pathlib import Path

import torch
from omegaconf import DictConfig, OmegaConf

__all__ = ["load_any_policy", "plot_miss_ratio", "run_evaluation"]


def load_any_policy(path):
    """A td-policy from an exported policy artifact (a folder: ``weights.safetensors`` +
    ``manifest.json``) or a training checkpoint (``checkpoint.pt``)."""
    from heurist.agents.policy import NetPolicy
    from heurist.policies.export import load_policy

    path = Path(path)
    if path.is_dir():
        return load_policy(path)
    if not path.is_file():
        raise FileNotFoundError(f"policy not found: {path}")
    try:
        blob = torch.load(path, map_location="cpu", weights_only=True)
    except Exception:  # noqa: BLE001 - any unreadable file is "not a checkpoint"
        blob = None
    if not (isinstance(blob, dict) and "net" in blob and "config" in blob):
        raise ValueError(f"{path}: neither a policy artifact folder nor a training checkpoint "
                         f"(a policy.pt from an older heurist: re-export its checkpoint.pt with "
                         f"heurist export)")
    env = blob["config"].get("env", {})
    if env.get("gap_features") or str(env.get("input_predictor", "none")) != "none":
        # its inputs are channels this evaluation's env does not compute
        raise ValueError(f"{path}: trained with env.gap_features / env.input_predictor; export it "
                         f"(heurist export) and evaluate with scripts/benchmark_paging_slot.py "
                         f"--artifact DIR")
    from heurist.agents.trainer import build_net

    net = build_net(OmegaConf.create(blob["config"]["agent"]), env_cfg=env)
    net.load_state_dict(blob["net"])
    return NetPolicy(net.eval())


def plot_miss_ratio(results: dict, sizes: list[int], requests: int, path) -> None:
    """Miss ratio vs cache size, one line per policy, as a PNG (Agg backend)."""
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


def run_evaluation(cfg: DictConfig, out_dir, *, console=None) -> dict:
    """Evaluates ``cfg.policy`` (see ``configs/evaluate.yaml``); writes ``evaluation.json``,
    ``evaluation.csv`` and ``miss_ratio.png`` under ``out_dir``; returns the JSON payload."""
    from rich.console import Console
    from rich.table import Table

    from heurist.agents.data import load_split, total_requests
    from heurist.agents.evaluation import compare

    console = console or Console()
    torch.set_num_threads(int(cfg.threads))
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    policy = load_any_policy(cfg.policy)
    inputs = (getattr(policy, "manifest", {}).get("training", {}).get("env", {})
              .get("input_predictor", "none"))
    if str(inputs) != "none":  # its inputs come from a learned predictor this env does not run
        raise ValueError(f"policy={cfg.policy}: reads input predictor {inputs}; evaluate it with "
                         f"scripts/benchmark_paging_slot.py --artifact DIR or heurist simulate "
                         f"--policy learned:DIR")
    split = load_split(cfg.env.data_dir, n_train=cfg.env.n_train)
    sizes = [int(k) for k in cfg.cache_sizes]
    requests = total_requests(split["test"])
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
    ref = results.get("OPT")
    for name in sorted(results, key=lambda n: results[n][str(sizes[0])]):
        table.add_row(name, *[f"{results[name][str(k)] / ref[str(k)]:.3f}" if ref
                              else f"{results[name][str(k)]:,.0f}" for k in sizes])
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
                w.writerow([name, k, m, m / requests, m / ref[str(k)] if ref else ""])
    plot_miss_ratio(results, sizes, requests, out / "miss_ratio.png")
    console.print(f"wrote {out / 'evaluation.json'}, evaluation.csv, miss_ratio.png")
    return payload

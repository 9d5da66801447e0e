"""Paging env benchmark: TorchRL batched env throughput, and the learned policy's quality row.

    python scripts/benchmark_paging_env.py [--batch 1 64 1024] [--steps 300] \
        [--policy outputs/train/<run>/policy] [--data-dir DIR]

Throughput: ``env.step`` (the public TorchRL path, spec checks included) with random legal
actions on the BrightKite training users (the shipped data set unless ``--data-dir`` names
another folder; ``--data-dir synthetic`` uses Zipf traces instead), k = 10, after a
warm-up. Reports batched steps/s and env-steps/s (= decisions of not-done rows per second).
Quality: misses / OPT at k = 10 on the 30 held-out users for the learned policy and baselines.
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import torch
from rich.console import Console
from rich.table import Table

from heurist.envs.paging.env import PagingEnv
from heurist.envs.paging.generator import PagingGenerator


def _folder(folder: str | None) -> Path | None:
    """The BrightKite folder (None for synthetic traces); exit 2 with one line if it is not one."""
    if folder == "synthetic":
        return None
    from heurist.envs.common.data import data_dir

    path = Path(folder) if folder else data_dir("paging/brightkite")
    if not path.is_dir():
        print(f"benchmark_paging_env.py: error: --data-dir {path}: not a folder of BrightKite "
              "traces (omit it for the shipped set)", file=sys.stderr)
        raise SystemExit(2)
    return path


def _traces(path: Path | None):
    if path is None:
        return None, "synthetic Zipf traces (2100 requests, 500 pages, alpha 0.8)"
    from heurist.agents.data import load_split

    return load_split(path)["train"], "BrightKite training users"


def throughput(B: int, *, steps: int, traces, seed: int = 0) -> dict:
    """Times ``steps`` batched ``env.step`` calls at batch ``B`` -> dict of rates."""
    gen = (PagingGenerator(traces=traces, length=None, predictor="noisy:10") if traces
           else PagingGenerator(length=2100, n_pages=500, alpha=0.8, predictor="noisy:10"))
    inst = gen(B, np.random.default_rng(seed))
    env = PagingEnv(cache_size=10, generator=gen)
    g = torch.Generator().manual_seed(seed)
    td = env.reset(instance=inst.clone())
    for _ in range(5):  # warm-up (numba is cached, TorchRL's first step builds its caches)
        td["action"] = torch.multinomial(td["action_mask"].float(), 1, generator=g).squeeze(-1)
        td = env.step(td)["next"]
    td = env.reset(instance=inst.clone())
    active = 0
    t0 = time.perf_counter()
    n = 0
    while n < steps and not bool(td["done"].all()):
        active += int((~td["done"]).sum())
        td["action"] = torch.multinomial(td["action_mask"].float(), 1, generator=g).squeeze(-1)
        td = env.step(td)["next"]
        n += 1
    dt = time.perf_counter() - t0
    return {"B": B, "calls": n, "seconds": dt, "calls_per_s": n / dt, "env_steps_per_s": active / dt}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--batch", type=int, nargs="+", default=[1, 64, 1024])
    ap.add_argument("--steps", type=int, default=300)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--data-dir", default=None, help="folder of BrightKite traces (default: the "
                    "shipped set), or 'synthetic'")
    ap.add_argument("--policy", type=Path, default=None, help="exported policy for the quality row")
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    console = Console()
    folder = _folder(args.data_dir)
    traces, source = _traces(folder)
    table = Table(title=f"PagingEnv throughput (k = 10, {source}, {args.threads} thread)")
    for col in ("B", "step calls", "seconds", "calls/s", "env-steps/s"):
        table.add_column(col, justify="right")
    for B in args.batch:
        r = throughput(B, steps=args.steps, traces=traces)
        table.add_row(str(B), str(r["calls"]), f"{r['seconds']:.2f}", f"{r['calls_per_s']:,.0f}",
                      f"{r['env_steps_per_s']:,.0f}")
    console.print(table)
    if args.policy is not None:
        from heurist.agents.data import load_split, total_requests
        from heurist.agents.evaluation import compare, results_table
        from heurist.policies.export import load_policy

        split = load_split(folder or _folder(None))
        per = compare({"Learned": load_policy(args.policy)}, split["test"], cache_size=10,
                      predictor="noisy:10", seed=12345)
        console.print(results_table(per, requests=total_requests(split["test"]),
                                    title="held-out BrightKite users, k = 10, noisy:10"))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""Search speed: simulations per second of the batched search library (``heurist.agents.search``).

One simulation is one selected-expanded-backed-up edge in one tree, so a search of ``n``
simulations on ``B`` trees counts ``B * n`` simulations. Models: ``mlp``, a tiny torch MLP (the
dynamics ``[emb + one-hot action] -> 64 -> emb`` with a ``emb -> A + 2`` head for logits, value
and reward; emb 32, one torch thread, inference mode), and ``noop``, a numpy model returning
constant arrays (the tree's own cost). LightZero's compiled C++ tree: ~99 k sims/s at B = 64,
A = 20 on the project machine (issue 10).

    python scripts/benchmark_search.py                        # B 64, A 20, 50 sims, 5 repeats
    python scripts/benchmark_search.py --batch 64 --actions 20 --simulations 50 --repeats 5 --out docs/benchmarks/search.md
"""
from __future__ import annotations

import argparse
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np

LIGHTZERO_SIMS_PER_S = 99_000


def make_mlp(num_actions: int, emb: int, seed: int):
    import torch

    torch.manual_seed(seed)
    dyn = torch.nn.Sequential(torch.nn.Linear(emb + num_actions, 64), torch.nn.ReLU(),
                              torch.nn.Linear(64, emb), torch.nn.Tanh())
    head = torch.nn.Linear(emb, num_actions + 2)
    eye = torch.eye(num_actions)

    def recurrent_fn(params, rng, action, embedding):
        from heurist.agents.search import RecurrentOutput

        with torch.inference_mode():
            a = torch.from_numpy(action)
            new = dyn(torch.cat([embedding, eye[a]], dim=1))
            out = head(new).numpy()
        return RecurrentOutput(reward=out[:, -1], discount=np.ones(len(action)),
                               prior_logits=out[:, :num_actions], value=out[:, -2]), new

    def root(batch: int):
        from heurist.agents.search import RootOutput

        with torch.inference_mode():
            emb0 = torch.randn(batch, emb)
            out = head(emb0).numpy()
        return RootOutput(prior_logits=out[:, :num_actions], value=out[:, -2], embedding=emb0)

    return recurrent_fn, root


def make_noop(num_actions: int, emb: int, seed: int):
    from heurist.agents.search import RecurrentOutput, RootOutput

    def recurrent_fn(params, rng, action, embedding):
        b = len(action)
        return RecurrentOutput(reward=np.zeros(b), discount=np.ones(b),
                               prior_logits=np.zeros((b, num_actions)),
                               value=np.zeros(b)), embedding

    def root(batch: int):
        return RootOutput(prior_logits=np.zeros((batch, num_actions)), value=np.zeros(batch),
                          embedding=np.zeros((batch, emb), np.float32))

    return recurrent_fn, root


def measure(policy_name: str, model: str, batch: int, actions: int, sims: int, repeats: int,
            seed: int) -> dict:
    from heurist.agents.search import gumbel_muzero_policy, muzero_policy

    policy = {"gumbel": gumbel_muzero_policy, "puct": muzero_policy}[policy_name]
    recurrent_fn, root_fn = {"mlp": make_mlp, "noop": make_noop}[model](actions, 32, seed)
    root = root_fn(batch)
    policy((), seed, root, recurrent_fn, sims)  # warm-up (numba cache load, torch kernels)
    times, cpu = [], []
    for r in range(repeats):
        t0, c0 = time.perf_counter(), time.process_time()
        policy((), seed + r, root, recurrent_fn, sims)
        times.append(time.perf_counter() - t0)
        cpu.append(time.process_time() - c0)
    best = min(times)
    return {"policy": policy_name, "model": model, "B": batch, "A": actions, "sims": sims,
            "best_s": best, "median_s": float(np.median(times)), "cpu_s": min(cpu),
            "sims_per_s": batch * sims / best,
            "median_sims_per_s": batch * sims / float(np.median(times)),
            "cpu_sims_per_s": batch * sims / min(cpu)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, nargs="+", default=[64])
    parser.add_argument("--actions", type=int, default=20)
    parser.add_argument("--simulations", type=int, default=50)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=None, help="write the markdown table here")
    args = parser.parse_args(argv)
    for name in ("actions", "simulations", "repeats"):
        if getattr(args, name) < 1:
            print(f"benchmark_search: --{name} must be >= 1", file=sys.stderr)
            return 2
    if min(args.batch) < 1:
        print("benchmark_search: --batch must be >= 1", file=sys.stderr)
        return 2
    if args.out is not None and not args.out.parent.is_dir():
        print(f"benchmark_search: --out folder {args.out.parent} does not exist", file=sys.stderr)
        return 2
    import torch

    torch.set_num_threads(1)
    rows = []
    for batch in args.batch:
        for model in ("mlp", "noop"):
            for policy in ("gumbel", "puct"):
                row = measure(policy, model, batch, args.actions, args.simulations,
                              args.repeats, args.seed)
                rows.append(row)
                print(f"{policy:6s} {model:4s} B={batch:4d} A={args.actions} n={args.simulations}"
                      f"  best {row['best_s'] * 1e3:8.1f} ms  {row['sims_per_s']:10,.0f} sims/s"
                      f" (median {row['median_sims_per_s']:,.0f}; per CPU second "
                      f"{row['cpu_sims_per_s']:,.0f}; "
                      f"{row['sims_per_s'] / LIGHTZERO_SIMS_PER_S:.2f}x LightZero)", flush=True)
    if args.out is not None:
        lines = ["| policy | model | B | A | sims/search | best ms/search | sims/s (best wall) | "
                 "sims/s (median wall) | sims per CPU s | best wall / LightZero 99k |",
                 "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
        for r in rows:
            lines.append(f"| {r['policy']} | {r['model']} | {r['B']} | {r['A']} | {r['sims']} | "
                         f"{r['best_s'] * 1e3:.1f} | {r['sims_per_s']:,.0f} | "
                         f"{r['median_sims_per_s']:,.0f} | {r['cpu_sims_per_s']:,.0f} | "
                         f"{r['sims_per_s'] / LIGHTZERO_SIMS_PER_S:.2f}x |")
        load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
        lines.append("")
        lines.append(f"python {platform.python_version()}, numpy {np.__version__}, torch "
                     f"{torch.__version__}, {os.cpu_count()} CPUs, load average {load:.1f} "
                     "when finished; best of the repeats after one warm-up search.")
        args.out.write_text("\n".join(lines) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

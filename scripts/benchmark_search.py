"""Search speed: simulations per second of the batched search library (``heurist.agents.search``).

One simulation is one selected-expanded-backed-up edge in one tree, so a search of ``n``
simulations on ``B`` trees counts ``B * n`` simulations. Models: ``mlp``, a tiny torch MLP (the
dynamics ``[emb + one-hot action] -> 64 -> emb`` with a ``emb -> A + 2`` head for logits, value
and reward; emb 32, one torch thread, inference mode), and ``noop``, a numpy model returning
constant arrays (the tree's own cost). LightZero's compiled C++ tree: ~99 k sims/s at B = 64,
A = 20 on the project machine (issue 10).

``--quality`` adds a planning check: 64 random depth-3 games with 3 actions and negative step
rewards (costs), planned move by move with the true simulator as the model, a uniform prior and
zero values; the table gives the fraction of games where the played return equals the optimum.

    python scripts/benchmark_search.py                        # B 64, A 20, 50 sims, 5 repeats
    python scripts/benchmark_search.py --batch 1 64 256 --repeats 10 --quality --out /tmp/search.md
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


def depth3_games(num_games: int, seed: int) -> np.ndarray:
    """``[G, 3, 3, 3]`` total returns of every path and the per-step rewards of random cost games
    (the cheapest first step gets a +2 cost penalty at the last step, so greedy play fails)."""
    rng = np.random.default_rng(seed)
    r1 = -rng.uniform(0, 1, size=(num_games, 3))
    r2 = -rng.uniform(0, 1, size=(num_games, 3, 3))
    r3 = -rng.uniform(0, 3, size=(num_games, 3, 3, 3))
    r3[np.arange(num_games), r1.argmax(axis=1)] -= 2.0
    return r1, r2, r3


def solved_fraction(policy_name: str, sims: int, num_games: int = 64,
                    seed: int = 0) -> tuple[float, float]:
    """Plays every game with one search per move: (fraction ending at the optimal return, mean
    regret = optimum - return)."""
    from heurist.agents.search import (
        RecurrentOutput,
        RootOutput,
        gumbel_muzero_policy,
        muzero_policy,
    )

    r1, r2, r3 = depth3_games(num_games, seed)
    rows = np.arange(num_games)

    def step(paths, action):
        """paths [G, 4]: depth then up to three actions; returns (reward, new paths)."""
        depth = paths[:, 0]
        new = paths.copy()
        slot = 1 + np.minimum(depth, 2)
        new[rows, slot] = np.where(depth < 3, action, new[rows, slot])  # past the end: unchanged
        new[:, 0] = depth + 1
        p = new[:, 1:]
        reward = np.select([depth == 0, depth == 1, depth == 2],
                           [r1[rows, p[:, 0]], r2[rows, p[:, 0], p[:, 1]],
                            r3[rows, p[:, 0], p[:, 1], p[:, 2]]], 0.0)
        return reward, new

    def recurrent_fn(params, rng, action, embedding):
        reward, new = step(embedding, action)
        return RecurrentOutput(reward=reward, discount=(new[:, 0] < 3).astype(float),
                               prior_logits=np.zeros((num_games, 3)),
                               value=np.zeros(num_games)), new

    policy = {"gumbel": lambda *a: gumbel_muzero_policy(*a, gumbel_scale=0.0),
              "puct": lambda *a: muzero_policy(*a, dirichlet_fraction=0.0)}[policy_name]
    paths = np.zeros((num_games, 4), np.int64)
    total = np.zeros(num_games)
    for move in range(3):
        root = RootOutput(np.zeros((num_games, 3)), np.zeros(num_games), paths)
        out = policy((), move, root, recurrent_fn, sims)
        reward, paths = step(paths, out.action)
        total += reward
    best = (r1[:, :, None, None] + r2[:, :, :, None] + r3).reshape(num_games, -1).max(axis=1)
    return float(np.mean(np.isclose(total, best))), float(np.mean(best - total))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, nargs="+", default=[64])
    parser.add_argument("--actions", type=int, default=20)
    parser.add_argument("--simulations", type=int, default=50)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--quality", action="store_true",
                        help="also the solved fraction of random depth-3 cost games")
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
    quality = []
    if args.quality:
        for sims in (8, 16, 32, 64, 128, 256):
            fr = {p: solved_fraction(p, sims, seed=args.seed) for p in ("gumbel", "puct")}
            quality.append((sims, fr))
            print(f"depth-3 games, {sims:4d} sims/move: solved gumbel {fr['gumbel'][0]:.3f} "
                  f"(regret {fr['gumbel'][1]:.3f}), puct {fr['puct'][0]:.3f} "
                  f"(regret {fr['puct'][1]:.3f})", flush=True)
    if args.out is not None:
        lines = [("| policy | model | B | A | sims/search | best ms/search | sims/s (best wall) | "
                 "sims/s (median wall) | sims per CPU s | best wall / LightZero 99k |"),
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
        if quality:
            lines += ["", ("| sims per move | Gumbel MuZero (g = 0) solved | regret | "
                      "PUCT (no noise) solved | regret |"), "|---:|---:|---:|---:|---:|"]
            lines += [f"| {n} | {fr['gumbel'][0]:.3f} | {fr['gumbel'][1]:.3f} | "
                      f"{fr['puct'][0]:.3f} | {fr['puct'][1]:.3f} |" for n, fr in quality]
        args.out.write_text("\n".join(lines) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

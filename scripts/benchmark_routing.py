"""Learned routing policies vs the classical constructors and PyVRP on held-out PVRP instances.

    python scripts/benchmark_routing.py --policy camp=policies/pvrp/zoo/camp-pvrp-p \\
        --policy am=outputs/train/<run>/policy --pyvrp-seconds 1 --out docs/benchmarks/routing.md

The test set is ``generate(--test-size, ..., rng=--test-seed)`` (the env config's held-out set:
seed 20250901, 128 instances; training draws come from SeedSequence([seed, iteration]) states).
Every learned solution goes through the env oracles and ``check_routes`` (inside
``LearnedRoutingPolicy.solve``), every solver's through ``check_routes`` (``solve_batch``). Gaps
are to PyVRP at the given time limit on the same instances and to the best classical constructor.
Latency per instance is measured at batch 1 and batch 1,024 (greedy, one torch thread).
``--train-speed`` measures REINFORCE training throughput (instances/s) with fp32, bf16 autocast
and ``torch.compile`` on the real training path; ``--zero-shot`` evaluates at larger N and M.
"""
from __future__ import annotations

import argparse
import platform
import sys
import time
from datetime import datetime, timezone

import numpy as np


def _args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--policy", action="append", default=[], metavar="NAME=FOLDER",
                   help="a learned policy artifact (repeatable); FOLDER may be a shipped name")
    p.add_argument("--variant", default="p", choices=("p", "zc"))
    p.add_argument("--n-clients", type=int, default=20)
    p.add_argument("--n-vehicles", type=int, default=3)
    p.add_argument("--capacity", type=float, default=40,
                   help="vehicle capacity (TSP: 1000, never binding; CVRP20: 30)")
    p.add_argument("--weights", type=float, nargs=2, default=(0.9, 0.1),
                   metavar=("W_TIME", "W_PREF"), help="objective weights (TSP/CVRP: 1 0)")
    p.add_argument("--test-size", type=int, default=128)
    p.add_argument("--test-seed", type=int, default=20250901)
    p.add_argument("--decodes", default="greedy,aug8")
    p.add_argument("--pyvrp-seconds", default="1", help="comma list of PyVRP limits (0: none)")
    p.add_argument("--pyvrp-instances", default=None,
                   help="comma list aligned with --pyvrp-seconds: PyVRP at that limit on the "
                        "first K test instances only (default: all)")
    p.add_argument("--latency", action="store_true", help="batch 1 and batch 1,024 latency")
    p.add_argument("--train-speed", action="store_true",
                   help="training throughput fp32 / bf16 autocast / torch.compile")
    p.add_argument("--zero-shot", action="store_true", help="also N=40/60 and M=5")
    p.add_argument("--plot", default=None, help="gap vs latency PNG")
    p.add_argument("--out", default=None, help="markdown file to append the tables to")
    p.add_argument("--threads", type=int, default=1)
    args = p.parse_args(argv)
    pols = {}
    for spec in args.policy:
        if "=" not in spec:
            p.error(f"--policy {spec}: expected NAME=FOLDER")
        name, folder = spec.split("=", 1)
        pols[name] = folder
    args.policies = pols
    return args


def _mean_gap(obj: np.ndarray, ref: np.ndarray) -> float:
    return float(100 * (obj.mean() / ref.mean() - 1))


def evaluate_set(policies, inst, *, decodes, pyvrp_seconds, pyvrp_k, weights, rows, timing):
    """Objectives per method on ``inst``; fills ``rows`` (method -> dict: mean objective, gap to
    the best classical constructor, gap to each PyVRP limit on that limit's instances, ms);
    returns (best classical name, PyVRP row names)."""
    from heurist.policies.pvrp import solve_batch
    from heurist.policies.pvrp.learned import load_learned

    objs: dict[str, np.ndarray] = {}
    for m in ("insertion", "nearest"):
        t0 = time.perf_counter()
        recs = solve_batch(inst, m, weights=weights, progress=False)
        objs[m] = np.array([r.objective for r in recs])
        timing[m] = (time.perf_counter() - t0) / inst.S
    for s, k in zip(pyvrp_seconds, pyvrp_k):
        sub = inst[list(range(k))]
        t0 = time.perf_counter()
        recs = solve_batch(sub, "pyvrp", time_limit=s, weights=weights, progress=True)
        objs[f"pyvrp {s:g}s"] = np.array([r.objective for r in recs])
        timing[f"pyvrp {s:g}s"] = (time.perf_counter() - t0) / sub.S
    for name, folder in policies.items():
        pol = load_learned(folder)
        pol.check_instances(inst, source="test set")
        pol.solve(inst[[0]], weights=weights)  # warm-up: numba kernels, first-call allocations
        for dec in decodes:
            t0 = time.perf_counter()
            recs = pol.solve(inst, weights=weights, decode=dec)
            objs[f"{name} {dec}"] = np.array([r.objective for r in recs])
            timing[f"{name} {dec}"] = (time.perf_counter() - t0) / inst.S
    best_classical = min(("insertion", "nearest"), key=lambda m: objs[m].mean())
    refs = [(f"pyvrp {s:g}s", k) for s, k in zip(pyvrp_seconds, pyvrp_k)]
    for m, v in objs.items():
        rows[m] = {"objective": float(v.mean()), "n": len(v),
                   "gap_classical": _mean_gap(v, objs[best_classical][:len(v)]),
                   "gap_pyvrp": {r: _mean_gap(v[:k], objs[r]) for r, k in refs if len(v) >= k},
                   "ms": 1e3 * timing[m]}
        # the plot's gap: to the strongest PyVRP run
        rows[m]["gap_plot"] = rows[m]["gap_pyvrp"].get(refs[-1][0]) if refs else None
    return best_classical, [r for r, _ in refs]


def latency(policies, *, variant, N, M, weights, seed, capacity=40) -> dict:
    """ms per instance of the greedy episode alone (network + env steps, no oracle check): batch 1
    (16 instances one by one, after a warm-up) and batch 1,024."""
    import torch

    from heurist.envs.pvrp import PVRPEnv, PVRPSequentialEnv, generate
    from heurist.policies.decoding import run_episode
    from heurist.policies.pvrp.learned import load_learned

    out = {}
    big = generate(1024, n_clients=N, n_vehicles=M, variant=variant, capacity=capacity,
                   rng=seed + 1).to_tensordict()
    for name, folder in policies.items():
        pol = load_learned(folder)
        env = (PVRPEnv(n_clients=N, n_vehicles=M, weights=weights, retire=pol.retire)
               if pol.env_name == "PVRP"
               else PVRPSequentialEnv(n_clients=N, n_vehicles=M, weights=weights))
        with torch.inference_mode():
            run_episode(env, pol.net, big[:2])  # warm-up (numba, allocator)
            t0 = time.perf_counter()
            for i in range(16):
                run_episode(env, pol.net, big[i:i + 1])
            b1 = (time.perf_counter() - t0) / 16
            t0 = time.perf_counter()
            run_episode(env, pol.net, big)
            out[name] = (1e3 * b1, 1e3 * (time.perf_counter() - t0) / 1024)
    return out


def train_speed(experiment: str, rounds: int = 3) -> dict:
    """Training instances/s of ``experiment`` with fp32, bf16 autocast and torch.compile: each
    mode's first iteration is a warm-up (compile time included), then ``rounds`` rounds time one
    iteration of every mode in turn (same seeds), so a change of machine load hits all modes
    alike; the median is reported."""
    import torch
    from hydra import compose, initialize_config_module
    from rich.console import Console

    from heurist.agents.routing_task import RoutingTask
    from heurist.agents.trainer import iteration_seed

    modes = (("fp32", []), ("bf16 autocast", ["trainer.amp=true"]),
             ("torch.compile", ["trainer.compile=true"]))
    runs, out = {}, {}
    for label, extra in modes:
        with initialize_config_module("heurist.configs", version_base="1.3"):
            cfg = compose("train", overrides=[f"experiment={experiment}", "trainer.run_dir=/tmp",
                                              *extra])
        task = RoutingTask(cfg, console=Console(quiet=True))
        torch.manual_seed(0)
        net = task.build_net()
        opt = torch.optim.Adam(net.parameters(), lr=1e-4)
        task.setup(net)
        t0 = time.perf_counter()
        task.iteration(net, opt, 0, seed=iteration_seed(0, 0), tgen=torch.Generator())
        k = int(cfg.trainer.n_samples) if str(cfg.agent.baseline) == "shared" else 1
        runs[label] = (task, net, opt, int(cfg.trainer.batch_size) * k)
        out[label] = {"first_iteration_s": time.perf_counter() - t0, "times": []}
    for r in range(1, rounds + 1):
        for label, (task, net, opt, _) in runs.items():
            t0 = time.perf_counter()
            task.iteration(net, opt, r, seed=iteration_seed(0, r), tgen=torch.Generator())
            out[label]["times"].append(time.perf_counter() - t0)
    for label, (_, _, _, n) in runs.items():
        secs = float(np.median(out[label].pop("times")))
        out[label].update({"instances_per_s": n / secs, "s_per_iteration": secs})
    return out


def plot(rows, path, title):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.4, 4.2))
    for m, r in rows.items():
        if r["gap_plot"] is None:
            continue
        ax.scatter(r["ms"], r["gap_plot"], s=40)
        ax.annotate(m, (r["ms"], r["gap_plot"]), fontsize=7, xytext=(3, 3),
                    textcoords="offset points")
    ax.set_xscale("log")
    ax.set_xlabel("ms per instance (batch = the whole test set; PyVRP one by one)")
    ax.set_ylabel("gap to PyVRP (%)")
    ax.set_title(title, fontsize=9)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def main(argv=None) -> int:
    import os

    import torch

    from heurist.envs.pvrp import Weights, generate

    args = _args(argv)
    torch.set_num_threads(args.threads)
    weights = Weights(w_time=args.weights[0], w_pref=args.weights[1])
    pyvrp_seconds = [float(s) for s in args.pyvrp_seconds.split(",") if float(s) > 0]
    decodes = [d for d in args.decodes.split(",") if d]
    inst = generate(args.test_size, n_clients=args.n_clients, n_vehicles=args.n_vehicles,
                    variant=args.variant, capacity=args.capacity, rng=args.test_seed)
    ks = ([int(x) for x in args.pyvrp_instances.split(",")] if args.pyvrp_instances
          else [inst.S] * len(pyvrp_seconds))
    if len(ks) != len(pyvrp_seconds):
        raise SystemExit("--pyvrp-instances needs one count per --pyvrp-seconds value")
    ks = [min(k, inst.S) for k in ks]
    lines = []
    load0 = os.getloadavg()[0]
    stamp = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    lines.append(f"Command: `python {' '.join(sys.argv)}`\n")
    lines.append(f"Machine: {platform.machine()}, {os.cpu_count()} cores shared with other jobs "
                 f"(1-min load {load0:.1f} at start); torch {torch.__version__}, "
                 f"{args.threads} thread(s); {stamp}.\n")
    rows: dict[str, dict] = {}
    timing: dict[str, float] = {}
    best, refs = evaluate_set(args.policies, inst, decodes=decodes, pyvrp_seconds=pyvrp_seconds,
                              pyvrp_k=ks, weights=weights, rows=rows, timing=timing)
    runs = ", ".join(f"{r} on the first {k}" for r, k in zip(refs, ks))
    lines.append(f"PVRP-{args.variant.upper()} N = {args.n_clients}, M = {args.n_vehicles}: "
                 f"{inst.S} test instances (seed {args.test_seed}); {runs or 'no PyVRP'}; "
                 f"capacity {args.capacity:g}, weights ({weights.w_time:g}, {weights.w_pref:g}); "
                 f"mean objective (lower is better), every solution checked "
                 f"by the oracle. ms per instance: learned policies decode the whole set as one "
                 f"batch.\n")
    lines.append(f"| method | instances | mean objective | gap to {best} % | "
                 + "".join(f"gap to {r} % | " for r in refs) + "ms / instance |")
    lines.append("|---|---:|---:|---:|" + "---:|" * len(refs) + "---:|")
    for m, r in sorted(rows.items(), key=lambda kv: kv[1]["objective"]):
        gp = "".join(f"{r['gap_pyvrp'][x]:+.2f} | " if x in r["gap_pyvrp"] else "- | "
                     for x in refs)
        lines.append(f"| {m} | {r['n']} | {r['objective']:.4f} | {r['gap_classical']:+.2f} | "
                     f"{gp}{r['ms']:.1f} |")
    if args.latency and args.policies:
        lat = latency(args.policies, variant=args.variant, N=args.n_clients, M=args.n_vehicles,
                      weights=weights, seed=args.test_seed, capacity=args.capacity)
        lines.append("\nGreedy latency per instance (ms), the episode alone (network + env "
                     "steps, no oracle): batch 1 (16 instances one by one) and batch 1,024.\n")
        lines.append("| policy | batch 1 | batch 1,024 |")
        lines.append("|---|---:|---:|")
        for name, (b1, b1024) in lat.items():
            lines.append(f"| {name} | {b1:.1f} | {b1024:.2f} |")
    if args.zero_shot and args.policies:
        lines.append("\nZero-shot (trained at the sizes above): gap of greedy / aug8 to "
                     "cheapest insertion, 32 instances each (seed = test seed).\n")
        lines.append("| N | M | policy | greedy % | aug8 % |")
        lines.append("|---:|---:|---|---:|---:|")
        for N, M in ((40, 3), (60, 3), (20, 5), (40, 5)):
            zs = generate(32, n_clients=N, n_vehicles=M, variant=args.variant,
                          capacity=args.capacity, rng=args.test_seed)
            zrows: dict[str, dict] = {}
            evaluate_set(args.policies, zs, decodes=["greedy", "aug8"], pyvrp_seconds=[],
                         pyvrp_k=[], weights=weights, rows=zrows, timing={})
            ins = zrows["insertion"]["objective"]
            for name in args.policies:
                g = 100 * (zrows[f"{name} greedy"]["objective"] / ins - 1)
                a = 100 * (zrows[f"{name} aug8"]["objective"] / ins - 1)
                lines.append(f"| {N} | {M} | {name} | {g:+.2f} | {a:+.2f} |")
    if args.train_speed:
        lines.append("\nTraining throughput (instances/s, REINFORCE iteration of the experiment "
                     "config; median of 3 interleaved rounds after a warm-up iteration, whose time includes compilation):\n")
        lines.append("| experiment | mode | instances / s | s / iteration | first iteration s |")
        lines.append("|---|---|---:|---:|---:|")
        for exp in ("camp_pvrp_p_n20_m3", "am_pvrp_p_n20_m3"):
            for label, r in train_speed(exp).items():
                lines.append(f"| {exp} | {label} | {r['instances_per_s']:.0f} | "
                             f"{r['s_per_iteration']:.2f} | {r['first_iteration_s']:.1f} |")
    lines.append(f"\n(1-min load {os.getloadavg()[0]:.1f} at the end.)\n")
    text = "\n".join(lines)
    print(text)
    if args.plot:
        plot(rows, args.plot, f"PVRP-{args.variant.upper()} N={args.n_clients} "
                              f"M={args.n_vehicles}, {inst.S} instances")
    if args.out:
        with open(args.out, "a", encoding="utf-8") as fh:
            fh.write("\n" + text + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())

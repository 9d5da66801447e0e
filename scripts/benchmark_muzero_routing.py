"""AlphaZero-mode search on routing (PVRPSequential) vs the classical constructors, the shipped
learned policies and PyVRP, on the routing benchmark's held-out PVRP-P instances.

    python scripts/benchmark_muzero_routing.py [--instances 64] [--simulations 8,32]
        [--policy am=am-pvrp-p --policy camp=camp-pvrp-p] [--pyvrp-seconds 1] [--out FILE.md]

The instances are the first ``--instances`` of the routing benchmark's test draw
(``generate(128, N=20, M=3, variant p, capacity 40, rng=20250901)``, as
``scripts/benchmark_routing.py``). Search: Gumbel MuZero over the env's true simulator
(``plan_routes``), deterministic (``gumbel_scale=0``), leaf value = the env's greedy rollout,
with a uniform prior (``search/uniform``) and with the classical ``nearest_prior``
(``search/nearest``); every instance in one batch of trees. ``rollout`` is the greedy rollout
policy alone, played from the start. Every solution is checked: search by the env's
``check_solution``/``evaluate`` and ``check_routes`` (``plan_routes``), the solvers by
``check_routes`` (``solve_batch``), the learned policies by the env oracle and ``check_routes``.
"""
from __future__ import annotations

import os
import platform
import sys
import time
from datetime import datetime, timezone

import numpy as np

from heurist.cli.common import OneLineParser, check_out_path

__all__ = ["main"]


def _ints(p, flag: str, text: str) -> list[int]:
    try:
        vals = [int(x) for x in text.split(",") if x]
    except ValueError:
        p.error(f"{flag}: not a comma list of integers: {text!r}")
    if not vals or min(vals) < 1:
        p.error(f"{flag}: needs integers >= 1, got {text!r}")
    return vals


def _args(argv=None):
    p = OneLineParser(prog="benchmark_muzero_routing", description=__doc__.splitlines()[0])
    p.add_argument("--instances", type=int, default=64, help="the first K of the test draw")
    p.add_argument("--test-size", type=int, default=128)
    p.add_argument("--test-seed", type=int, default=20250901)
    p.add_argument("--simulations", default="8,32", help="comma list of search budgets")
    p.add_argument("--priors", default="uniform,nearest", help="comma list: uniform, nearest")
    p.add_argument("--temperature", type=float, default=1.0, help="nearest_prior temperature")
    p.add_argument("--policy", action="append", default=None, metavar="NAME=FOLDER",
                   help="learned policy (repeatable; default am=am-pvrp-p, camp=camp-pvrp-p)")
    p.add_argument("--decodes", default="greedy,aug8")
    p.add_argument("--pyvrp-seconds", type=float, default=1.0, help="0: no PyVRP")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", default=None, help="markdown file to append the table to")
    a = p.parse_args(argv)
    a.sims = _ints(p, "--simulations", a.simulations)
    a.prior_names = [x for x in a.priors.split(",") if x]
    bad = [x for x in a.prior_names if x not in ("uniform", "nearest")]
    if bad or not a.prior_names:
        p.error(f"--priors: expected uniform and/or nearest, got {a.priors!r}")
    if not 1 <= a.instances <= a.test_size:
        p.error(f"--instances: must be in 1..{a.test_size}, got {a.instances}")
    if a.temperature <= 0:
        p.error(f"--temperature: must be > 0, got {a.temperature}")
    specs = a.policy if a.policy is not None else ["am=am-pvrp-p", "camp=camp-pvrp-p"]
    a.policies = {}
    for spec in specs:
        if "=" not in spec:
            p.error(f"--policy {spec}: expected NAME=FOLDER")
        name, folder = spec.split("=", 1)
        a.policies[name] = folder
    if a.out:
        try:
            check_out_path(a.out, example="muzero_routing.md")
        except ValueError as exc:
            p.error(str(exc))
    return a


def main(argv=None) -> int:
    a = _args(argv)
    import torch

    from heurist.agents.muzero.routing import nearest_prior, plan_routes
    from heurist.envs.pvrp import PVRPSequentialEnv, Weights, generate
    from heurist.policies.pvrp import solve_batch
    from heurist.policies.pvrp.learned import load_learned

    torch.set_num_threads(1)
    weights = Weights()
    full = generate(a.test_size, n_clients=20, n_vehicles=3, variant="p", capacity=40,
                    rng=a.test_seed)
    inst = full[list(range(a.instances))]
    load0 = os.getloadavg()[0]
    objs: dict[str, np.ndarray] = {}
    ms: dict[str, float] = {}

    def timed(name, fn):
        t0 = time.perf_counter()
        objs[name] = np.asarray(fn(), np.float64)
        ms[name] = 1e3 * (time.perf_counter() - t0) / inst.S
        print(f"{name}: {objs[name].mean():.4f} ({ms[name]:.1f} ms/instance)", file=sys.stderr)

    for m in ("insertion", "nearest"):
        timed(m, lambda m=m: [r.objective for r in solve_batch(inst, m, weights=weights,
                                                              progress=False)])
    env = PVRPSequentialEnv(n_clients=inst.N, n_vehicles=inst.M, weights=weights)
    env.reset(instance=inst.to_tensordict())
    env.greedy_rollout()  # compiles the kernel outside the timing
    env.reset(instance=inst.to_tensordict())
    timed("rollout", lambda: -env.greedy_rollout())
    plan_routes(inst[[0]], num_simulations=2)  # warm-up: numba kernels of the search
    steps = {}
    for pname in a.prior_names:
        for n in a.sims:
            prior = None if pname == "uniform" else nearest_prior(temperature=a.temperature)
            name = f"search/{pname} {n}"
            box = {}

            def run(n=n, prior=prior, box=box):
                res, ep = plan_routes(inst, num_simulations=n, seed=a.seed, prior=prior)
                box["steps"] = ep.env_steps
                return [r.objective for r in res]

            timed(name, run)
            steps[name] = box["steps"]
    for name, folder in a.policies.items():
        pol = load_learned(folder)
        pol.check_instances(inst, source="test set")
        pol.solve(inst[[0]], weights=weights)  # warm-up
        for dec in [d for d in a.decodes.split(",") if d]:
            timed(f"{name} {dec}", lambda pol=pol, dec=dec: [
                r.objective for r in pol.solve(inst, weights=weights, decode=dec)])
    if a.pyvrp_seconds > 0:
        timed(f"pyvrp {a.pyvrp_seconds:g}s", lambda: [
            r.objective for r in solve_batch(inst, "pyvrp", time_limit=a.pyvrp_seconds,
                                             weights=weights, progress=False)])
    best = min(("insertion", "nearest"), key=lambda m: objs[m].mean())
    ref = f"pyvrp {a.pyvrp_seconds:g}s" if a.pyvrp_seconds > 0 else None
    gap = lambda v, r: 100 * (v.mean() / objs[r].mean() - 1)
    stamp = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    lines = [f"Command: `python scripts/benchmark_muzero_routing.py {' '.join(sys.argv[1:])}`\n",
             (f"Machine: {platform.machine()}, {os.cpu_count()} cores shared with other jobs "
              f"(1-min load {load0:.1f} at start, {os.getloadavg()[0]:.1f} at the end); torch "
              f"{torch.__version__}, 1 thread; {stamp}.\n"),
             (f"PVRP-P N = 20, M = 3, capacity 40, weights (0.9, 0.1): the first {inst.S} of the "
              f"{a.test_size} test instances (seed {a.test_seed}); mean objective (lower is "
              f"better); search seed {a.seed}, nearest_prior temperature {a.temperature:g}.\n"),
             f"| method | mean objective | gap to {best} % | "
             + (f"gap to {ref} % | " if ref else "") + "ms / instance | simulated env steps |",
             "|---|---:|---:|" + ("---:|" if ref else "") + "---:|---:|"]
    for m in sorted(objs, key=lambda k: objs[k].mean()):
        lines.append(f"| {m} | {objs[m].mean():.4f} | {gap(objs[m], best):+.2f} | "
                     + (f"{gap(objs[m], ref):+.2f} | " if ref else "")
                     + f"{ms[m]:.1f} | {steps.get(m, '-')} |")
    wins = {m: int((objs[m] < objs[best] - 1e-9).sum()) for m in steps}
    lines.append("\nInstances where search beats " + best + " (of " + str(inst.S) + "): "
                 + ", ".join(f"{m} {w}" for m, w in wins.items()) + ".")
    text = "\n".join(lines)
    print(text)
    if a.out:
        with open(a.out, "a", encoding="utf-8") as fh:
            fh.write("\n" + text + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""``heurist route``: solve a batch of PVRP instances (.npz) and write validated routes as JSON."""
from __future__ import annotations

import argparse
import json
import math
from pathlib import Path

__all__ = ["register", "run"]

METHODS = ("pyvrp", "ortools", "nearest", "insertion", "random", "pyvrp-reload", "ortools-reload")


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "route", help="solve PVRP instances (PyVRP, OR-Tools or a heuristic)",
        description="Solves every instance of IN.npz (keys depot, locs, demand, capacity, speed, "
        "preference and, for PVRP-ZC, allowed) and writes {'instances': [{'index', 'objective', "
        "'seconds', 'routes'}]}; routes[k] lists vehicle k's trips of 1-based clients. Each "
        "solution is checked by the independent oracle before it is written.")
    parser.add_argument("instances", metavar="IN.npz", help="batch of PVRP instances")
    parser.add_argument("--method", required=True, choices=METHODS)
    parser.add_argument("--time-limit", type=float, default=1.0, metavar="S",
                        help="seconds per instance for pyvrp/ortools (default 1)")
    parser.add_argument("--weights", type=float, nargs=2, default=(0.9, 0.1),
                        metavar=("W_TIME", "W_PREF"), help="objective weights (default 0.9 0.1)")
    parser.add_argument("--minmax", action="store_true",
                        help="makespan objective (ortools and the heuristics; pyvrp refuses)")
    parser.add_argument("--workers", type=int, default=1, metavar="W",
                        help="parallel processes (default 1)")
    parser.add_argument("--seed", type=int, default=0, help="seed (instance s uses seed + s)")
    parser.add_argument("--limit", type=int, default=None, metavar="K",
                        help="solve only the first K instances")
    parser.add_argument("--out", required=True, metavar="ROUTES.json", help="output file")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from heurist.envs.pvrp import Weights, load_npz
    from heurist.policies.pvrp import solve_batch

    if not 0 < args.time_limit < math.inf:  # argparse's float() also takes "nan" and "inf"
        raise ValueError(f"--time-limit must be finite and > 0, got {args.time_limit}")
    if args.workers < 1:
        raise ValueError(f"--workers must be >= 1, got {args.workers}")
    weights = Weights(w_time=args.weights[0], w_pref=args.weights[1], minmax=args.minmax)
    inst = load_npz(args.instances)
    if args.limit is not None:
        if args.limit < 1:
            raise ValueError(f"--limit must be >= 1, got {args.limit}")
        inst = inst[list(range(min(args.limit, inst.S)))]
    records = solve_batch(inst, args.method, time_limit=args.time_limit, weights=weights,
                          seed=args.seed, workers=args.workers, progress=not args.quiet)
    out = {
        "method": args.method,
        "variant": "zc" if inst.is_zc else "p",
        "weights": {"w_time": weights.w_time, "w_pref": weights.w_pref, "minmax": weights.minmax},
        "time_limit": args.time_limit,
        "instances": [{"index": r.index, "objective": r.objective, "seconds": r.seconds,
                       "routes": r.routes} for r in records],
    }
    path = Path(args.out)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(out))
    mean = sum(r.objective for r in records) / len(records)
    secs = sum(r.seconds for r in records) / len(records)
    print(f"{args.method}: {len(records)} instances, mean objective {mean:.4f}, "
          f"{secs:.3f} s per instance -> {path}")
    return 0

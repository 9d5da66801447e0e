"""``heurist route``: solve a batch of PVRP instances (.npz) and write validated routes as JSON.

Bad input exits 2 with one line naming the file (and key) or the flag; every check on the flags
and on ``--out`` runs before the instances are read, and the output is written to a temporary
file in the same folder and renamed into place, so a failure never touches an existing file.
"""
from __future__ import annotations

import argparse
import json
import math

from heurist.cli.common import check_out_path, write_atomic

__all__ = ["register", "run"]

METHODS = ("pyvrp", "ortools", "nearest", "insertion", "random", "pyvrp-reload", "ortools-reload")
#: a learned policy: ``policy:NAME`` (shipped, see --list-policies) or ``policy:PATH`` (a folder)
POLICY_PREFIX = "policy:"

#: seeds are 32-bit unsigned in PyVRP; instance s uses seed + s
MAX_SEED = 2**32 - 1


def _method(value: str) -> str:
    """``--method``: a solver name or ``policy:NAME|PATH`` (refused by the parser otherwise)."""
    if value == POLICY_PREFIX:
        raise argparse.ArgumentTypeError("policy: needs a shipped name or an artifact folder "
                                         "after 'policy:' (see --list-policies)")
    if value not in METHODS and not value.startswith(POLICY_PREFIX):
        raise argparse.ArgumentTypeError(f"invalid choice {value!r} (choose from "
                                         f"{', '.join(METHODS)} or policy:NAME|PATH)")
    return value


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "route", help="solve PVRP instances (PyVRP, OR-Tools or a heuristic)",
        description="Solves every instance of IN.npz (keys depot, locs, demand, capacity, speed, "
        "preference and, for PVRP-ZC, allowed) and writes {'instances': [{'index', 'objective', "
        "'seconds', 'routes'}]}; routes[k] lists vehicle k's trips of 1-based clients. Each "
        "solution is checked by the independent oracle before it is written. Exit codes: 0 "
        "done, 2 bad input (one line on stderr naming the file or the flag).")
    parser.add_argument("instances", metavar="IN.npz", nargs="?", help="batch of PVRP instances")
    parser.add_argument("--method", metavar="METHOD", type=_method,
                        help=f"one of {', '.join(METHODS)}, or policy:NAME|PATH (a learned "
                        f"policy artifact; see --list-policies)")
    parser.add_argument("--decode", default="greedy", metavar="D",
                        help="learned policies: greedy (default), aug8 (x8 symmetric copies, best "
                        "kept), sample:N, multistart, multistart_aug8")
    parser.add_argument("--list-policies", action="store_true",
                        help="print the learned policies shipped with heurist and exit")
    parser.add_argument("--time-limit", type=float, default=1.0, metavar="S",
                        help="seconds per instance for pyvrp/ortools (default 1)")
    parser.add_argument("--weights", type=float, nargs=2, default=(0.9, 0.1),
                        metavar=("W_TIME", "W_PREF"), help="objective weights (default 0.9 0.1)")
    parser.add_argument("--minmax", action="store_true",
                        help="makespan objective (ortools and the heuristics; pyvrp refuses)")
    parser.add_argument("--workers", type=int, default=1, metavar="W",
                        help="parallel processes (default 1)")
    parser.add_argument("--seed", type=int, default=0,
                        help=f"seed in 0..{MAX_SEED} (instance s uses seed + s; default 0)")
    parser.add_argument("--limit", type=int, default=None, metavar="K",
                        help="solve only the first K instances")
    parser.add_argument("--out", metavar="ROUTES.json", help="output file")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    parser.set_defaults(func=run)


def _check_flags(args: argparse.Namespace):
    """Validates every flag that does not need the instances; returns the ``Weights``."""
    from heurist.envs.pvrp import Weights

    for flag, value in (("IN.npz", args.instances), ("--method", args.method),
                        ("--out", args.out)):
        if value is None:
            raise ValueError(f"{flag} is required (or --list-policies)")
    if args.decode != "greedy" and not args.method.startswith(POLICY_PREFIX):
        raise ValueError(f"--decode {args.decode}: only for learned policies (--method policy:...)")
    if not 0 < args.time_limit < math.inf:  # argparse's float() also takes "nan" and "inf"
        raise ValueError(f"--time-limit must be finite and > 0, got {args.time_limit}")
    if args.workers < 1:
        raise ValueError(f"--workers must be >= 1, got {args.workers}")
    if args.limit is not None and args.limit < 1:
        raise ValueError(f"--limit must be >= 1, got {args.limit}")
    if not 0 <= args.seed <= MAX_SEED:
        raise ValueError(f"--seed must be in 0..{MAX_SEED} (PyVRP seeds are 32-bit unsigned), "
                         f"got {args.seed}")
    if args.minmax and args.method.startswith("pyvrp"):
        raise ValueError(f"--minmax: {args.method} cannot solve the min-max objective; use "
                         "ortools or a heuristic")
    try:
        return Weights(w_time=args.weights[0], w_pref=args.weights[1], minmax=args.minmax)
    except ValueError as exc:
        raise ValueError(f"--weights W_TIME W_PREF: {str(exc).removeprefix('Weights: ')}") from None


def _list_policies() -> int:
    import json as _json

    from heurist.policies.pvrp.learned import shipped_policies

    for name, folder in shipped_policies().items():
        manifest = _json.loads((folder / "manifest.json").read_text(encoding="utf-8"))
        env = manifest.get("training", {}).get("env", {})
        print(f"{name}: {manifest['network']['class']} on {manifest['env']['name']} "
              f"({env.get('problem')}, trained at N={env.get('n_clients')}, "
              f"M={env.get('n_vehicles')})")
    return 0


def _learned(args, inst, weights):
    from heurist.policies.pvrp.learned import decode_spec, load_learned

    decode_spec(args.decode)
    policy = load_learned(args.method[len(POLICY_PREFIX):])
    policy.check_instances(inst, source=args.instances)
    return policy.solve(inst, weights=weights, decode=args.decode, seed=args.seed,
                        progress=not args.quiet)


def run(args: argparse.Namespace) -> int:
    if args.list_policies:
        return _list_policies()
    weights = _check_flags(args)
    path = check_out_path(args.out, inputs=(args.instances,))
    if args.method.startswith(POLICY_PREFIX):
        from heurist.policies.pvrp.learned import decode_spec, resolve_policy

        decode_spec(args.decode)  # flag errors before reading the instances
        resolve_policy(args.method[len(POLICY_PREFIX):])

    from heurist.envs.pvrp import load_npz
    from heurist.policies.pvrp import solve_batch

    inst = load_npz(args.instances)
    if args.limit is not None:
        inst = inst[list(range(min(args.limit, inst.S)))]
    if args.seed + inst.S - 1 > MAX_SEED:
        raise ValueError(f"--seed {args.seed}: instance {inst.S - 1} would use seed "
                         f"{args.seed + inst.S - 1} > {MAX_SEED}; use a seed <= {MAX_SEED - inst.S + 1}")
    if args.method.startswith(POLICY_PREFIX):
        records = _learned(args, inst, weights)
    else:
        records = solve_batch(inst, args.method, time_limit=args.time_limit, weights=weights,
                              seed=args.seed, workers=args.workers, progress=not args.quiet)
    for r in records:
        if not math.isfinite(r.objective):
            raise ValueError(f"{args.instances}: instance {r.index}: the objective is "
                             f"{r.objective} (coordinates too far apart or speeds too small)")
    out = {
        "method": args.method,
        "variant": "zc" if inst.is_zc else "p",
        "weights": {"w_time": weights.w_time, "w_pref": weights.w_pref, "minmax": weights.minmax},
        "time_limit": args.time_limit,
        "instances": [{"index": r.index, "objective": r.objective, "seconds": r.seconds,
                       "routes": r.routes} for r in records],
    }
    write_atomic(path, json.dumps(out, allow_nan=False))
    mean = sum(r.objective for r in records) / len(records)
    secs = sum(r.seconds for r in records) / len(records)
    print(f"{args.method}: {len(records)} instances, mean objective {mean:.4f}, "
          f"{secs:.3f} s per instance -> {path}")
    return 0

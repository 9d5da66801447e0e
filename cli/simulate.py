"""``heurist simulate``: replay request traces through paging policies and count misses."""
from __future__ import annotations

import argparse
import json
from pathlib import Path

__all__ = ["register", "run"]


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "simulate", help="replay paging traces through eviction policies",
        description="Replays each TRACE through each policy with a cache of K pages and reports "
        "misses. Traces: one id per line, .csv, or libCacheSim oracleGeneral (.bin).")
    parser.add_argument("traces", nargs="+", metavar="TRACE", help="request sequence file(s)")
    parser.add_argument("--cache-size", "-k", type=int, required=True, metavar="K")
    parser.add_argument("--policy", default="opt,lru", help="comma-separated policy names, or 'all' "
                        "('all' skips the policies that need predictions --predictor does not give)")
    parser.add_argument("--predictor", default=None, help="exact | noisy:SIGMA | discard:FLIP | "
                        "phase:FLIP, '+'-joined to combine (e.g. noisy:5+discard:0.1)")
    parser.add_argument("--seed", type=int, default=0, help="seed of predictors and randomized "
                        "policies")
    parser.add_argument("--format", dest="fmt", default=None,
                        choices=["lines", "csv", "oracle_general"], help="trace format (default: "
                        "by suffix)")
    parser.add_argument("--column", default=None, help="csv id column (name or 0-based index)")
    parser.add_argument("--json", action="store_true", help="print a JSON list instead of a table")
    parser.set_defaults(func=run)


def _provided(predictor) -> set[str]:
    """The prediction fields ``predictor`` fills (asked on a one-request trace: cheap)."""
    import numpy as np

    if predictor is None:
        return set()
    pred = predictor(np.zeros(1, dtype=np.int64), cache_size=1, rng=np.random.default_rng(0))
    return {f for f in ("next_arrival", "discard", "phase") if getattr(pred, f) is not None}


def _policies(spec: str, provided: set[str]) -> list[str]:
    from heurist.policies.paging import get_policy, list_policies

    if spec.strip().lower() == "all":
        names = list_policies()
        return [n for n in names if set(get_policy(n).needs) <= provided]
    names = [name.strip() for name in spec.split(",") if name.strip()]
    if not names:
        raise ValueError(f"--policy: no policy given; valid: {', '.join(list_policies())}")
    return [get_policy(name).name for name in names]  # validates every name up front


def run(args: argparse.Namespace) -> int:
    import numpy as np

    from heurist.envs.paging import load_trace, make_predictor
    from heurist.policies.paging import simulate
    from heurist.policies.paging.base import slots_needed

    if args.cache_size < 1:
        raise ValueError(f"--cache-size must be >= 1, got {args.cache_size}")
    predictor = make_predictor(args.predictor) if args.predictor else None
    names = _policies(args.policy, _provided(predictor))
    column = args.column
    if column is not None and column.isdigit():
        column = int(column)
    rows = []
    for path in args.traces:
        trace = load_trace(path, fmt=args.fmt, column=column)
        # the predictor simulates a cache too: at most one slot per distinct page (slots_needed)
        predictions = (predictor(trace, cache_size=slots_needed(args.cache_size, np.unique(trace).size),
                                 rng=np.random.default_rng(args.seed)) if predictor else None)
        for name in names:
            result = simulate(trace, args.cache_size, name, predictions=predictions, seed=args.seed)
            rows.append({"trace": str(path), "policy": result.policy,
                         "cache_size": args.cache_size, "requests": result.requests,
                         "misses": result.misses, "hits": result.hits,
                         "miss_ratio": round(result.miss_ratio, 6),
                         "predictor": args.predictor, "seed": args.seed})
    if args.json:
        print(json.dumps(rows, indent=1))
        return 0
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"paging misses, k = {args.cache_size}"
                  + (f", predictor {args.predictor}" if args.predictor else ""))
    for header in ("trace", "policy", "requests", "misses", "miss ratio"):
        table.add_column(header, justify="left" if header in ("trace", "policy") else "right")
    for row in rows:
        table.add_row(Path(row["trace"]).name, row["policy"], str(row["requests"]), str(row["misses"]),
                      f"{row['miss_ratio']:.4f}")
    Console().print(table)
    return 0

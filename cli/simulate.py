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
                        "('all' skips the policies that need predictions --predictor does not give, "
                        "and the learned ones); 'learned' is the shipped slot-attention policy, "
                        "'learned:DIR' an exported one; 'learnedftp' follows the learned predictor")
    parser.add_argument("--predictor", default=None, help="exact | noisy:SIGMA | discard:FLIP | "
                        "phase:FLIP, '+'-joined to combine (e.g. noisy:5+discard:0.1); learned "
                        "(the shipped learned predictor: next arrivals, discard and phase bits) or "
                        "learned:DIR (a predictor artifact folder)")
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


#: Policies that load a trained network (torch): never part of 'all'.
_LEARNED = ("Learned", "LearnedFTP")


def _make_predictor(spec: str):
    """``make_predictor(spec)``, or the learned predictor for ``learned`` / ``learned:DIR``
    (torch is imported only then)."""
    name, _, path = spec.partition(":")
    if name.strip().lower() != "learned":
        from heurist.envs.paging import make_predictor

        return make_predictor(spec)
    from heurist.policies.paging.learned_predictor import load_predictor

    try:
        return load_predictor(path.strip() or None)
    except FileNotFoundError as exc:
        raise ValueError(f"--predictor: {exc}") from None


def _policies(spec: str, provided: set[str], predictor=None) -> list:
    """Policy names (or policy objects, for learned ones) in the order given."""
    from heurist.policies.paging import get_policy, list_policies

    if spec.strip().lower() == "all":
        names = [n for n in list_policies() if n not in _LEARNED]
        return [n for n in names if set(get_policy(n).needs) <= provided]
    names = [name.strip() for name in spec.split(",") if name.strip()]
    if not names:
        raise ValueError(f"--policy: no policy given; valid: {', '.join(list_policies())}")
    out: list = []
    for name in names:
        base, _, path = name.partition(":")
        policy = get_policy(base)  # validates every name up front
        if policy.name == "Learned" and path.strip():
            from heurist.policies.paging.learned_policy import LearnedSlotPolicy

            if not Path(path.strip()).is_dir():
                raise ValueError(f"--policy {name}: policy artifact folder not found: {path}")
            policy = LearnedSlotPolicy(artifact=path.strip())
        elif policy.name == "LearnedFTP":
            from heurist.policies.paging.learned_ftp import LearnedFTP
            from heurist.policies.paging.learned_predictor import LearnedPagingPredictor

            given = predictor if isinstance(predictor, LearnedPagingPredictor) else None
            policy = LearnedFTP(predictor=path.strip() or given)
        elif path:
            raise ValueError(f"--policy {name}: only learned policies take an artifact path")
        out.append(policy if policy.name in _LEARNED else policy.name)
    return out


def run(args: argparse.Namespace) -> int:
    import numpy as np

    from heurist.envs.paging import load_trace
    from heurist.policies.paging import simulate
    from heurist.policies.paging.base import slots_needed

    if args.cache_size < 1:
        raise ValueError(f"--cache-size must be >= 1, got {args.cache_size}")
    predictor = _make_predictor(args.predictor) if args.predictor else None
    names = _policies(args.policy, _provided(predictor), predictor)
    column = args.column
    if column is not None and column.isdigit():
        column = int(column)
    rows = []
    for path in args.traces:
        trace = load_trace(path, fmt=args.fmt, column=column)
        # The predictor simulates a cache too: at most one slot per distinct page (slots_needed);
        # loaders return dense ids 0..n-1, so max + 1 counts the pages without sorting.
        n_pages = int(trace.max()) + 1 if trace.size else 0
        predictions = (predictor(trace, cache_size=slots_needed(args.cache_size, n_pages),
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

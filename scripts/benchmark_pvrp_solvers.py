"""PVRP solver table: mean objective and seconds per instance on the CAMP-style grid.

Cells: variant (P, ZC) x N x M, preference ``random`` (the grid's streams, seed 1234). Methods:
PyVRP and OR-Tools at each ``--time-limits`` value, then the constructive heuristics. Every solution
is checked by the oracle. Writes a markdown report (the command included) to ``--out``.

    python scripts/benchmark_pvrp_solvers.py --instances 4 --workers 2 \
        --out docs/benchmarks/pvrp_solvers.md
"""
from __future__ import annotations

import argparse
import itertools
import os
import platform
import shlex
import sys
import time
from pathlib import Path

import numpy as np
from rich.console import Console
from rich.progress import Progress

from heurist.envs.pvrp import PVRPInstances, Weights, generate, load_npz
from heurist.policies.pvrp import solve_batch

__all__ = ["main"]

HEURISTICS = ("insertion", "nearest", "random")
VARIANTS = ("p", "zc")


def _cell(variant: str, n: int, m: int, instances: int, grid: Path | None) -> PVRPInstances:
    if grid is not None:
        inst = load_npz(grid / f"{variant}_n{n}_m{m}_random.npz")
        return inst[list(range(min(instances, inst.S)))]
    # same stream as scripts/make_pvrp_grid.py (preference index 0 = random)
    stream = np.random.SeedSequence([1234, n, m, 0, VARIANTS.index(variant)])
    return generate(instances, n_clients=n, n_vehicles=m, variant=variant, preference="random",
                    rng=np.random.default_rng(stream))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--instances", type=int, default=4, help="instances per cell")
    parser.add_argument("--n-clients", type=int, nargs="+", default=[60, 100])
    parser.add_argument("--n-vehicles", type=int, nargs="+", default=[3, 5, 7])
    parser.add_argument("--variants", nargs="+", choices=VARIANTS, default=list(VARIANTS))
    parser.add_argument("--time-limits", type=float, nargs="+", default=[1.0, 10.0])
    parser.add_argument("--methods", nargs="+", default=["pyvrp", "ortools", *HEURISTICS])
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--minmax", action="store_true",
                        help="makespan objective (pyvrp methods are skipped: they refuse it)")
    parser.add_argument("--grid", type=Path, default=None,
                        help="read cells from make_pvrp_grid.py files (first --instances of each)")
    parser.add_argument("--out", type=Path, default=Path("docs/benchmarks/pvrp_solvers.md"))
    args = parser.parse_args(argv)

    weights = Weights(minmax=args.minmax)
    methods = [m for m in args.methods if not (args.minmax and m.startswith("pyvrp"))]
    runs = []  # (label, method, time limit)
    for method in methods:
        if method in HEURISTICS:
            runs.append((method, method, 0.0))
        else:
            runs += [(f"{method} {t:g}s", method, t) for t in args.time_limits]
    cells = list(itertools.product(args.variants, args.n_clients, args.n_vehicles))
    results: dict[tuple, tuple[float, float]] = {}
    load = os.getloadavg()
    stamp = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    console = Console(stderr=True)
    with Progress(console=console) as progress:
        task = progress.add_task("pvrp solvers", total=len(cells) * len(runs))
        for variant, n, m in cells:
            inst = _cell(variant, n, m, args.instances, args.grid)
            for label, method, limit in runs:
                records = solve_batch(inst, method, time_limit=limit or 1.0, seed=0, weights=weights,
                                      workers=args.workers, progress=False)
                results[variant, n, m, label] = (float(np.mean([r.objective for r in records])),
                                                 float(np.mean([r.seconds for r in records])))
                progress.advance(task)

    labels = [label for label, _, _ in runs]
    command = "python " + " ".join(shlex.quote(a) for a in [sys.argv[0], *(argv or sys.argv[1:])])
    lines = [
        "# PVRP solvers on the CAMP-style grid",
        "",
        f"Command: `{command}`",
        "",
        (f"Machine: {platform.machine()}, {os.cpu_count()} cores shared with other jobs (1-min load "
         f"average {load[0]:.1f} at start, {os.getloadavg()[0]:.1f} at end), {args.workers} worker "
         f"processes; {stamp}. Timings are noisy; solver time limits are wall-clock, so under load "
         "the exact solvers get less CPU than their limit suggests."),
        "",
        (f"{args.instances} instances per cell (preference `random`; ZC zones `random`), weights "
         f"(w_time, w_pref) = (0.9, 0.1), {'min-max' if args.minmax else 'sum'} objective (lower is "
         "better), every solution checked "
         "by the independent oracle. Each entry: mean objective / mean seconds per instance; "
         "**bold** is the best mean objective of the row."),
        "",
        "| variant | N | M | " + " | ".join(labels) + " |",
        "|---|---|---|" + "---|" * len(labels),
    ]
    for variant, n, m in cells:
        objs = [results[variant, n, m, label][0] for label in labels]
        best = min(objs)
        entries = []
        for label, obj in zip(labels, objs):
            secs = results[variant, n, m, label][1]
            text = f"{obj:.3f} / {secs:.2f}"
            entries.append(f"**{text}**" if obj == best else text)
        lines.append(f"| {variant.upper()} | {n} | {m} | " + " | ".join(entries) + " |")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

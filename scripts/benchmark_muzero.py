"""mallocMuZero (AlphaZero mode) on the zoo's real graphs: search vs XLA-like MSA and the 0/1 bound.

    python scripts/benchmark_muzero.py [--models vit,resnet50,...] [--modes inference|training]
        [--fractions 0.1,0.25] [--simulations 16] [--order msa] [--k 8]
        [--bound-limit 10] [--cpsat-limit 5] [--seed 0] [--no-search] [--no-bound]
        [--out results.md]

Every (model, C) row is planned in one batch by Gumbel MuZero search over the Malloc env's true
simulator (uniform prior over the legal actions, leaf value = the env's greedy rollout; no trained
network), deterministic (``gumbel_scale=0``). Each plan is checked by ``check_plan`` and its speedup
recomputed by ``evaluate_plan``; the classical planners (``msa``: XLA-like memory-space
assignment, ``greedy_size``), CP-SAT and the env's greedy episodes run on the same instances, and
``bound`` is the tighter of two valid upper bounds: the 0/1 bound (``mip_saving_bound``, SCIP at
``--bound-limit``; no mark: proven optimal, ``*``: its best bound at the limit) and the LP
relaxation (``lp_saving_bound``; mark ``L`` where it is the tighter). ``--no-search`` computes
only the classical columns, CP-SAT and the bound; ``--no-bound`` skips the bound (and
``closed``), e.g. to re-time the search on rows whose bound is already known.
``closed`` is the share of the best classical planner's gap to the bound that search closes.
The split (train: gpt2, bert, resnet50; held out: vit, mobilenet_v2, smollm2) is recorded for the
learned-prior runs; the rollout planner here trains nothing, so every row is unseen by it.
"""
from __future__ import annotations

import argparse
import sys
import time

import numpy as np
from rich.console import Console
from rich.progress import Progress

from heurist.agents.muzero import plan_mapping
from heurist.agents.muzero.evaluation import (
    CLASSICAL,
    HELD_OUT,
    TRAIN,
    env_greedy_speedup,
    mapping_speedup,
)
from heurist.envs.malloc.cache import cache_dir, cache_key, load_instance
from heurist.envs.malloc.instance import SLOW
from heurist.envs.malloc.oracle import peak_live_bytes
from heurist.policies.malloc import evaluate_plan, lp_saving_bound, mip_saving_bound, plan

__all__ = ["main"]

def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models", default=",".join(TRAIN + HELD_OUT))
    ap.add_argument("--modes", default="inference")
    ap.add_argument("--batch", type=int, default=1)
    ap.add_argument("--seq", type=int, default=128)
    ap.add_argument("--fractions", default="0.1,0.25")
    ap.add_argument("--simulations", type=int, default=16)
    ap.add_argument("--order", default="msa", choices=("start", "size", "msa"))
    ap.add_argument("--k", type=int, default=8)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--bound-limit", type=float, default=10.0)
    ap.add_argument("--cpsat-limit", type=float, default=5.0)
    ap.add_argument("--no-search", action="store_true",
                    help="only the classical planners, CP-SAT and the bound (search column '-')")
    ap.add_argument("--no-bound", action="store_true",
                    help="skip the 0/1 and LP bounds (bound and closed columns '-')")
    ap.add_argument("--out", default=None)
    a = ap.parse_args(argv)
    try:
        fracs = [float(x) for x in a.fractions.split(",")]
    except ValueError:
        print(f"--fractions: not a list of numbers: {a.fractions!r}", file=sys.stderr)
        raise SystemExit(2) from None
    if a.simulations < 1:
        print(f"--simulations: must be >= 1, got {a.simulations}", file=sys.stderr)
        raise SystemExit(2)
    con = Console(stderr=True)
    insts = []
    for m in a.models.split(","):
        for mode in a.modes.split(","):
            key = cache_key(m, batch=a.batch, seq=a.seq, mode=mode, n_layers=None,
                            inputs="first_use")
            path = cache_dir() / f"{key}.npz"
            if not path.exists():
                print(f"--models: {m} {mode} is not extracted ({path}); run "
                      "scripts/extract_zoo.py first", file=sys.stderr)
                raise SystemExit(2)
            inst = load_instance(path)
            peak = peak_live_bytes(inst)
            insts += [(m, f, inst.with_capacity(int(peak * f))) for f in fracs]
    rows = [x for _, _, x in insts]
    t0 = time.perf_counter()
    if a.no_search:
        res, ep = [None] * len(rows), None
    else:
        total = max(x.n for x in rows)

        def log_line(t):  # a plain line per 100 steps where stderr is a file (no live bar)
            if t % 100 == 0 or t == total:
                print(f"search step {t}/{total} at {time.perf_counter() - t0:.0f} s",
                      file=sys.stderr, flush=True)

        with Progress(console=con, disable=not con.is_terminal) as prog:
            task = prog.add_task("search", total=total)
            res, ep = plan_mapping(rows, num_simulations=a.simulations, seed=a.seed, k=a.k,
                                   order=a.order,
                                   progress=lambda t: prog.update(task, completed=t)
                                   if con.is_terminal else log_line(t))
    search_s = time.perf_counter() - t0
    cols = [*CLASSICAL, "env/start", "env/msa", "cpsat", "search", "bound", "closed"]
    lines = ["| program | split | N | C/peak | " + " | ".join(cols) + " |",
             "|---|---|---|---|" + "---|" * len(cols)]
    closed_all, far = [], []  # far: (name, closed, search beats best) of rows > 5 % from bound
    for (m, f, inst), r in zip(insts, res):
        sp = {name: mapping_speedup(inst, plan(inst, name, mode="mapping")) for name in CLASSICAL}
        sp["env/start"] = env_greedy_speedup(inst, "start", a.k)
        sp["env/msa"] = env_greedy_speedup(inst, "msa", a.k)
        sp["cpsat"] = mapping_speedup(inst, plan(inst, "cpsat", mode="mapping",
                                          time_limit=a.cpsat_limit, seed=0, workers=1))
        sp["search"] = float("nan") if r is None else r.speedup
        # the tighter valid bound of the LP relaxation and SCIP's best 0/1 bound in the limit:
        # on the training graphs (N 650-1,940) SCIP often has no bound at all after 10 s
        if a.no_bound:
            bound, mark = float("nan"), ""
        else:
            b = mip_saving_bound(inst, time_limit=a.bound_limit)
            lp = lp_saving_bound(inst, time_limit=a.bound_limit)
            t_slow = evaluate_plan(inst, np.full(inst.n, SLOW)).time_all_slow
            valid = [x for x in (b, lp) if np.isfinite(x.time) and x.time > 0]
            tight = max(valid, key=lambda x: x.time) if valid else None
            bound = t_slow / tight.time if tight else float("inf")
            # mark: none = the proven 0/1 optimum; * = SCIP's best bound at the limit; L = the LP
            mark = "" if b.optimal else ("L" if tight is lp else "*")
        best = max(sp[c] for c in (*CLASSICAL, "env/start", "env/msa"))
        # savings as fractions of T_slow: the gap is the bound's saving minus the best's
        save = lambda s: 1.0 - 1.0 / s
        gap = save(bound) - save(best)  # nan without a bound: every comparison below is False
        closed = (save(sp["search"]) - save(best)) / gap if gap > 1e-12 and r is not None \
            else float("nan")
        if gap > 1e-12 and r is not None:
            closed_all.append(closed)
        # the rows: the best planner's saving > 5 % below the bound's (as the
        # inference section of docs/benchmarks/muzero.md reads it)
        if gap > 0.05 * save(bound):
            far.append((f"{m} C {f:.2f}", closed, r is not None and sp["search"] > best))
        split = "train" if m in TRAIN else "held-out"
        lines.append(f"| {inst.name.split('-first_use')[0]} | {split} | {inst.n} | {f:.2f} | "
                     + " | ".join(f"{sp[c]:.3f}" for c in cols[:-2])
                     + f" | {bound:.3f}{mark} | "
                     + ("-" if np.isnan(closed) else f"{100 * closed:.0f}%") + " |")
        con.print(lines[-1])
    summary = "\nno search (--no-search)" if ep is None else (
               f"\nsearch: Gumbel MuZero, {a.simulations} simulations per decision, order "
               f"{a.order}, k {a.k}, uniform prior, greedy-rollout value; {len(rows)} rows in "
               f"one batch, {ep.env_steps} simulated env steps, {search_s:.0f} s wall; mean "
               f"gap closed {100 * np.mean(closed_all) if closed_all else float('nan'):.0f}% "
               f"over {len(closed_all)} rows with a gap")
    lines.append(summary)
    if a.no_bound:
        lines.append("rows > 5 % from the bound: not computed (--no-bound)")
    elif far:
        lines.append(f"rows > 5 % from the bound: {len(far)} ("
                     + ", ".join(n for n, _, _ in far) + ")" + ("" if ep is None else
                     f"; search beats the best classical on {sum(w for _, _, w in far)} of "
                     f"them; mean gap closed on them {100 * np.mean([c for _, c, _ in far]):.0f}%"))
    else:
        lines.append("rows > 5 % from the bound: none")
    print("\n".join(lines))
    if a.out:
        with open(a.out, "w") as fh:
            fh.write("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()

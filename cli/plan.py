"""``heurist plan``: plan the memory of a MiniMalloc CSV instance and write the plan as a CSV.

The output is the input's ``id,lower,upper,size`` plus an ``offset`` column; in mapping mode a
buffer left in slow memory has offset -1. Exit codes: 0 the plan is valid (and, in packing mode,
fits the capacity); 1 a packing plan exceeds the capacity (the plan is still written) or a
planner produced an invalid plan; 2 bad input (one line on stderr naming the flag, or the file
and line; ``--out`` is checked before any work and an existing output is never touched).

``--json`` reports ``status``: ``packed`` (the plan fits the capacity), ``infeasible`` (proved:
peak live bytes exceed the capacity, or an exact search completed without a packing) or
``budget`` (nothing fits within the budget, nothing proved); ``nodes`` (exact searches' nodes,
else null) and ``seconds`` (wall). ``--minimize`` (``minimalloc``, packing): the smallest
capacity the search packs in, from the best greedy peak down to peak live bytes, in a
``minimize`` object (``capacity``, ``lower_bound``, ``optimal``: proved, ``greedy``, ``probes``,
``seconds``, ``wall_capped``: the ``--time-limit`` wall cap, which bounds the whole minimisation,
cut it short);
the plan written is that packing and the exit code compares its peak with the capacity as usual.

``--method search`` plans with the MuZero-style search library (``heurist.agents.search``), Gumbel
MuZero at ``--simulations`` per decision: without ``--policy``, AlphaZero mode over the env's true
simulator with uniform priors and greedy-rollout leaf values. ``--policy NAME|DIR`` (mapping mode
only) names a shipped Malloc artifact (``malloc-prior``) or an artifact folder, used by its
manifest's role (``heurist.policies.malloc.search_policies``): a distilled prior
(``alphazero_prior``, e.g. the shipped ``malloc-prior``) is the prior of the same AlphaZero-mode
search; a ``MuZeroNet`` from ``scripts/train_muzero.py --export`` (``muzero_model``) is searched
over as a learned model (MuZero mode). Its JSON adds ``simulations``, ``model``
(``true_simulator`` or ``learned``), ``policy`` (and ``role`` with one), ``order`` (the env's
decision order: ``--order``, default msa for mapping and size for packing; an artifact's own) and
``env_steps`` (simulator steps the search took); packing adds ``relaxed`` (the search at the
capacity hit a dead end and the plan comes from a search at the sum of the sizes). torch and the
agents are imported only on this branch, so every other method starts as fast as before.
"""
from __future__ import annotations

import argparse
import json
import math
import sys
import time

__all__ = ["register", "run"]

_LP_BOUND_MAX_BUFFERS = 5000  # the LP bound is quick up to a few thousand buffers
MAX_SEED = 2**31 - 1  # CP-SAT's random_seed is an int32
MAX_WORKERS = 2**31 - 1
DEFAULT_SIMULATIONS = 16  # enough for the tiny golden games; a few seconds on 150 buffers


def register(subparsers) -> None:
    from heurist.policies.malloc.registry import planner_names

    parser = subparsers.add_parser(
        "plan", help="plan buffer offsets of a MiniMalloc CSV (packing or mapping)",
        description="Plans the offsets of the buffers of IN (MiniMalloc CSV id,lower,upper,size; "
        "capacity from --capacity or the number in the file name, e.g. A.1048576.csv) and writes "
        "them to OUT as an extra 'offset' column (-1 = left in slow memory, mapping mode only).")
    parser.add_argument("input", metavar="IN.csv", help="MiniMalloc CSV instance")
    parser.add_argument("--capacity", type=int, default=None, metavar="C",
                        help="fast memory bytes (default: from the file name)")
    parser.add_argument("--mode", choices=["packing", "mapping"], default="packing",
                        help="packing: every buffer gets an offset, minimise the peak; mapping: "
                        "buffers may stay in slow memory, minimise the cost-model time")
    parser.add_argument("--method", required=True, choices=[*planner_names(), "search"],
                        help="planner; search: Gumbel MuZero search (see --simulations, --policy)")
    parser.add_argument("--time-limit", type=float, default=10.0, metavar="S",
                        help="budget of cpsat in seconds; of skyline as 500,000 and of "
                        "minimalloc as 50,000 search nodes per second (default 10)")
    parser.add_argument("--seed", type=int, default=0,
                        help=f"solver seed in 0..{MAX_SEED} (default 0)")
    parser.add_argument("--workers", type=int, default=1, help="cpsat workers (default 1)")
    parser.add_argument("--out", required=True, metavar="OUT.csv", help="where to write the plan")
    parser.add_argument("--minimize", action="store_true",
                        help="minimalloc, packing: find the smallest capacity it packs in "
                        "(greedy peak down to peak live bytes; proved optimal if the search "
                        "completes; --time-limit caps its whole wall time)")
    parser.add_argument("--json", action="store_true",
                        help="print the result as JSON (with status packed/infeasible/budget, "
                        "search nodes and wall seconds)")
    parser.add_argument("--simulations", type=int, default=None, metavar="N",
                        help=f"search: simulations per decision (default {DEFAULT_SIMULATIONS})")
    parser.add_argument("--policy", default=None, metavar="ARTIFACT",
                        help="search, mapping: the shipped malloc-prior (a prior distilled "
                        "from search, used over the true simulator) or an artifact folder (a "
                        "scripts/train_muzero.py --export network plans over its learned model); "
                        "default: uniform prior over the env's true simulator")
    parser.add_argument("--order", choices=["start", "size", "msa"], default=None,
                        help="search: the env's decision order (default: msa in mapping mode, "
                        "size in packing mode; a --policy artifact's own order)")
    parser.add_argument("--progress", action="store_true",
                        help="search: show progress on stderr even when it is not a terminal")
    parser.set_defaults(func=run)


def _check_flags(args: argparse.Namespace) -> None:
    """Every flag that needs no file, before any work."""
    if args.capacity is not None and not 0 <= args.capacity < 2**63:
        raise ValueError(f"--capacity must be in 0..2^63-1, got {args.capacity}")
    if not 0 < args.time_limit < math.inf:  # argparse's float() also takes "nan" and "inf"
        raise ValueError(f"--time-limit must be finite and > 0, got {args.time_limit}")
    if not 0 <= args.seed <= MAX_SEED:
        raise ValueError(f"--seed must be in 0..{MAX_SEED} (CP-SAT seeds are 32-bit), "
                         f"got {args.seed}")
    if not 1 <= args.workers <= MAX_WORKERS:
        raise ValueError(f"--workers must be in 1..{MAX_WORKERS}, got {args.workers}")
    if getattr(args, "minimize", False) and (args.method != "minimalloc"
                                             or args.mode != "packing"):
        raise ValueError(f"--minimize needs --method minimalloc and --mode packing, got "
                         f"--method {args.method} --mode {args.mode}")
    search = args.method == "search"
    for flag, given in (("--simulations", args.simulations is not None),
                        ("--policy", args.policy is not None), ("--progress", args.progress),
                        ("--order", args.order is not None)):
        if given and not search:
            raise ValueError(f"{flag} needs --method search, got --method {args.method}")
    if search:
        if args.simulations is None:
            args.simulations = DEFAULT_SIMULATIONS
        if args.simulations < 1:
            raise ValueError(f"--simulations must be >= 1, got {args.simulations}")
    if args.policy is not None:
        from heurist.policies.malloc.search_policies import resolve_search_policy  # no torch

        if args.mode != "mapping":
            raise ValueError("--policy plans mapping mode only (MuZeroNet artifacts are trained "
                             "on the mapping game); drop it to search packing over the true "
                             "simulator")
        try:
            resolve_search_policy(args.policy)
        except FileNotFoundError as exc:
            raise ValueError(f"--policy {exc}") from None


def _solve(inst, args):
    """``(offsets, status, nodes, minimize)``: the plan, the search's own status (``None`` for
    planners that prove nothing), its nodes (``None`` likewise) and the ``--minimize`` report."""
    from heurist.policies.malloc.registry import SKYLINE_NODES_PER_SECOND, plan
    from heurist.policies.malloc.search_common import node_budget

    exact = args.mode == "packing" and args.method in ("minimalloc", "skyline")
    if not exact:
        offsets = plan(inst, args.method, mode=args.mode, time_limit=args.time_limit,
                       seed=args.seed, workers=args.workers)
        return offsets, None, None, None
    from heurist.policies.malloc.minimalloc_search import (
        MINIMALLOC_NODES_PER_SECOND,
        minimalloc_pack,
    )
    from heurist.policies.malloc.minimize import lowest_greedy, minimize_capacity
    from heurist.policies.malloc.skyline_search import skyline_pack

    if args.method == "minimalloc":
        budget = node_budget(args.time_limit, MINIMALLOC_NODES_PER_SECOND)
        if args.minimize:
            m = minimize_capacity(inst, node_limit=budget, wall_limit=args.time_limit)
            report = {"capacity": m.capacity, "lower_bound": m.lower_bound,
                      "optimal": m.optimal, "greedy": m.greedy,
                      "seconds": round(m.seconds, 3), "wall_capped": m.wall_capped,
                      "probes": [{"capacity": c, "status": st, "nodes": k}
                                 for c, st, k in m.probes]}
            proved = m.lower_bound > inst.capacity
            return m.offsets, "infeasible" if proved else None, m.nodes, report
        result = minimalloc_pack(inst, node_limit=budget)
    else:
        result = skyline_pack(inst, node_limit=node_budget(args.time_limit,
                                                           SKYLINE_NODES_PER_SECOND))
    offsets = result.offsets if result.offsets is not None else lowest_greedy(inst)
    status = {"feasible": "packed", "infeasible": "infeasible"}.get(result.status, "budget")
    return offsets, status, result.nodes, None


def _search_policy(spec: str, order: str | None):
    """The artifact ``spec`` loaded for the search (``agents.muzero.search_policy``); any
    problem is one ``ValueError`` line naming ``--policy``."""
    from heurist.agents.muzero.search_policy import load_search_policy

    try:
        return load_search_policy(spec, order=order)
    except (ValueError, FileNotFoundError) as exc:
        raise ValueError(f"--policy {exc}") from None


def _search(inst, args) -> tuple:
    """``(offsets, JSON extras)`` of ``--method search``: torch and the agents load here only."""
    import numpy as np
    from tqdm import tqdm  # type: ignore[import-untyped]

    from heurist.agents.muzero.packing import plan_packing
    from heurist.agents.muzero.planner import plan_mapping

    extra = {"simulations": args.simulations, "model": "true_simulator",
             "policy": args.policy, "env_steps": 0}
    # the default orders plan better than start order: msa (isolated saving per byte) as the
    # mapping benchmarks and the trainer use, largest first for packing
    k, order = 8, {"mapping": "msa", "packing": "size"}[args.mode]
    search_kw: dict = {}
    if args.policy is not None:
        pol = _search_policy(args.policy, args.order)
        search_kw = pol.plan_kwargs()
        k, order = search_kw.pop("k"), search_kw.pop("order")
        extra.update(model=pol.model, role=pol.role)
    elif args.order is not None:
        order = args.order
    extra["order"] = order
    if inst.n == 0:  # nothing to decide (the env needs one buffer to play an episode)
        return np.zeros(0, np.int64), {**extra, **({"relaxed": False}
                                                   if args.mode == "packing" else {})}
    show = args.progress or sys.stderr.isatty()
    with tqdm(total=inst.n, desc=f"search {args.mode} ({args.simulations} simulations)",
              unit="decision", file=sys.stderr, disable=not show, leave=False) as bar:
        def progress(steps: int) -> None:
            bar.update(steps - bar.n)  # a relaxed packing search restarts from step 1

        if args.mode == "mapping":
            mapped, ep = plan_mapping([inst], num_simulations=args.simulations, seed=args.seed,
                                      k=k, order=order, progress=progress, **search_kw)
            offsets = mapped[0].plan
        else:
            packed, ep = plan_packing([inst], num_simulations=args.simulations, seed=args.seed,
                                      k=k, order=order, progress=progress)
            offsets = packed[0].plan
            extra["relaxed"] = packed[0].relaxed
    extra["env_steps"] = ep.env_steps
    return offsets, extra


def run(args: argparse.Namespace) -> int:
    from heurist.cli.common import check_out_path
    from heurist.envs.malloc.minimalloc_csv import read_csv, write_csv
    from heurist.envs.malloc.peak import peak_live_bytes
    from heurist.envs.malloc.plan_check import check_plan
    from heurist.envs.malloc.plan_cost import evaluate_plan

    _check_flags(args)
    out = check_out_path(args.out, inputs=(args.input,), example="plan.csv")
    inst, _ = read_csv(args.input, capacity=args.capacity)
    if args.method == "search":  # torch and the agents: imported here, outside the timing
        import heurist.agents.muzero.packing
        import heurist.agents.muzero.planner  # noqa: F401
    t0 = time.perf_counter()
    search_info: dict = {}
    if args.method == "search":
        offsets, search_info = _search(inst, args)
        status = nodes = minimize = None
    else:
        offsets, status, nodes, minimize = _solve(inst, args)
    seconds = time.perf_counter() - t0
    check = check_plan(inst, offsets, mode=args.mode, enforce_capacity=args.mode == "mapping")
    out.parent.mkdir(parents=True, exist_ok=True)
    write_csv(out, inst, offsets)
    lower = peak_live_bytes(inst)
    feasible = check.valid and check.peak <= inst.capacity
    if feasible:
        status = "packed"
    elif status != "infeasible":
        status = "infeasible" if lower > inst.capacity else "budget"
    result = {"input": str(args.input), "method": args.method, "mode": args.mode, "n": inst.n,
              "peak": check.peak, "capacity": inst.capacity, "lower_bound": lower,
              "feasible": feasible, "status": status, "nodes": nodes,
              "seconds": round(seconds, 6), "out": str(args.out)}
    if minimize is not None:
        result["minimize"] = minimize
    result.update(search_info)
    if args.mode == "mapping":
        ev = evaluate_plan(inst, offsets)
        result.update(time=ev.time, time_all_slow=ev.time_all_slow,
                      time_all_fast=ev.time_all_fast, speedup=ev.speedup,
                      saving=ev.time_all_slow - ev.time, n_fast=ev.n_fast,
                      bytes_fast=ev.bytes_fast)
        if inst.n <= _LP_BOUND_MAX_BUFFERS:
            from heurist.policies.malloc.mapping_bound import lp_saving_bound  # OR-Tools: lazy

            result["saving_upper_bound"] = lp_saving_bound(inst).saving
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        extra = (f", speedup {result['speedup']:.4f}x ({result['n_fast']}/{inst.n} fast)"
                 if args.mode == "mapping" else "")
        if minimize is not None:
            extra += (f", minimum capacity {minimize['capacity']} "
                      f"({'optimal' if minimize['optimal'] else 'not proved'}, lower bound "
                      f"{minimize['lower_bound']}, greedy {minimize['greedy']})")
        print(f"{args.method} ({args.mode}): peak {check.peak} / capacity {inst.capacity} "
              f"(lower bound {lower}){extra} in {seconds:.3f} s -> {args.out}")
    if not check.valid:
        print(f"heurist plan: error: {args.method} produced an invalid plan: "
              f"{check.first.message if check.first else 'invalid'}", file=sys.stderr)
        return 1
    if not feasible:
        print(f"heurist plan: error: no plan fits: {args.method} needs peak {check.peak} > "
              f"capacity {inst.capacity} (lower bound {lower}); plan written to {args.out}",
              file=sys.stderr)
        return 1
    return 0

"""Exact packing with the ``minimalloc`` search: MiniMalloc's A..K, rule ablation, zero-slack sweep, zoo.

Sections (``--sections``, any of ``akzo``; prints Markdown for docs/benchmarks/malloc_packing.md):

* ``a``: A..K at capacity 2^20 with the default search (all rules, the order portfolio), one
  worker, a fixed node budget ``--nodes``; per file status, nodes, CPU and wall seconds, best
  and median of ``--repeats`` runs (the search is deterministic: only the times vary).
* ``k``: ablation: A..K with each rule switched off in turn (and MiniMalloc's three orders alone),
  ``--ablation-nodes`` per file: files packed and nodes.
* ``z``: zero-slack guillotine instances (``zero_slack_instance``) of ``--sizes`` buffers x
  ``--seeds`` seeds, ``--zero-slack-nodes`` each: packed (within 20 s wall) and seconds.
  ``--family tests``: capacity 2^16, horizon 256, alignment 8 (as tests/test_malloc_skyline.py);
  ``generator``: capacity 2^20, horizon max(8, N // 2) (``SyntheticGenerator``'s packing mode).
  ``--zero-slack-seconds S``: each instance gets a node budget worth ``S`` CPU seconds at its
  own node rate instead; the last column lists each seed's wall seconds ("-": not packed).
  ``--rules-off a,b``: the z sweep with those search rules switched off (ablation, e.g.
  ``filler`` for the search before the elastic-filler member). ``--guillotine-steps 0``: the
  filler search without its guillotine member.
* ``o``: cached zoo graphs (``scripts/extract_zoo.py``): ``minimize_capacity`` with about
  ``--zoo-seconds`` of nodes (rate measured by a probe) against greedy-by-size and peak live bytes.

Every packing is re-checked by ``check_plan``.

Usage: python scripts/benchmark_malloc_exact.py [--sections akzo] [--data DIR] [--files ABC...]
       [--nodes 2000000] [--repeats 3] [--ablation-nodes 100000] [--sizes 100,200,400,700,1000]
       [--seeds 5] [--zero-slack-nodes 500000] [--zero-slack-seconds S]
       [--family tests|generator] [--rules-off RULE,...] [--guillotine-steps K]
       [--zoo-seconds 10]
"""
from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

from heurist.envs.common.data import data_dir
from heurist.envs.malloc import read_csv
from heurist.envs.malloc.oracle import check_plan, peak_live_bytes
from heurist.envs.malloc.synthetic import zero_slack_instance
from heurist.policies.malloc.greedy import greedy_size
from heurist.policies.malloc.minimalloc_search import RULES, minimalloc_pack
from heurist.policies.malloc.minimize import minimize_capacity

__all__ = ["main"]


def _timed(fn, *args, **kwargs):
    w, t = time.perf_counter(), time.process_time()
    out = fn(*args, **kwargs)
    return out, time.process_time() - t, time.perf_counter() - w


def _checked(inst, result, cap=None):
    if result.offsets is not None:
        check = check_plan(inst.with_capacity(cap or inst.capacity), result.offsets,
                           mode="packing")
        assert check.valid, inst.name
    return result


def _pack_checked(inst, **kwargs):
    return _checked(inst, minimalloc_pack(inst, **kwargs))


def section_ak(folder, files, nodes, repeats):
    print("| file | N | status | nodes | CPU s best / median | wall s best / median |")
    print("|---|---|---|---|---|---|")
    for name in files:
        inst, _ = read_csv(folder / f"{name}.1048576.csv")
        runs = [_timed(_pack_checked, inst, node_limit=nodes) for _ in range(repeats)]
        res = runs[0][0]
        cpu = [r[1] for r in runs]
        wall = [r[2] for r in runs]
        print(f"| {name} | {inst.n} | {res.status} | {res.nodes:,} | {min(cpu):.2f} / "
              f"{statistics.median(cpu):.2f} | {min(wall):.2f} / {statistics.median(wall):.2f} |",
              flush=True)


def section_ablation(folder, files, nodes):
    variants = [("all rules", RULES, None)]
    variants += [(f"no {r}", tuple(x for x in RULES if x != r), None) for r in RULES]
    variants += [("MiniMalloc's orders (TLA, LAT, TAL)", RULES, ("TLA", "LAT", "TAL"))]
    print(f"| variant | packed ({nodes:,} nodes each) | " + " | ".join(files) + " | CPU s |")
    print("|---|---|" + "---|" * len(files) + "---|")
    insts = {f: read_csv(folder / f"{f}.1048576.csv")[0] for f in files}
    for label, rules, order in variants:
        cells, packed = [], 0
        t = time.process_time()
        for f in files:
            kw = {} if order is None else {"order": order}
            res = _checked(insts[f], minimalloc_pack(insts[f], node_limit=nodes, rules=rules,
                                                     **kw))
            packed += res.status == "feasible"
            cells.append(f"{res.nodes:,}" if res.status == "feasible" else "-")
        print(f"| {label} | {packed} | " + " | ".join(cells)
              + f" | {time.process_time() - t:.1f} |", flush=True)


def _zero_slack(n, seed, family):
    if family == "tests":
        return zero_slack_instance(n, seed=seed, capacity=1 << 16, horizon=256, alignment=8)[0]
    return zero_slack_instance(n, seed=seed, capacity=1 << 20, horizon=max(8, n // 2))[0]


def section_zero_slack(sizes, seeds, nodes, family, seconds=None, rules=RULES):
    print("| N | packed | CPU s min / median / max | wall s min / median / max | "
          "nodes median | per seed (s, or - for not packed) |")
    print("|---|---|---|---|---|---|")
    # Compile the searches first (numba, once per code change): else the first probe's rate
    # includes the compile time and its instance gets a tiny node budget.
    _pack_checked(_zero_slack(100, 0, family), node_limit=20_000, rules=rules)
    for n in sizes:
        cpus, walls, node_counts, packed, per = [], [], [], 0, []
        for seed in range(seeds):
            inst = _zero_slack(n, seed, family)
            budget = nodes
            if seconds is not None:
                # A node budget worth ``seconds`` of CPU at this instance's rate (20,000-node
                # probe), so a miss costs about ``seconds``, not an unbounded time.
                probe, pcpu, _ = _timed(minimalloc_pack, inst, node_limit=20_000, rules=rules)
                budget = max(20_000, int(probe.nodes / max(pcpu, 1e-3) * seconds))
            res, cpu, wall = _timed(_pack_checked, inst, node_limit=budget, rules=rules)
            ok = res.status == "feasible" and wall <= 20.0
            packed += ok
            per.append(f"{wall:.2f}" if ok else "-")
            cpus.append(cpu)
            walls.append(wall)
            node_counts.append(res.nodes)
        print(f"| {n} | {packed}/{seeds} | {min(cpus):.2f} / {statistics.median(cpus):.2f} / "
              f"{max(cpus):.2f} | {min(walls):.2f} / {statistics.median(walls):.2f} / "
              f"{max(walls):.2f} | {int(statistics.median(node_counts)):,} | "
              f"{', '.join(per)} |", flush=True)


def section_zoo(seconds):
    from heurist.envs.malloc.cache import cache_dir, load_instance

    paths = sorted(cache_dir().glob("*.npz"))
    if not paths:
        print("(no cached zoo instances: run scripts/extract_zoo.py first)")
        return
    print("| graph | N | peak live | greedy_size / live | best greedy / live | minimalloc / live "
          "| optimal | nodes | CPU s | wall s |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for p in paths:
        inst = load_instance(p)
        live = int(peak_live_bytes(inst))
        gs = int((greedy_size(inst) + inst.size).max())
        probe, cpu, _ = _timed(minimalloc_pack, inst, capacity=live, node_limit=2_000)
        rate = max(probe.nodes, 1) / max(cpu, 1e-3)
        m, cpu, wall = _timed(minimize_capacity, inst, node_limit=int(rate * seconds))
        assert check_plan(inst.with_capacity(m.capacity), m.offsets, mode="packing").valid
        print(f"| {p.stem.removesuffix('-default-first_use-v1')} | {inst.n} | {live:,} | "
              f"{gs / live:.4f} | {m.greedy / live:.4f} | {m.capacity / live:.4f} | {m.optimal} "
              f"| {m.nodes:,} | {cpu:.1f} | {wall:.1f} |", flush=True)


def _rules_without(parser, off: str) -> tuple[str, ...]:
    names = [r for r in off.split(",") if r]
    bad = [r for r in names if r not in RULES]
    if bad:
        parser.error(f"--rules-off: unknown rule(s) {', '.join(bad)}; known: {', '.join(RULES)}")
    return tuple(r for r in RULES if r not in names)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sections", default="akzo")
    parser.add_argument("--data", type=Path, default=None,
                        help="folder of the A..K CSVs (default: the shipped "
                        "malloc/minimalloc-challenging)")
    parser.add_argument("--files", default="ABCDEFGHIJK", help="letters of the files to run")
    parser.add_argument("--nodes", type=int, default=2_000_000, help="node budget per file (a)")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--ablation-nodes", type=int, default=100_000)
    parser.add_argument("--sizes", default="100,200,400,700,1000")
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--zero-slack-nodes", type=int, default=500_000)
    parser.add_argument("--zero-slack-seconds", type=float, default=None,
                        help="instead of --zero-slack-nodes: a node budget of this many CPU "
                        "seconds at each instance's rate (measured by a 20,000-node probe)")
    parser.add_argument("--family", choices=["tests", "generator"], default="tests")
    parser.add_argument("--rules-off", default="",
                        help="comma-separated rules switched off in the z sweep (ablation)")
    parser.add_argument("--zoo-seconds", type=float, default=10.0)
    parser.add_argument("--guillotine-steps", type=int, default=None,
                        help="steps of the filler search's guillotine member per node "
                        "(default 16; 0 switches it off, for ablation)")
    args = parser.parse_args()
    if args.guillotine_steps is not None:
        if args.guillotine_steps < 0:
            parser.error(f"--guillotine-steps must be >= 0, got {args.guillotine_steps}")
        from heurist.policies.malloc import filler_search

        filler_search.GUILLOTINE_STEPS_PER_NODE = args.guillotine_steps
    folder = args.data or data_dir("malloc/minimalloc-challenging")
    minimalloc_pack(read_csv(folder / "A.1048576.csv")[0], node_limit=10)  # compile
    if "a" in args.sections:
        section_ak(folder, args.files, args.nodes, args.repeats)
    if "k" in args.sections:
        section_ablation(folder, args.files, args.ablation_nodes)
    if "z" in args.sections:
        section_zero_slack([int(s) for s in args.sizes.split(",")], args.seeds,
                           args.zero_slack_nodes, args.family, args.zero_slack_seconds,
                           _rules_without(parser, args.rules_off))
    if "o" in args.sections:
        section_zoo(args.zoo_seconds)


if __name__ == "__main__":
    main()

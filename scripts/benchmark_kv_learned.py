"""The learned KV scorer against the classical policies and the oracle, in real generation on the
HELD-OUT test documents of each kind (kvpress's protocol: prefill, real positions, teacher-forced
continuation; decode mode also evicts after every continuation token).

    python scripts/benchmark_kv_learned.py --contexts 512 --docs 4 --modes prefill
    python scripts/benchmark_kv_learned.py --contexts 512 --docs 1 --modes decode
    python scripts/benchmark_kv_learned.py --contexts 1024,2048 --docs 1 --modes prefill
    python scripts/benchmark_kv_learned.py --render      # docs/benchmarks/kv_learned.md from the rows
    python scripts/benchmark_kv_learned.py --contexts 512 --docs 3 --policies observed,learned \
        --budgets 0.25 --allocation ada,s0.5       # the same total budget split unevenly
    python scripts/benchmark_kv_learned.py --table   # markdown means per (context, mode, policy)

Each run appends its rows to ``--rows`` (JSON lines; a (context, mode, kind, doc, policy, budget)
already there is skipped), so the expensive parts run separately and the page is rendered from
all of them. Test documents: ``heurist.agents.kv_scorer.data`` (fixed hash split by document).
"""
from __future__ import annotations

import argparse
import itertools
import json
import shlex
import statistics
import sys
import time
from pathlib import Path

import torch
from tqdm import tqdm

from heurist.agents.kv_scorer.data import KINDS, load_documents
from heurist.policies.kv.allocation import Allocation
from heurist.policies.kv.evaluate import evaluate_text
from heurist.policies.kv.fidelity import reference_run
from heurist.policies.kv.registry import parse_budgets, parse_policies

CLASSICAL = ("h2o", "scissorhands", "observed", "snapkv", "tova", "streaming", "knorm")
DEFAULT_POLICIES = "learned,oracle,h2o,scissorhands,observed,snapkv"


def _key(r: dict) -> tuple:
    return (r["context"], r["mode"], r["kind"], r["doc"], r["policy"], r["budget"])


def run(args) -> None:
    from heurist.policies.kv.shared import shared_model

    torch.set_num_threads(args.threads)
    model, tok = shared_model()
    rows_path = Path(args.rows)
    done = set()
    if rows_path.is_file():
        done = {_key(json.loads(line)) for line in rows_path.read_text().splitlines() if line}
    rows_path.parent.mkdir(parents=True, exist_ok=True)
    policies, budgets = parse_policies(args.policies), parse_budgets(args.budgets)
    # No --allocation: the equal split, explicitly (not the learned scorer's default curve), so
    # the plain "learned" rows stay comparable with every earlier round.
    allocs = [Allocation.parse(x) for x in args.allocation.split("/")] if args.allocation \
        else [Allocation()]
    for context in (int(c) for c in args.contexts.split(",")):
        need = context + args.continuation + 1
        docs = [(k, d, ids) for k in args.kinds.split(",")
                for d, ids in load_documents(tok, k, "test", count=args.docs, need=need)]
        for kind, doc, ids in tqdm(docs, desc=f"{context} tokens"):
            ref = None
            for mode, alloc in itertools.product(args.modes.split(","), allocs):
                suffix = "" if alloc is None or alloc.uniform else f"+{alloc.label}"
                todo = [p for p in policies if any(
                    (context, mode, kind, doc, p + suffix, b) not in done for b in budgets)]
                if not todo:
                    continue
                if ref is None:
                    t0 = time.perf_counter()
                    ref = reference_run(model, ids, context=context,
                                        continuation=args.continuation, greedy_steps=args.greedy)
                    ref_s = time.perf_counter() - t0
                t0 = time.perf_counter()
                rows = evaluate_text(model, ids, policies=todo, budgets=budgets, context=context,
                                     continuation=args.continuation, mode=mode,
                                     greedy_steps=args.greedy, reference=ref,
                                     allocation=alloc)
                per_run = (time.perf_counter() - t0) / len(rows)
                with rows_path.open("a") as f:
                    for r in rows:
                        r.update(context=context, kind=kind, doc=doc, seconds=per_run,
                                 reference_seconds=ref_s)
                        if _key(r) not in done:
                            f.write(json.dumps(r) + "\n")
                            done.add(_key(r))


def _mean(xs):
    xs = [x for x in xs if x is not None]
    return statistics.fmean(xs) if xs else float("nan")


def table(args) -> str:
    """Markdown: per (context, mode) and policy (allocations included), the mean KL per budget and
    the mean perplexity and greedy agreement at 25 %, with the documents they cover."""
    rows = [json.loads(line) for line in Path(args.rows).read_text().splitlines() if line]
    out = []
    for context, mode in sorted({(r["context"], r["mode"]) for r in rows}):
        gr = [r for r in rows if r["context"] == context and r["mode"] == mode]
        budgets = sorted({r["budget"] for r in gr})
        out += [f"{context} tokens, {mode}:", "",
                "| policy | docs | " + " | ".join(f"KL @{b:g}" for b in budgets)
                + " | ppl @0.25 | agreement @0.25 |", "|---" * (len(budgets) + 4) + "|"]
        for p in sorted({r["policy"] for r in gr}):
            kl = [_mean([r["kl"] for r in gr if r["policy"] == p and r["budget"] == b])
                  for b in budgets]
            q = [r for r in gr if r["policy"] == p and r["budget"] == 0.25]
            n = len({r["doc"] for r in gr if r["policy"] == p})
            out.append(f"| {p} | {n} | " + " | ".join(f"{x:.4f}" for x in kl)
                       + f" | {_mean([r['ppl'] for r in q]):.3f} | "
                       f"{_mean([r['agreement'] for r in q]):.3f} |")
        out.append("")
    return "\n".join(out)


def render(args) -> str:
    rows = [json.loads(line) for line in Path(args.rows).read_text().splitlines() if line]
    manifest = json.loads((Path(__file__).resolve().parent.parent / "policies" / "artifacts"
                           / "kv_scorer" / "manifest.json").read_text())
    tr = manifest["training"]
    out = ["# Learned KV-cache eviction (issue 11, section 1)", "",
           (f"Generated by `scripts/benchmark_kv_learned.py --render` from `{args.rows}`. "
            "SmolLM2-135M, kvpress's protocol: prefill, keep `int(T * budget)` entries per "
            "(layer, KV head), teacher-force 64 continuation tokens at the real positions; KL("
            "full || compressed) in nats averaged over them, perplexity of the continuation, "
            "agreement of 16 greedy tokens. Every number is on HELD-OUT test documents "
            "(`heurist.agents.kv_scorer.data`: sha1('kind:id') % 5 == 0), never seen in "
            "training or validation."), "",
           "## The shipped scorer", "",
           (f"- Network: `KVScorer`, {manifest['network']['parameters']} parameters "
            f"({manifest['network']['config']}); artifact `policies/artifacts/kv_scorer/`.")]
    if "method" in tr:  # agents/kv_scorer/search.py: searched on the real KL of train windows
        kinds = sorted({k for k, _ in tr["train_windows"]})
        out += [(f"- Training budget: a linear correction over observed attention in layers "
                 f"{tr['layer_range'][0]}-{tr['layer_range'][1] - 1} ({tr['neighbours']} "
                 f"neighbour(s) each side), {tr['method']}: the first window ({tr['context']} + "
                 f"{tr['continuation']} tokens) of {len(tr['train_windows'])} train documents "
                 f"({tr['windows']} per kind of {', '.join(kinds)}), {tr['iterations']} "
                 f"iterations of 2 candidates, seed {tr['seed']}, best iteration "
                 f"{tr['best_iteration']}: {tr['seconds']} s on {tr['threads']} CPU thread (2 "
                 f"shared cores) including the reference runs."),
                (f"- Train-window objective at 25 % ({tr.get('objective', 'mean')}: mean KL, or "
                 f"mean log of KL / observed attention's KL): "
                 f"{next(iter(manifest['metrics'].values())):.4f}."), ""]
    else:
        data = tr["data"]
        docs = ", ".join(f"{k}: {len(v['train_docs'])} docs" for k, v in data.items())
        recording = sum(v["record_seconds"] for v in data.values())
        met = manifest["metrics"]
        out += [(f"- Training budget: {tr['train_windows']} windows of {data['chat']['context']} "
                 f"context + {data['chat']['continuation']} future tokens from train documents "
                 f"({docs}; {tr['val_windows']} more windows of the last {tr['val_docs']} docs "
                 f"per kind for validation), {recording:.0f} s of recording, then {tr['steps']} "
                 f"Adam steps of {tr['batch']} (window, layer) lists, lr {tr['lr']}, loss "
                 f"{tr['loss']} on target {tr.get('target', 'future')}"
                 f"{' with the value-norm features' if tr.get('values') else ''}, seed "
                 f"{tr['seed']}: {tr['train_seconds']} s on {tr['threads']} CPU thread (2 shared "
                 f"cores); best validation step {tr['best_step']}."),
                (f"- Validation recall@25 % of the target: {met['val_recall']:.4f} (oracle "
                 f"{met['val_recall_oracle']:.4f}, observed mean "
                 f"{met['val_recall_observed']:.4f})."), ""]
    groups = sorted({(r["context"], r["mode"]) for r in rows})
    for context, mode in groups:
        gr = [r for r in rows if r["context"] == context and r["mode"] == mode]
        docs = sorted({(r["kind"], r["doc"]) for r in gr})
        out += [f"## {context} tokens, mode {mode}", "",
                f"Test documents: {', '.join(f'{k}:{d}' for k, d in docs)}.", ""]
        budgets = sorted({r["budget"] for r in gr})
        pols = [p for p in ("learned", "oracle", *CLASSICAL) if any(r["policy"] == p for r in gr)]
        out += ["| policy | " + " | ".join(f"KL @{b:g}" for b in budgets) + " | ppl @0.25 | "
                "agreement @0.25 |", "|---" * (len(budgets) + 3) + "|"]
        for p in pols:
            kl = [_mean([r["kl"] for r in gr if r["policy"] == p and r["budget"] == b])
                  for b in budgets]
            q = [r for r in gr if r["policy"] == p and r["budget"] == 0.25]
            out.append(f"| {p} | " + " | ".join(f"{x:.4f}" for x in kl)
                       + f" | {_mean([r['ppl'] for r in q]):.3f} | "
                       f"{_mean([r['agreement'] for r in q]):.3f} |")
        ppl_full = _mean([r["ppl_full"] for r in gr if r["policy"] == pols[0]])
        out.append(f"\nFull-cache perplexity (mean): {ppl_full:.3f}.")
        if 0.25 in budgets and "learned" in pols:
            lines = []
            for kind in [*KINDS, "all"]:
                kr = [r for r in gr if r["budget"] == 0.25 and (kind == "all" or r["kind"] == kind)]
                if not kr:
                    continue
                cl = {p: _mean([r["kl"] for r in kr if r["policy"] == p])
                      for p in CLASSICAL if any(r["policy"] == p for r in kr)}
                best = min(cl, key=cl.get)
                ln = _mean([r["kl"] for r in kr if r["policy"] == "learned"])
                n = len({r["doc"] for r in kr})
                lines.append(f"| {kind} | {n} | {ln:.4f} | {best} {cl[best]:.4f} | "
                             f"{100 * (1 - ln / cl[best]):+.1f} % |")
            out += ["", ("At 25 %: learned vs the best classical policy ON THE SAME documents "
                         "(lowest mean KL among those run):"), "",
                    "| kind | docs | learned KL | best classical KL | learned below it by |",
                    "|---|---|---|---|---|", *lines]
        secs = _mean([r["seconds"] for r in gr])
        out += ["", f"Mean seconds per (policy, budget) run: {secs:.1f}.", ""]
    out += ["## Commands", "", "```bash", *args.commands, "```", ""]
    return "\n".join(out)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--contexts", default="512")
    ap.add_argument("--docs", type=int, default=4, help="test documents per kind")
    ap.add_argument("--kinds", default=",".join(KINDS))
    ap.add_argument("--modes", default="prefill")
    ap.add_argument("--budgets", default="0.1,0.25,0.5")
    ap.add_argument("--policies", default=DEFAULT_POLICIES)
    ap.add_argument("--continuation", type=int, default=64)
    ap.add_argument("--greedy", type=int, default=16)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--rows", default="runs/kv_scorer/bench.jsonl")
    ap.add_argument("--render", action="store_true", help="write --out from the rows and stop")
    ap.add_argument("--table", action="store_true", help="print mean tables of --rows and stop")
    ap.add_argument("--allocation", default=None,
                    help="split the budget unevenly (prefill): e.g. ada, s0.5, ada,s0.5, "
                         "ada,k0.3:1:1.7 (per-layer knots); "
                         "several separated by / (uniform/ada,s0.5) share each reference")
    ap.add_argument("--commands", nargs="*", default=[], help="commands to list on the page")
    ap.add_argument("--out", type=Path, default=Path("docs/benchmarks/kv_learned.md"))
    args = ap.parse_args(argv)
    try:
        for k in args.kinds.split(","):
            if k not in KINDS:
                raise ValueError(f"--kinds: {k!r} is not one of {KINDS}")
        parse_policies(args.policies)
        parse_budgets(args.budgets)
        if args.allocation:
            for x in args.allocation.split("/"):
                Allocation.parse(x)
            if args.modes != "prefill":
                raise ValueError("--allocation runs in prefill mode only (--modes prefill)")
        if args.table:
            if not Path(args.rows).is_file():
                raise ValueError(f"--rows {args.rows}: file not found; run the benchmark first")
            print(table(args))
            return 0
        if args.render:
            if not Path(args.rows).is_file():
                raise ValueError(f"--rows {args.rows}: file not found; run the benchmark first")
            args.out.write_text(render(args))
            print(f"wrote {args.out}")
            return 0
    except ValueError as e:
        print(f"benchmark_kv_learned: {e}", file=sys.stderr)
        return 2
    print("command: python scripts/benchmark_kv_learned.py " + shlex.join(sys.argv[1:] if argv is None else argv))
    run(args)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

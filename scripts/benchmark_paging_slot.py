"""The learned slot-attention eviction policy (no predictions) against LRU, ARC, S3-FIFO and OPT
on BrightKite users, at several cache sizes without retraining (issue 11 §2/§3), and with
``--families`` on each trace family's held-out part. Prints markdown tables
(docs/benchmarks/paging_predictors.md).

    python scripts/benchmark_paging_slot.py [--artifact [NAME=]DIR ...] [--users test|val] [--ks 5,10,20]
    python scripts/benchmark_paging_slot.py --families all --artifact mixed=DIR --artifact shipped --ks 10

``--users val``: the last ``--val-users`` (10) of the 70 training users, the model-selection
split (a policy trained with ``env.val_users=10`` never saw them); ``test``: the 30 held-out users.
``--artifact`` repeats (one column each; ``shipped`` is the shipped policy; default: it alone).
``--families brightkite,zipf,...`` (or ``all``): one row per family and k; a synthetic family's
``test`` traces are ``family_traces(fam, part="test", n_traces=--family-traces, seed=0)`` (seed
0 + 1,000,003, never trained on by the predictor or a ``slot_mixed`` run), its ``val`` traces
``family_traces(fam, part="train", n_traces=--family-traces, seed=1)`` (unseen by both too).
"""
from __future__ import annotations

import sys
import time

BASELINES = ("LRU", "ARC", "S3-FIFO", "OPT")
CLASSICAL = ("LRU", "ARC", "S3-FIFO")


def _ks(text: str) -> list[int]:
    ks = [int(x) for x in text.split(",") if x.strip()]
    if not ks or min(ks) < 2:
        raise ValueError("--ks: comma-separated cache sizes >= 2")
    return ks


def _families(text: str | None) -> list[str]:
    from heurist.agents.paging_predictors.data import SYNTHETIC

    if text is None:
        return []
    known = ("brightkite", *SYNTHETIC)
    fams = list(known) if text == "all" else [x.strip() for x in text.split(",") if x.strip()]
    bad = [f for f in fams if f not in known]
    if not fams or bad:
        raise ValueError(f"--families: 'all' or comma-separated names out of {', '.join(known)}")
    return fams


def _artifacts(specs: list[str] | None) -> list[tuple[str, str | None]]:
    """``[(label, folder or None = shipped)]`` of the ``--artifact`` values."""
    if not specs:
        return [("Learned", None)]
    out = []
    for spec in specs:
        label, _, folder = spec.rpartition("=") if "=" in spec else ("", "", spec)
        if folder == "shipped":
            out.append((label or "shipped", None))
        else:
            out.append((label or ("Learned" if len(specs) == 1 else folder), folder))
    return out


def main(argv=None) -> int:
    from heurist.cli.common import OneLineParser

    ap = OneLineParser(prog="benchmark_paging_slot.py", description=__doc__.splitlines()[0])
    ap.add_argument("--artifact", action="append", default=None,
                    help="[NAME=]policy folder, repeatable ('shipped': the shipped one, the default)")
    ap.add_argument("--users", choices=("test", "val"), default="test")
    ap.add_argument("--val-users", type=int, default=10)
    ap.add_argument("--n-train", type=int, default=70)
    ap.add_argument("--ks", default="10")
    ap.add_argument("--families", default=None, help="'all' or comma-separated trace families")
    ap.add_argument("--family-traces", type=int, default=10)
    args = ap.parse_args(argv)
    try:
        ks = _ks(args.ks)
        fams = _families(args.families)
    except ValueError as exc:
        ap.error(str(exc))
    if args.family_traces < 1:
        ap.error("--family-traces must be >= 1")

    import torch

    from heurist.agents.data import load_split
    from heurist.agents.evaluation import baseline_misses, eval_instance
    from heurist.agents.rollout import collect
    from heurist.policies.export.slot_policy import load_policy
    from heurist.policies.paging.learned_policy import (
        gap_features_of,
        input_predictor_of,
        shipped_policy_path,
        slot_env,
    )

    torch.set_num_threads(1)
    policies = []
    for label, folder in _artifacts(args.artifact):
        folder = shipped_policy_path() if folder is None else folder
        try:
            policy = load_policy(folder)
            policies.append((label, policy, input_predictor_of(policy.manifest, folder),
                             gap_features_of(policy.manifest, folder)))
        except (FileNotFoundError, ValueError) as exc:
            ap.error(f"--artifact {folder}: {exc}")
        spec = policy.manifest["training"].get("env", {})
        print(f"{label}: artifact {folder}, input predictor {spec.get('input_predictor', 'none')}"
              f", mix {spec.get('mix_families', [])}")
    split = load_split(None, n_train=args.n_train)
    users = split["train"][-args.val_users:] if args.users == "val" else split["test"]

    def misses(traces, k):
        """``{label or baseline: total misses}`` of ``traces`` at cache size ``k``."""
        out = {}
        for label, policy, inputs, gap in policies:
            # The policy's inputs (none, or a learned predictor's); the baselines read none.
            inst = eval_instance(traces, cache_size=k, predictor=inputs, seed=12345)
            with torch.no_grad():
                out[label] = float(collect(slot_env(k, inputs, gap_features=gap), inst.clone(),
                                           policy, record=False).misses.sum())
        inst = eval_instance(traces, cache_size=k, predictor="none", seed=12345)
        out.update({n: float(v.sum()) for n, v in baseline_misses(inst, cache_size=k,
                                                                   policies=BASELINES).items()})
        return out

    labels = [p[0] for p in policies]
    if not fams:
        print(f"{args.users} users: {len(users)}, requests {sum(map(len, users)):,}")
        print("| k | " + " | ".join(labels) + " | LRU | ARC | S3-FIFO | OPT | "
              + " | ".join(f"{lb} / OPT" for lb in labels) + " | best classical / OPT |")
        print("|---" * (2 * len(labels) + 6) + "|")
        for k in ks:
            t0 = time.perf_counter()
            m = misses(users, k)
            opt = m["OPT"]
            best = min(m[n] for n in CLASSICAL)
            print(f"| {k} | " + " | ".join(f"{m[lb]:,.0f}" for lb in labels)
                  + f" | {m['LRU']:,.0f} | {m['ARC']:,.0f} | {m['S3-FIFO']:,.0f} | {opt:,.0f} | "
                  + " | ".join(f"{m[lb] / opt:.3f}" for lb in labels)
                  + f" | {best / opt:.3f} |  <!-- {time.perf_counter() - t0:.1f} s -->", flush=True)
        return 0

    from heurist.agents.paging_predictors.data import family_traces

    print(f"held-out part: {args.users}; synthetic families {args.family_traces} traces x 2,100 "
          "requests")
    print("| family | k | " + " | ".join(labels) + " | LRU | ARC | S3-FIFO | OPT | best classical | "
          + " | ".join(f"{lb} / best classical" for lb in labels) + " | "
          + " | ".join(f"{lb} / OPT" for lb in labels) + " |")
    print("|---|---:" + "|---:" * (len(labels) + 4) + "|---" + "|---:" * (2 * len(labels)) + "|")
    for fam in fams:
        if fam == "brightkite":
            traces = users
        elif args.users == "test":
            traces = family_traces(fam, part="test", n_traces=args.family_traces, seed=0)
        else:
            traces = family_traces(fam, part="train", n_traces=args.family_traces, seed=1)
        for k in ks:
            t0 = time.perf_counter()
            m = misses(traces, k)
            best = min(CLASSICAL, key=m.get)
            print(f"| {fam} | {k} | " + " | ".join(f"{m[lb]:,.0f}" for lb in labels)
                  + f" | {m['LRU']:,.0f} | {m['ARC']:,.0f} | {m['S3-FIFO']:,.0f} | {m['OPT']:,.0f} | "
                  f"{best} {m[best]:,.0f} | "
                  + " | ".join(f"{m[lb] / m[best]:.3f}" for lb in labels) + " | "
                  + " | ".join(f"{m[lb] / m['OPT']:.3f}" for lb in labels)
                  + f" |  <!-- {time.perf_counter() - t0:.1f} s -->", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())

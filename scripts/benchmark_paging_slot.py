"""The learned slot-attention eviction policy (no predictions) against LRU, ARC, S3-FIFO and OPT
on BrightKite users, at several cache sizes without retraining (issue 11 §2/§3). Prints a
markdown table (docs/benchmarks/paging_predictors.md).

    python scripts/benchmark_paging_slot.py [--artifact DIR] [--users test|val] [--ks 5,10,20]

``--users val``: the last ``--val-users`` (10) of the 70 training users, the model-selection
split (a policy trained with ``env.val_users=10`` never saw them); ``test``: the 30 held-out users.
"""
from __future__ import annotations

import sys
import time

BASELINES = ("LRU", "ARC", "S3-FIFO", "OPT")


def _ks(text: str) -> list[int]:
    ks = [int(x) for x in text.split(",") if x.strip()]
    if not ks or min(ks) < 2:
        raise ValueError("--ks: comma-separated cache sizes >= 2")
    return ks


def main(argv=None) -> int:
    from heurist.cli.common import OneLineParser

    ap = OneLineParser(prog="benchmark_paging_slot.py", description=__doc__.splitlines()[0])
    ap.add_argument("--artifact", default=None, help="policy folder (default: the shipped one)")
    ap.add_argument("--users", choices=("test", "val"), default="test")
    ap.add_argument("--val-users", type=int, default=10)
    ap.add_argument("--n-train", type=int, default=70)
    ap.add_argument("--ks", default="10")
    args = ap.parse_args(argv)
    try:
        ks = _ks(args.ks)
    except ValueError as exc:
        ap.error(str(exc))

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
    folder = shipped_policy_path() if args.artifact is None else args.artifact
    try:
        policy = load_policy(folder)
        inputs = input_predictor_of(policy.manifest, folder)
        gap = gap_features_of(policy.manifest, folder)
    except (FileNotFoundError, ValueError) as exc:
        ap.error(str(exc))
    split = load_split(None, n_train=args.n_train)
    if args.users == "val":
        traces = split["train"][-args.val_users:]
    else:
        traces = split["test"]
    print(f"{args.users} users: {len(traces)}, requests {sum(map(len, traces)):,}; artifact {folder}, "
          f"input predictor {policy.manifest['training'].get('env', {}).get('input_predictor', 'none')}")
    print("| k | Learned | LRU | ARC | S3-FIFO | OPT | Learned / OPT | best classical / OPT |")
    print("|---|---|---|---|---|---|---|---|")
    for k in ks:
        t0 = time.perf_counter()
        # The policy's inputs (none, or a learned predictor's); the baselines read none of them.
        inst = eval_instance(traces, cache_size=k, predictor=inputs, seed=12345)
        with torch.no_grad():
            learned = float(collect(slot_env(k, inputs, gap_features=gap), inst.clone(), policy,
                                    record=False).misses.sum())
        base = {n: float(v.sum()) for n, v in baseline_misses(inst, cache_size=k,
                                                              policies=BASELINES).items()}
        opt = base["OPT"]
        best = min(base[n] for n in ("LRU", "ARC", "S3-FIFO"))
        print(f"| {k} | {learned:,.0f} | {base['LRU']:,.0f} | {base['ARC']:,.0f} | "
              f"{base['S3-FIFO']:,.0f} | {opt:,.0f} | {learned / opt:.3f} | {best / opt:.3f} |"
              f"  <!-- {time.perf_counter() - t0:.1f} s -->", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())

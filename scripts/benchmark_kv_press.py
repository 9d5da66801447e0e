"""heurist KV policies run by kvpress (PolicyPress) vs the same policies in heurist's own cache.

For each policy x budget on one real text (Python's os.py source): the fraction of (layer, KV head)
kept sets that kvpress's compress keeps identical to our policy's ``select``; KL(full || compressed),
perplexity and greedy agreement measured THROUGH kvpress (``with press(model):`` prefill, then the
continuation teacher-forced at real positions) beside ``heurist kv evaluate --parity kvpress``.

    python scripts/benchmark_kv_press.py                  # 256 + 32 tokens, 16 greedy, markdown table
    python scripts/benchmark_kv_press.py --tokens 128 --continuation 16 --json
"""
from __future__ import annotations

import argparse
import json
import os
import time

import torch

from heurist.policies.kv.evaluate import evaluate_text
from heurist.policies.kv.fidelity import reference_run
from heurist.policies.kv.parity import kvpress_kept, same_sets
from heurist.policies.kv.press import KVPRESS_VERSION, kvpress_fidelity, policy_press
from heurist.policies.kv.registry import make_policy, parse_budgets, parse_policies
from heurist.policies.kv.select import n_kept

DEFAULT = "streaming,h2o,tova,scissorhands,snapkv,knorm,observed,random"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--tokens", type=int, default=256)
    ap.add_argument("--continuation", type=int, default=32)
    ap.add_argument("--greedy", type=int, default=16)
    ap.add_argument("--policy", default=DEFAULT)
    ap.add_argument("--budget", default="0.25,0.5")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args(argv)
    policies, budgets = parse_policies(args.policy), parse_budgets(args.budget)
    torch.set_num_threads(args.threads)
    from heurist.policies.kv.shared import shared_model

    model, tok = shared_model()
    with open(os.__file__, encoding="utf-8") as f:
        ids = torch.tensor(tok(f.read(), add_special_tokens=False).input_ids)
    t = args.tokens
    start = time.perf_counter()
    ref = reference_run(model, ids, context=t, continuation=args.continuation,
                        greedy_steps=args.greedy)
    rows = []
    for name in policies:
        for budget in budgets:
            press = policy_press(name, budget, parity="kvpress")
            ours, = evaluate_text(model, ids, policies=[name], budgets=[budget], context=t,
                                  continuation=args.continuation, greedy_steps=args.greedy,
                                  reference=ref, parity="kvpress")
            theirs = kvpress_fidelity(model, ids, ref, press)
            policy = make_policy(name, parity="kvpress")
            kept = kvpress_kept(model, press, ids[:t])
            same = same_sets(kept, [policy.select(o, n_kept(t, budget)) for o in ref.observations])
            rows.append({"policy": name, "budget": budget, "n_kept": theirs["n_kept"],
                         "kl_kvpress": theirs["kl"], "kl_heurist": ours["kl"],
                         "ppl_kvpress": theirs["ppl"], "ppl_heurist": ours["ppl"],
                         "agreement_kvpress": theirs["agreement"],
                         "agreement_heurist": ours["agreement"], "identical_sets": same})
    elapsed = time.perf_counter() - start
    if args.json:
        print(json.dumps({"kvpress": KVPRESS_VERSION, "seconds": elapsed, "rows": rows}, indent=1))
        return 0
    print(f"kvpress {KVPRESS_VERSION}; os.py, {t} context + {args.continuation} teacher-forced "
          f"tokens, {args.greedy} greedy; {elapsed:.0f} s\n")
    print("| policy | budget | kept | KL via kvpress | KL via heurist | abs diff | agreement "
          "kvpress / heurist | identical kept sets |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    for r in rows:
        print(f"| {r['policy']} | {r['budget']:g} | {r['n_kept']} | {r['kl_kvpress']:.6f} | "
              f"{r['kl_heurist']:.6f} | {abs(r['kl_kvpress'] - r['kl_heurist']):.1e} | "
              f"{r['agreement_kvpress']:.3f} / {r['agreement_heurist']:.3f} | "
              f"{r['identical_sets']:.3f} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""Predictor-only eviction rules on the BrightKite validation users (issue 11 §2): which summary
of the learned predictor's distributions ranks cached pages best, before any slot network.

    python scripts/benchmark_paging_slot_rules.py [--ks 10] [--horizons 16,64,256,1024]

Rules (evict the cached page with the largest score; all causal, no oracle): ``ftp`` the
conditional expected log2 gap (LearnedFTP); ``gap hazard H`` minus P(back within H requests |
not back yet); ``distance hazard m`` minus P(back within m more distinct pages | not back yet,
given the page's current stack distance); ``distance ftp`` the conditional expected log2 reuse
distance. Plain Python (a few minutes); validation = the last 10 of the 70 training users.
"""
from __future__ import annotations

import math
import sys


def _cdf(p, u, n):
    tot = 0.0
    for c in range(n):
        if u >= c + 1:
            tot += p[c]
        elif u > c:
            tot += p[c] * (u - c)
    return tot


def _remaining(p, centres, v, n):
    """LearnedFTP's expected remaining log2 gap of the distribution ``p`` given gap > ``v``."""
    import numpy as np

    from heurist.policies.paging.learned_ftp import _remaining as ftp_remaining

    row = np.ascontiguousarray(p, dtype=np.float64)[None, : n + 1]
    return ftp_remaining(row, np.ascontiguousarray(centres, dtype=np.float64), 0, float(v))


def _run(users, pred, score, k):
    """Misses of evicting the largest ``score(gap_probs, dist_probs, elapsed, stack_distance)``."""
    total = 0
    for tr in users:
        gap, dist = pred.distributions(tr)
        cache: dict = {}
        order: list = []  # every page, most recent first
        for t, x in enumerate(tr.tolist()):
            if x in order:
                order.remove(x)
            if x not in cache:
                total += 1
                if len(cache) >= k:
                    pos = {q: i for i, q in enumerate(order)}
                    victim = max(cache, key=lambda q: score(gap[cache[q]], dist[cache[q]],
                                                            t - cache[q], pos[q]))
                    del cache[victim]
            cache[x] = t
            order.insert(0, x)
    return total


def main(argv=None) -> int:
    from heurist.cli.common import OneLineParser

    ap = OneLineParser(prog="benchmark_paging_slot_rules.py", description=__doc__.splitlines()[0])
    ap.add_argument("--ks", default="10")
    ap.add_argument("--horizons", default="16,64,256,1024")
    ap.add_argument("--distance-horizons", default="4,10,30")
    args = ap.parse_args(argv)
    try:
        ks = [int(x) for x in args.ks.split(",")]
        hs = [int(x) for x in args.horizons.split(",")]
        ms = [int(x) for x in args.distance_horizons.split(",")]
    except ValueError:
        ap.error("--ks/--horizons/--distance-horizons: comma-separated integers")

    import numpy as np

    from heurist.agents.data import load_split
    from heurist.policies.paging.learned_predictor import N_BUCKETS, load_predictor

    users = [np.asarray(u) for u in load_split(None, n_train=70)["train"][-10:]]
    pred = load_predictor(None)
    n = N_BUCKETS
    centres = np.append(np.arange(n) + 0.5, float(pred.net.config["never_log2"]))
    rules = {"ftp": lambda g, d, e, s: _remaining(g, centres, e, n),
             "distance ftp": lambda g, d, e, s: _remaining(d, centres, s, n)}
    for h in hs:
        rules[f"gap hazard H={h}"] = (lambda g, d, e, s, h=h: -(
            _cdf(g, math.log2(1 + e + h), n) - _cdf(g, math.log2(1 + e), n))
            / max(1 - _cdf(g, math.log2(1 + e), n), 1e-12))
    for m in ms:
        rules[f"distance hazard m={m}"] = (lambda g, d, e, s, m=m: -(
            _cdf(d, math.log2(1 + s + m), n) - _cdf(d, math.log2(1 + s), n))
            / max(1 - _cdf(d, math.log2(1 + s), n), 1e-12))
    print("| rule | " + " | ".join(f"k = {k}" for k in ks) + " |")
    print("|---|" + "---:|" * len(ks))
    for name, score in rules.items():
        print(f"| {name} | " + " | ".join(f"{_run(users, pred, score, k):,}" for k in ks) + " |",
              flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())

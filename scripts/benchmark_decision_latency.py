"""Eviction decision latency (issue 12, section 1): the distilled scorers (linear, depth-6 tree)
at k = 100 in numba, through a Python call, and the full slot-attention net at batch 1 and
batched. Prints a markdown table (docs/BENCHMARKS.md, docs/RUNTIMES.md).

    python scripts/benchmark_decision_latency.py [--k 100] [--batch 256] [--repeats 5]

Stream: the 30 held-out BrightKite users concatenated (ids kept apart per user), 63,000 requests.

* **numba, in the loop**: the decisions a distilled policy makes on the stream (each: score the
  k cached pages from their stored features and ``log_elapsed``, take the argmin) replayed in a
  compiled loop; ns per decision, no Python anywhere. The linear model's dot product over a
  page's 13 stored features is made once per request (its static part), so a decision costs k
  table reads and multiply-adds; the tree's ``log_elapsed`` splits compare integer elapsed counts.
* **numba, whole stream**: features maintained online (one ``_observe`` per request, the same
  values as ``request_features``), the linear static part per request, and every decision; ns per
  request and per decision (the whole loop divided by the decisions).
* **Python call**: ``scorer.priorities(features [k, F])`` then ``argmin``, one call per decision
  (the cost a Python runtime such as vLLM's scheduler pays; dominated by the call overhead).
* **slot attention**: the exported slot-attention policy (``policies/artifacts/
  paging_slot_attention``), one forward pass + argmax on the env observation at k, batch 1 and
  batch ``--batch`` (per decision = per call / batch); torch on 1 thread.
"""
from __future__ import annotations

import argparse
import functools
import sys
import time

import numpy as np
from numba import njit


def _held_out_stream() -> np.ndarray:
    from heurist.agents.data import load_split
    from heurist.envs.paging.traces import dense_trace

    parts, offset = [], 0
    for t in load_split(None)["test"]:
        d, _, n = dense_trace(t)
        parts.append(d + offset)
        offset += n
    return np.concatenate(parts)


def _make_stream():
    """The stream loop compiled with the distilled policy's own simulator hooks bound."""
    import types

    from heurist.policies.paging import distilled

    g = dict(globals(), np=np, **{name: getattr(distilled, name) for name in (
        "_observe", "_row_pieces", "_find", "_to_evict", "_evict", "_insert")})
    fn = types.FunctionType(_stream_body.__code__, g, "_stream")
    # no NRT, as the simulator loop: with it numba increfs/decrefs every array of the state
    # tuple at each page scored (measured ~10x slower per decision)
    return njit(cache=False, _nrt=False)(fn)


def _stream_body(trace, k, state, feats, tree_arrays, ethr, stack, bias, fenwick, last_obs,
                 count, f, glob, reps):
    """Online: each request's features (``_observe``), its scoring part (the linear static sum,
    or the tree's pieces), then demand paging through the policy's simulator hooks; each victim
    is chosen ``reps`` times (the same pure scan: the extra runs time the decision alone).
    Returns ``(misses, decisions, checksum)``."""
    static, w, off, hi, val, mode = state[4], state[5], state[6], state[7], state[8], state[10]
    feat, thr, left, right, value = tree_arrays
    filled, misses, decisions, check = 0, 0, 0, 0
    for t in range(trace.size):
        page = trace[t]
        row = feats[t]
        _observe(page, t, row, fenwick, last_obs, count, f[0], f[1], f[2], glob)  # noqa: F821
        if mode[0] == 0:
            acc = bias  # then the dot product in _linear_batch's order
            for j in range(row.size):
                acc += np.float64(row[j]) * w[j]
            static[t] = acc
        else:
            off[t + 1] = off[t] + _row_pieces(  # noqa: F821
                feats, t, feat, thr, left, right, value, ethr, stack, hi[off[t]:],
                val[off[t]:])
        if _find(state, page, t):  # noqa: F821
            continue
        misses += 1
        if filled == k:
            decisions += 1
            victim = _to_evict(state, page, t)  # noqa: F821
            for _ in range(reps - 1):
                check += _to_evict(state, page, t) - victim  # noqa: F821
            _evict(state, victim, t)  # noqa: F821
        else:
            filled += 1
        _insert(state, page, t)  # noqa: F821
    return misses, decisions, check


def _best(fn, repeats):
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return min(times)


def _distilled_rows(trace, k, repeats, calls, reps):
    from heurist.envs.paging.traces import dense_trace
    from heurist.policies.paging.learned_features import request_features

    stream = _make_stream()
    dense, _, n_ids = dense_trace(trace)
    feats = request_features(dense)
    return [_distilled_row(kind, stream, dense, n_ids, feats, k, repeats, calls, reps)
            for kind in ("linear", "tree")]


def _distilled_row(kind, stream, dense, n_ids, feats, k, repeats, calls, reps):
    """One scorer's row (the module docstring says what each figure times)."""
    from heurist.agents.paging_predictors.distill import _rollout
    from heurist.policies.paging.distilled import N_FEATURES, load_distilled, scoring_state

    scorer = load_distilled(None, kind)
    offline = scoring_state(scorer, feats, n_ids, k)

    def run(reps_now):
        # fresh state and buffers per run; the tree's piece buffer is sized from the offline
        # count (an allocation size, not a result)
        s = tuple(a if i in (5, 9, 10) else np.zeros(a.shape, a.dtype)  # w, table, mode
                  for i, a in enumerate(offline))
        online = np.zeros((dense.size, N_FEATURES - 1), np.float32)
        res = stream(dense, k, s, online,
                     (scorer.feat, scorer.thr, scorer.left, scorer.right, scorer.value),
                     scorer.elapsed_thr, np.zeros((3, scorer.depth + 2), np.int64),
                     scorer.b, np.zeros(dense.size + 1, np.int64),
                     np.full(n_ids, -1, np.int64), np.zeros(n_ids, np.int64),
                     np.zeros((3, n_ids)), np.zeros(4), reps_now)
        run.result, run.online, run.state = res, online, s

    run(1)  # compile
    t1 = _best(lambda: run(1), repeats)
    misses, decisions, _ = run.result
    # the online run computed exactly the offline features and scoring parts, and missed
    # where heurist simulate does
    assert np.array_equal(run.online, feats), "online features differ from offline"
    for a, b in zip(run.state[4:9], offline[4:9]):
        assert np.array_equal(a, b), "online scoring parts differ from offline"
    assert misses == simulate_misses(dense, k, kind), misses
    t_reps = _best(lambda: run(reps), repeats)
    assert run.result[2] == 0  # every repeated scan chose the same victim
    t_dec = (t_reps - t1) / ((reps - 1) * decisions)

    # Python call per decision: features [k, F] of real decisions built beforehand
    cap = dense.size * k
    rec_r, rec_e = np.zeros(cap, np.int64), np.zeros(cap, np.int64)
    n, _ = _rollout(dense, n_ids, k, np.zeros((1, 1)), np.zeros(1), offline, True, rec_r,
                    rec_e)
    cand_r, cand_e = rec_r[:n].reshape(-1, k)[:calls], rec_e[:n].reshape(-1, k)[:calls]
    x = np.concatenate([feats[cand_r].reshape(-1, N_FEATURES - 1),
                        np.log2(1.0 + cand_e.reshape(-1, 1)).astype(np.float32)],
                       1).reshape(-1, k, N_FEATURES).astype(np.float32)
    scorer.priorities(x[0])

    def py_calls():
        for i in range(x.shape[0]):
            int(np.argmin(scorer.priorities(x[i])))

    t_py = _best(py_calls, repeats) / x.shape[0]
    return {"scorer": f"distilled {kind}", "decisions": int(decisions),
            "misses": int(misses), "numba_decision_ns": 1e9 * t_dec,
            "stream_ns_per_request": 1e9 * t1 / dense.size,
            "stream_ns_per_decision": 1e9 * t1 / decisions,
            "python_call_us": 1e6 * t_py}


def simulate_misses(dense, k, kind) -> int:
    """Misses of ``heurist simulate`` with the shipped policy (the benchmark loops must agree)."""
    from heurist.policies.paging import simulate

    return simulate(dense, k, "Distilled" if kind == "linear" else "DistilledTree").misses


def _forward(policy, td, calls):
    for _ in range(calls):
        policy(td)


def _attention_rows(trace, k, batch, repeats):
    import torch

    from heurist.envs.paging.env import PagingEnv
    from heurist.envs.paging.generator import instance_from_traces
    from heurist.policies.export.slot_policy import load_policy
    from heurist.policies.paging.learned_policy import shipped_policy_path

    torch.set_num_threads(1)
    policy = load_policy(shipped_policy_path())
    n_params = sum(p.numel() for p in policy.net.parameters())
    rows = []
    for b in (1, batch):
        # b windows of the stream, each long enough to fill the cache: the first decision
        win = max(4 * k, 2000)
        starts = np.linspace(0, trace.size - win, b).astype(np.int64)
        inst = instance_from_traces([trace[s:s + win] for s in starts], cache_size=k,
                                    predictor="none", rng=np.random.default_rng(0))
        env = PagingEnv(cache_size=k)
        td = env.reset(instance=inst)
        policy(td)

        calls = 20 if b == 1 else 3
        per_call = _best(functools.partial(_forward, policy, td, calls), repeats) / calls
        rows.append({"scorer": f"slot attention ({n_params:,} params), batch {b}",
                     "per_call_us": 1e6 * per_call, "per_decision_us": 1e6 * per_call / b})
    return rows


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--k", type=int, default=100)
    parser.add_argument("--batch", type=int, default=256)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--calls", type=int, default=2000, help="Python calls timed")
    parser.add_argument("--reps", type=int, default=11, help="scans per decision in the run "
                        "that isolates the decision (the extra scans are timed)")
    args = parser.parse_args(argv)
    if args.k < 2 or args.batch < 1 or args.repeats < 1 or args.calls < 1 or args.reps < 2:
        print("error: --k >= 2, --reps >= 2, --batch, --repeats and --calls >= 1",
              file=sys.stderr)
        return 2
    import os

    import numba

    trace = _held_out_stream()
    start = time.perf_counter()
    dist = _distilled_rows(trace, args.k, args.repeats, args.calls, args.reps)
    att = _attention_rows(trace, args.k, args.batch, args.repeats)
    print(f"k = {args.k}; stream: 30 held-out BrightKite users, {trace.size:,} requests; "
          f"numba {numba.__version__}, 1 thread, {os.cpu_count()} cores visible\n")
    print("| scorer | decisions | numba in-loop ns / decision | whole online stream ns / "
          "request | ns / decision | Python call µs / decision |")
    print("|---|---:|---:|---:|---:|---:|")
    for r in dist:
        print(f"| {r['scorer']} | {r['decisions']:,} | {r['numba_decision_ns']:.0f} | "
              f"{r['stream_ns_per_request']:.0f} | {r['stream_ns_per_decision']:.0f} | "
              f"{r['python_call_us']:.2f} |")
    print("\n| net | µs / call | µs / decision |")
    print("|---|---:|---:|")
    for r in att:
        print(f"| {r['scorer']} | {r['per_call_us']:.0f} | {r['per_decision_us']:.1f} |")
    print(f"\n(wall {time.perf_counter() - start:.0f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Benchmark of the KV-cache area: trace collection (tokens/s), trace storage (bytes per token,
and what top-k storage costs in recall fidelity), and KVCache env throughput (steps/s).

    python scripts/benchmark_kv_env.py            # full (about 10 minutes on 2 shared cores)
    python scripts/benchmark_kv_env.py --quick    # smaller sizes

Also runs simple eviction rules (random, StreamingLLM, H2O, TOVA, key norm) through the env on a
real trace as a sanity check that the features carry signal. Prints markdown tables (paste into docs/benchmarks/kv_traces.md). Timings on shared cores are noisy.
"""
from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import torch

from heurist.envs.common.conformance import random_masked_action
from heurist.envs.kv import (
    SLOT_FEATURES,
    KVCacheEnv,
    Sample,
    TraceSet,
    load_model,
    load_samples,
    load_trace,
    record_trace,
    save_trace,
)

LAYERS = [0, 7, 15, 22, 29]


def bench_collection(model, tok, lengths, chunk_sizes, n_step_decode=32):
    rows = []
    traces = {}
    for T in lengths:
        s = load_samples(tok, kind="code", count=1, n_tokens=T, prompt_fraction=0.5)[0]
        for c in chunk_sizes:
            # Step-by-step decoding is slow on CPU: time only its first n_step_decode tokens.
            sub = s if c > 1 else Sample(s.ids[:s.n_prompt + n_step_decode], s.n_prompt, s.source)
            tr = record_trace(model, sub, layers=LAYERS, decode_chunk=c, progress=True)
            pre, dec = tr.meta["prefill_s"], tr.meta["decode_s"]
            n_dec = tr.length - tr.n_prompt
            rows.append((tr.length, tr.n_prompt, c, tr.length / (pre + dec), tr.n_prompt / pre,
                         n_dec / dec))
            if c > 1:
                traces[T] = tr
    print("\n### Trace collection (SmolLM2-135M, CPU fp32, 1 thread, "
          f"{len(LAYERS)} layers recorded)\n")
    print("| tokens | prompt | decode chunk | overall tok/s | prefill tok/s | decode tok/s |")
    print("|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r[0]} | {r[1]} | {r[2]} | {r[3]:.1f} | {r[4]:.1f} | {r[5]:.1f} |")
    return traces


def _streaming_actions(env, inst, n_sink=4):
    """Evict the oldest non-sink unit (StreamingLLM): depends on positions only."""
    td = env.reset(instance=inst)
    acts, rews = [], []
    while not td["done"].all():
        pos = td["position"].clone().double()
        pos[(pos < n_sink) | ~td["action_mask"]] = float("inf")
        a = torch.where(td["action_mask"].sum(-1) > 1, pos.argmin(-1), 0)
        td["action"] = a
        td = env.step(td)["next"]
        acts.append(a)
        rews.append(td["reward"][:, 0])
    return torch.stack(acts, 1), torch.stack(rews, 1)


def bench_storage(traces, ks):
    print("\n### Storage (per token, all recorded layers x 3 KV heads; and per layer x head)\n")
    print("| tokens | format | file bytes | bytes/token | bytes/token/head | recall error per step "
          "(StreamingLLM, budget 25%): max abs | mean abs |")
    print("|---|---|---|---|---|---|---|")
    with tempfile.TemporaryDirectory() as d:
        for T, tr in traces.items():
            dense_p = Path(d) / f"d{T}.safetensors"
            n = save_trace(dense_p, tr)
            dense = load_trace(dense_p)
            heads = len(LAYERS) * 3
            env = KVCacheEnv(generator=TraceSet([dense]), max_len=T, budget=0.25)
            inst = env.generate(heads, seed=0)  # random (layer, head) rows
            _, ref = _streaming_actions(env, inst)
            err = (ref - _recall_fp32(tr, inst, env)).abs()
            print(f"| {T} | dense fp16 | {n} | {n / T:.0f} | {n / T / heads:.1f} | "
                  f"{err.max():.1e} (vs fp32) | {err.mean():.1e} |")
            for k in ks:
                p = Path(d) / f"k{T}_{k}.safetensors"
                n = save_trace(p, tr, fmt="topk", k=k)
                back = load_trace(p)
                env_k = KVCacheEnv(generator=TraceSet([back]), max_len=T, budget=0.25)
                _, rk = _streaming_actions(env_k, env_k.generate(heads, seed=0))
                err = (rk - ref).abs()
                print(f"| {T} | top-{k} | {n} | {n / T:.0f} | {n / T / heads:.1f} | "
                      f"{err.max():.1e} (vs dense) | {err.mean():.1e} |")


def _recall_fp32(tr, inst, env):
    env32 = KVCacheEnv(generator=TraceSet([tr]), max_len=env.max_len, budget=0.25)
    _, r = _streaming_actions(env32, env32.generate(inst.batch_size[0], seed=0))
    return r


def bench_env(lengths, batches, n_steps):
    print("\n### KVCache env throughput (synthetic rows, random masked actions)\n")
    print("| tokens | granularity | batch | env.step calls/s | row-steps/s | reset s |")
    print("|---|---|---|---|---|---|")
    gen = torch.Generator().manual_seed(0)
    for T in lengths:
        for gran in ("token", "block"):
            for B in batches:
                env = KVCacheEnv(max_len=T, budget=0.25, granularity=gran)
                inst = env.generate(B, seed=0)
                t0 = time.perf_counter()
                td = env.reset(instance=inst)
                t_reset = time.perf_counter() - t0
                steps = 0
                t0 = time.perf_counter()
                while not td["done"].all() and steps < n_steps:
                    td["action"] = random_masked_action(td["action_mask"], gen)
                    td = env.step(td)["next"]
                    steps += 1
                dt = time.perf_counter() - t0
                print(f"| {T} | {gran} | {B} | {steps / dt:.0f} | {steps * B / dt:.0f} | "
                      f"{t_reset:.2f} |")


_F = {n: i for i, n in enumerate(SLOT_FEATURES)}


def _score(name: str, td) -> torch.Tensor:
    """Eviction score per slot (the legal slot with the lowest score is evicted)."""
    f = td["slot_features"]
    if name == "streaming":  # sink + recent window: evict the oldest non-sink unit
        return torch.where(f[..., _F["sink"]] > 0, float("inf"), td["position"].double())
    if name == "h2o":  # heavy hitters: evict the least accumulated attention, keep the newest
        return torch.where(f[..., _F["is_new"]] > 0, float("inf"), f[..., _F["acc_attn"]].double())
    if name == "tova":  # evict the least attended by the current query
        return f[..., _F["cur_attn"]].double()
    if name == "knorm":  # keep low key norms: evict the largest
        return -f[..., _F["key_norm"]].double()
    raise ValueError(name)


def bench_baselines(trace, budgets, policies=("random", "streaming", "h2o", "tova", "knorm")):
    """Mean recall per step of simple policies on every (layer, KV head) row of a real trace."""
    rows = trace.attn.shape[0] * trace.attn.shape[1]
    print(f"\n### Baseline recall on a real trace ({trace.length} tokens, {trace.source}, "
          f"{rows} (layer, KV head) rows, token units, prefill evicted)\n")
    print("| policy | " + " | ".join(f"budget {b}" for b in budgets) + " |")
    print("|---|" + "---|" * len(budgets))
    gen = torch.Generator().manual_seed(0)
    from heurist.envs.kv import instance_from_rows

    inst = instance_from_rows([(trace.attn[l, h], trace.key_norm[l, h], trace.n_prompt)
                               for l in range(trace.attn.shape[0])
                               for h in range(trace.attn.shape[1])])
    for name in policies:
        cells = []
        for b in budgets:
            env = KVCacheEnv(generator=TraceSet([trace]), max_len=trace.length, budget=b)
            td = env.reset(instance=inst.clone())
            total = torch.zeros(rows, dtype=torch.float64)
            n = 0
            while not td["done"].all():
                mask = td["action_mask"]
                if name == "random":
                    a = random_masked_action(mask, gen)
                else:
                    sc = torch.where(mask, _score(name, td), float("inf"))
                    a = torch.where(mask.sum(-1) > 1, sc.argmin(-1), 0)
                td["action"] = a
                td = env.step(td)["next"]
                total += td["reward"][:, 0].double()
                n += 1
            cells.append(f"{(total / n).mean():.3f}")
        print(f"| {name} | " + " | ".join(cells) + " |")


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--parts", nargs="+", choices=("collection", "storage", "env", "baselines"),
                    default=["collection", "storage", "env", "baselines"])
    a = ap.parse_args(argv)
    torch.set_num_threads(1)
    lengths = [512] if a.quick else [512, 1024, 2048]
    if {"collection", "storage", "baselines"} & set(a.parts):
        model, tok = load_model()
        traces = bench_collection(model, tok, lengths, [64, 1])
        if "storage" in a.parts:
            bench_storage(traces, [8, 32])
        if "baselines" in a.parts:
            bench_baselines(traces[512 if a.quick else 1024], [0.1, 0.25, 0.5])
    if "env" in a.parts:
        bench_env([512] if a.quick else [512, 1024], [1, 16, 64], 200 if a.quick else 400)


if __name__ == "__main__":
    main()

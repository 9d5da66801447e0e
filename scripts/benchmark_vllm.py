"""vLLM 0.32 (CPU) prefix cache with heurist eviction policies: hit rate and TTFT per policy.

Serves SmolLM2-135M over a multi-tenant ShareGPT chat trace (see
:mod:`heurist.policies.runtimes.vllm_bench`) once per policy on one engine, in the `serve`
environment (README "Serving"), and prints a markdown table: vLLM's prefix-cache counters,
the replay of the recorded block trace through the same policy (equal by the parity test), TTFT
(one request at a time, ``max_tokens=1``) and Belady in hindsight on the same block trace.

    python scripts/benchmark_vllm.py --conversations 12 --blocks 32 --max-turns 4
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

from heurist.cli.serve_bench import serve_python


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--conversations", type=int, default=12)
    p.add_argument("--blocks", type=int, default=32)
    p.add_argument("--max-turns", type=int, default=4)
    p.add_argument("--policy", default="lru,arc,s3fifo,distilled",
                   help="comma-separated: lru, arc, s3fifo, distilled, distilled-tree")
    p.add_argument("--out", type=Path, default=None, help="also write the JSON result here")
    a = p.parse_args()
    py = serve_python()
    if not py.is_file():
        print(f"benchmark_vllm: no vLLM environment at {py} (README \"Serving\")", file=sys.stderr)
        return 2
    proc = subprocess.run(
        [str(py), "-m", "heurist.policies.runtimes.vllm_bench", "--policy", a.policy,
         "--conversations", str(a.conversations), "--blocks", str(a.blocks), "--max-turns",
         str(a.max_turns), "--offload-parity"], stdout=subprocess.PIPE, text=True, check=False)
    if proc.returncode != 0:
        print(f"benchmark_vllm: the vLLM run failed (exit {proc.returncode})", file=sys.stderr)
        return 1
    res = json.loads(proc.stdout.strip().splitlines()[-1])
    if a.out is not None:
        a.out.write_text(json.dumps(res, indent=1))
    c = res["config"]
    print(f"{c['conversations']} conversations, {c['tenants']} tenants, "
          f"{res['rows'][0]['requests']} requests, {c['prompt_tokens']} prompt tokens, "
          f"{c['blocks']} blocks x {c['block_size']} tokens; engine init {c['engine_init_s']:.0f} s\n")
    print("| policy | hits (vLLM, tokens) | replay hits | hit rate | evictions | mean TTFT (ms) |")
    print("|---|---:|---:|---:|---:|---:|")
    for r in res["rows"]:
        hits = r["hits"] if r["hits"] is not None else r["replay_hits"]
        ttft = f"{r['ttft_ms']:.0f}" if r["ttft_ms"] is not None else "-"
        print(f"| {r['policy']} | {r['hits'] if r['hits'] is not None else '-'} | "
              f"{r['replay_hits']} | {100 * hits / c['prompt_tokens']:.1f}% | "
              f"{r.get('evictions', '-')} | {ttft} |")
    print(f"\nCachePolicy parity (our LRU/ARC vs vLLM's): {json.dumps(res['offload_parity'])}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""Record attention traces of the real SmolLM2-135M over offline text and store them.

Example (4 chat sequences of 1024 tokens, 5 layers, dense fp16):

    python scripts/record_kv_traces.py --kind chat --count 4 --tokens 1024 \
        --layers 0 7 15 22 29 --out traces/kv

Each sequence becomes ``<out>/<kind>_<i>.safetensors`` (see heurist.envs.kv.trace_io). Prints the
collection speed (tokens/s) and the storage cost (bytes per token).
"""
from __future__ import annotations

import argparse
import time
from pathlib import Path

import torch

from heurist.envs.kv import load_samples, record_trace, save_trace
from heurist.policies.kv.shared import shared_model


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--kind", choices=("chat", "code"), default="chat")
    ap.add_argument("--count", type=int, default=2)
    ap.add_argument("--tokens", type=int, default=1024, help="tokens per sequence (512-2048)")
    ap.add_argument("--prompt-fraction", type=float, default=0.5, help="code only")
    ap.add_argument("--layers", type=int, nargs="+", default=[0, 7, 15, 22, 29])
    ap.add_argument("--agg", choices=("mean", "max", "sum"), default="mean")
    ap.add_argument("--mode", choices=("teacher", "greedy"), default="teacher")
    ap.add_argument("--decode-chunk", type=int, default=64,
                    help="continuation tokens per forward pass (1 = step-by-step decoding)")
    ap.add_argument("--fmt", choices=("dense", "topk"), default="dense")
    ap.add_argument("--k", type=int, default=32, help="top-k entries per row (fmt=topk)")
    ap.add_argument("--threads", type=int, default=1,
                    help="torch threads (1 is fastest on small shared machines)")
    ap.add_argument("--out", type=Path, default=Path("traces/kv"))
    a = ap.parse_args(argv)
    torch.set_num_threads(a.threads)
    a.out.mkdir(parents=True, exist_ok=True)
    model, tok = shared_model()  # eval mode, no per-tensor loading bar
    samples = load_samples(tok, kind=a.kind, count=a.count, n_tokens=a.tokens,
                           prompt_fraction=a.prompt_fraction)
    n_tok = n_bytes = 0
    t0 = time.perf_counter()
    for i, s in enumerate(samples):
        tr = record_trace(model, s, layers=a.layers, agg=a.agg, mode=a.mode,
                          decode_chunk=a.decode_chunk, progress=True)
        tr.meta.update(index=i, decode_chunk=a.decode_chunk)
        path = a.out / f"{a.kind}_{i:03d}.safetensors"
        n_bytes += save_trace(path, tr, fmt=a.fmt, k=a.k)
        n_tok += tr.length
        print(f"{path}: {tr.length} tokens, prompt {tr.n_prompt}, source {tr.source}")
    dt = time.perf_counter() - t0
    per_head = n_bytes / n_tok / (len(a.layers) * 3)
    print(f"{n_tok} tokens in {dt:.1f} s = {n_tok / dt:.1f} tokens/s; "
          f"{n_bytes / n_tok:.0f} bytes/token ({per_head:.1f} per layer x KV head), fmt={a.fmt}")


if __name__ == "__main__":
    main()

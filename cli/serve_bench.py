"""``heurist serve-bench``: SmolLM2-135M in vLLM 0.32 (CPU) over a multi-tenant ShareGPT chat
trace, once per eviction policy of the prefix cache; one row per policy with vLLM's counters
(``queries``, ``hits``, in tokens), ``replay_hits`` (the recorded block trace through our replay:
equal to ``hits``) and ``ttft_ms``, plus Belady in hindsight on the same block trace.

vLLM needs transformers >= 5.16 and the toolkit's kvpress < 5.3, so it lives in its own
environment (``.venv-serve``, README "Serving"; ``$HEURIST_SERVE_PYTHON`` names another
interpreter). This command runs :mod:`heurist.policies.runtimes.vllm_bench` there.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

__all__ = ["ALIASES", "DEFAULT", "POLICIES", "register", "run", "serve_python"]

POLICIES = ("lru", "arc", "s3fifo", "distilled", "distilledtree")
#: ``learned`` is the shipped learned policy as vLLM runs it: LearnedFTP distilled (linear)
ALIASES = {"learned": "distilled"}
DEFAULT = ("lru", "arc", "s3fifo", "distilled")


def serve_python() -> Path:
    """The interpreter of the `serve` environment: ``$HEURIST_SERVE_PYTHON``, else
    ``.venv-serve/bin/python`` at the repository root."""
    env = os.environ.get("HEURIST_SERVE_PYTHON")
    if env:
        return Path(env)
    return Path(__file__).resolve().parents[1] / ".venv-serve" / "bin" / "python"


def _policies(text: str) -> list[str]:
    names = [p.strip().lower().replace("-", "").replace("_", "") for p in text.split(",")
             if p.strip()]
    names = [ALIASES.get(p, p) for p in names]
    bad = [p for p in names if p not in POLICIES]
    if not names or bad:
        raise argparse.ArgumentTypeError(
            f"unknown policy {', '.join(bad) or text!r}; valid: {', '.join(POLICIES)}, learned")
    return names


def _positive(text: str) -> int:
    try:
        v = int(text)
    except ValueError:
        v = 0
    if v < 1:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {text!r}")
    return v


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "serve-bench", help="vLLM prefix-cache hit rate and TTFT per eviction policy",
        description=__doc__.split("\n\n")[0])
    p.add_argument("--conversations", type=_positive, default=16, metavar="N",
                   help="ShareGPT conversations in the trace (default 16)")
    p.add_argument("--blocks", type=_positive, default=48, metavar="B",
                   help="KV blocks of 32 tokens in vLLM's pool (default 48)")
    p.add_argument("--policy", type=_policies, default=list(DEFAULT),
                   help="comma-separated: lru,arc,s3fifo,distilled,distilled-tree (learned = "
                   "distilled: LearnedFTP distilled into a linear scorer; default "
                   "lru,arc,s3fifo,distilled)")
    p.add_argument("--max-turns", type=_positive, default=4, help="user turns per conversation")
    p.add_argument("--seed", type=int, default=0, help="interleaving of the sessions")
    p.add_argument("--json", action="store_true", help="print the rows as JSON")
    p.set_defaults(func=run)


def run(args) -> int:
    py = serve_python()
    if not py.is_file():
        print(f"heurist serve-bench: no vLLM environment at {py} (see README \"Serving\")",
              file=sys.stderr)
        return 2
    if args.blocks < 8:
        print("heurist serve-bench: --blocks must be at least 8", file=sys.stderr)
        return 2
    cmd = [str(py), "-m", "heurist.policies.runtimes.vllm_bench", "--policy",
           ",".join(args.policy), "--conversations", str(args.conversations), "--blocks",
           str(args.blocks), "--max-turns", str(args.max_turns), "--seed", str(args.seed)]
    # vLLM logs to stdout: the result is the last line; progress goes to stderr as it runs
    proc = subprocess.run(cmd, stdout=subprocess.PIPE, text=True, check=False)
    lines = proc.stdout.strip().splitlines()
    if proc.returncode != 0 or not lines:
        print(f"heurist serve-bench: the vLLM run failed (exit {proc.returncode})", file=sys.stderr)
        return 1
    res = json.loads(lines[-1])
    if args.json:
        print(json.dumps(res["rows"]))
        return 0
    print(f"{'policy':<32}{'queries':>9}{'hits':>8}{'replay':>8}{'hit %':>7}{'ttft ms':>9}")
    for r in res["rows"]:
        q, h = r["queries"], r["hits"]
        rate = f"{100 * (h if h is not None else r['replay_hits']) / res['config']['prompt_tokens']:.1f}"
        print(f"{r['policy']:<32}{q if q is not None else '-':>9}{h if h is not None else '-':>8}"
              f"{r['replay_hits']:>8}{rate:>7}"
              f"{format(r['ttft_ms'], '.0f') if r['ttft_ms'] is not None else '-':>9}")
    return 0

"""Serving benchmark: SmolLM2-135M in vLLM 0.32 (CPU) over a multi-tenant ShareGPT chat trace,
with each heurist policy as the prefix cache's eviction order. Runs in the `serve` environment
(``.venv-serve``, see README); ``heurist serve-bench`` and the tests call it as
``python -m heurist.policies.runtimes.vllm_bench --json ...`` there.

The trace: ``tenants`` tenants, each with its own system prompt (a ShareGPT answer cut to
``system_tokens`` tokens, shared by all its sessions); ``conversations`` ShareGPT conversations
assigned to tenants round-robin; each user turn is one request that re-sends the system prompt
and the whole history (ChatML, every message cut to ``message_tokens``). Sessions interleave in
an order drawn from ``seed``. Requests are served one at a time with ``max_tokens=1``, so a
request's latency is its time to first token.

Per policy: vLLM's ``prefix_cache_queries``/``prefix_cache_hits`` counters (tokens), the replay of
the recorded block trace through the same policy (:mod:`~heurist.policies.runtimes.vllm_replay`,
must be equal), and mean TTFT. Belady in hindsight: ``heurist simulate``'s OPT on the same block
trace (one page per block, no prefix rule: an upper reference, not a schedulable policy).
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import numpy as np

__all__ = ["build_trace", "main", "run_bench"]

BLOCK_SIZE = 32  # the smallest block the CPU attention backend takes (a multiple of 32)


def _tokenizer():
    from transformers import PreTrainedTokenizerFast

    from heurist.envs.kv.model import cache_dir

    path = cache_dir() / "tokenizer.json"
    if not path.is_file():
        raise FileNotFoundError(f"{path} is missing: load the model once (heurist kv ...) to "
                                "dequantize SmolLM2 into its cache")
    # The cached tokenizer_config names CodeLlamaTokenizer, which mangles spaces under recent
    # transformers; the fast tokenizer over the same tokenizer.json is the model's own.
    return PreTrainedTokenizerFast(tokenizer_file=str(path))


def build_trace(tok, *, conversations: int, tenants: int, max_turns: int, message_tokens: int,
                system_tokens: int, max_tokens: int, seed: int) -> list[dict]:
    """The request list: dicts with ``tenant``, ``session``, ``turn`` and ``ids`` (prompt token
    ids, at most ``max_tokens``)."""
    from heurist.envs.kv.texts import sharegpt_conversations

    def ids(text: str, n: int) -> list[int]:
        return tok(text, add_special_tokens=False).input_ids[:n]

    def msg(role: str, body: list[int]) -> list[int]:
        return ids(f"<|im_start|>{role}\n", 8) + body + ids("<|im_end|>\n", 8)

    convs = sharegpt_conversations(limit=4 * (conversations + tenants) + 50)
    systems, sessions = [], []
    for conv in convs:
        if len(systems) < tenants:
            answer = next((v for r, v in conv if r == "assistant"), None)
            if answer and len(ids(answer, system_tokens)) == system_tokens:
                head = ids(f"You are the assistant of tenant {len(systems)}. Guidelines:\n", 32)
                systems.append(msg("system", head + ids(answer, system_tokens)))
            continue
        turns = [(r, v) for r, v in conv if r in ("user", "assistant")]
        if len(turns) >= 2 and turns[0][0] == "user":
            sessions.append(turns)
        if len(sessions) == conversations:
            break
    if len(systems) < tenants or len(sessions) < conversations:
        raise ValueError("not enough ShareGPT conversations for the trace")
    # every session's requests in order, then interleaved by a seeded draw of sessions
    per_session = []
    for s, turns in enumerate(sessions):
        tenant = s % tenants
        prompt, reqs = list(systems[tenant]), []
        for i in range(0, len(turns) - 1, 2):
            if turns[i][0] != "user" or turns[i + 1][0] != "assistant" or i // 2 >= max_turns:
                break
            prompt += msg("user", ids(turns[i][1], message_tokens))
            request = prompt + ids("<|im_start|>assistant\n", 8)
            if len(request) > max_tokens:
                break
            reqs.append({"tenant": tenant, "session": s, "turn": i // 2, "ids": request})
            prompt += msg("assistant", ids(turns[i + 1][1], message_tokens))
        per_session.append(reqs)
    rng = np.random.default_rng(seed)
    pos, out = [0] * len(per_session), []
    while True:
        live = [s for s, reqs in enumerate(per_session) if pos[s] < len(reqs)]
        if not live:
            return out
        s = int(rng.choice(live))
        out.append(per_session[s][pos[s]])
        pos[s] += 1


def _engine(blocks: int):
    os.environ.setdefault("VLLM_ENABLE_V1_MULTIPROCESSING", "0")  # scheduler in this process
    os.environ["HF_HUB_OFFLINE"] = os.environ["TRANSFORMERS_OFFLINE"] = "1"
    from vllm import LLM

    from heurist.envs.kv.model import cache_dir
    from heurist.policies.runtimes.vllm_hook import HeuristScheduler

    llm = LLM(model=str(cache_dir()), skip_tokenizer_init=True, enable_prefix_caching=True,
              disable_log_stats=False, block_size=BLOCK_SIZE,
              num_gpu_blocks_override=blocks + 1,  # + vLLM's null block
              max_model_len=blocks * BLOCK_SIZE, max_num_seqs=1,
              kv_cache_memory_bytes=(blocks + 1) * BLOCK_SIZE * 30 * 2 * 3 * 64 * 4 + (16 << 20),
              distributed_executor_backend="uni", enforce_eager=True, seed=0, dtype="float32",
              scheduler_cls=HeuristScheduler, async_scheduling=False)
    return llm, llm.llm_engine.engine_core.engine_core.scheduler


def _counters(llm) -> tuple[int, int]:
    m = {x.name: x.value for x in llm.get_metrics() if hasattr(x, "value")}
    return int(m["vllm:prefix_cache_queries"]), int(m["vllm:prefix_cache_hits"])


def run_bench(*, policies: list[str], conversations: int, blocks: int, tenants: int = 4,
              max_turns: int = 4, message_tokens: int = 64, system_tokens: int = 96,
              seed: int = 0, progress: bool = True, batch: bool = False) -> dict:
    """Serves the trace once per policy on one engine; returns ``{"rows": [...], "config":
    {...}, "traces": {policy: records}}``."""
    from vllm import SamplingParams
    from vllm.inputs import TokensPrompt

    tok = _tokenizer()
    trace = build_trace(tok, conversations=conversations, tenants=tenants, max_turns=max_turns,
                        message_tokens=message_tokens, system_tokens=system_tokens,
                        max_tokens=blocks * BLOCK_SIZE - 1, seed=seed)
    t0 = time.perf_counter()
    llm, sched = _engine(blocks)
    init_s = time.perf_counter() - t0
    # numba (llvmlite) only after the engine: vLLM's CPU kernel registration scans every loaded
    # module and trips over llvmlite's function wrappers (AttributeError in _rebind_kernels)
    from heurist.policies.paging.simulate import simulate
    from heurist.policies.runtimes.vllm_hook import install_policy
    from heurist.policies.runtimes.vllm_replay import flat_trace, replay

    params = SamplingParams(max_tokens=1, temperature=0.0, detokenize=False)
    llm.generate([TokensPrompt(prompt_token_ids=trace[0]["ids"][:40])], params, use_tqdm=False)
    rows, traces = [], {}
    for name in policies:
        install_policy(sched, name)
        q0, h0 = _counters(llm)
        ttft, cached = [], []
        if batch:  # one call: FCFS with max_num_seqs=1 serves them in order (no TTFT measured)
            outs = llm.generate([TokensPrompt(prompt_token_ids=r["ids"]) for r in trace], params,
                                use_tqdm=False)
            cached = [int(o.num_cached_tokens or 0) for o in outs]
        for i, req in enumerate([] if batch else trace):
            t = time.perf_counter()
            out = llm.generate([TokensPrompt(prompt_token_ids=req["ids"])], params,
                               use_tqdm=False)
            ttft.append(time.perf_counter() - t)
            cached.append(int(out[0].num_cached_tokens or 0))
            if progress:
                print(f"\r{name}: {i + 1}/{len(trace)}", end="", file=sys.stderr, flush=True)
        if progress:
            print(file=sys.stderr)
        q1, h1 = _counters(llm)
        records = [dict(r, keys=[k.hex() for k in r["keys"]]) for r in sched.block_trace]
        rep = replay(sched.block_trace, name, blocks, block_size=BLOCK_SIZE)
        rows.append({
            "policy": name, "requests": len(trace), "queries": q1 - q0, "hits": h1 - h0,
            "replay_hits": rep.hit_blocks * BLOCK_SIZE,
            "request_hits": cached,
            "replay_request_hits": [h * BLOCK_SIZE for h in rep.hits],
            "evictions": sched.kv_cache_manager.block_pool.free_block_queue.evictions,
            "replay_evictions": rep.evictions,
            "ttft_ms": 1000.0 * float(np.mean(ttft)) if ttft else None,
        })
        traces[name] = records
    flat = flat_trace(sched.block_trace, block_size=BLOCK_SIZE)
    opt = simulate(flat, blocks, "OPT")
    rows.append({"policy": "belady (hindsight, per block)", "requests": len(trace),
                 "queries": None, "hits": None, "replay_hits": opt.hits * BLOCK_SIZE,
                 "block_requests": int(flat.size), "ttft_ms": None})
    config = {"conversations": conversations, "blocks": blocks, "block_size": BLOCK_SIZE,
              "tenants": tenants, "max_turns": max_turns, "message_tokens": message_tokens,
              "system_tokens": system_tokens, "seed": seed, "engine_init_s": init_s,
              "prompt_tokens": int(sum(len(r["ids"]) for r in trace))}
    return {"rows": rows, "config": config, "traces": traces}


def offload_parity(records: list[dict], *, capacity: int) -> dict:
    """Our LRU/ARC against vLLM's built-in ``LRUCachePolicy``/``ARCCachePolicy`` on the recorded
    key sequence (:func:`~heurist.policies.runtimes.vllm_replay.drive_offload`), for several
    capacities: per policy, the number of decisions and whether every one was equal."""
    from vllm.v1.kv_offload.cpu.policies.arc import ARCCachePolicy
    from vllm.v1.kv_offload.cpu.policies.lru import LRUCachePolicy

    from heurist.policies.runtimes.vllm_policies import ARCPolicy, LRUPolicy
    from heurist.policies.runtimes.vllm_replay import drive_offload

    recs = [dict(r, keys=[bytes.fromhex(k) for k in r["keys"]]) for r in records]
    out = {}
    for name, theirs, ours in (("lru", LRUCachePolicy, LRUPolicy), ("arc", ARCCachePolicy, ARCPolicy)):
        n, equal, evicted = 0, True, 0
        for cap in range(max(2, capacity // 4), capacity + 1, max(1, capacity // 8)):
            a = drive_offload(theirs(cap), recs, block_size=BLOCK_SIZE)
            b = drive_offload(ours(cap), recs, block_size=BLOCK_SIZE)
            n += len(a)
            evicted += sum(len(x) for x in a if x)
            equal &= a == b
        out[name] = {"decisions": n, "evicted": evicted, "equal": bool(equal)}
    return out


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="vllm_bench")
    p.add_argument("--policy", default="lru,arc,s3fifo")
    p.add_argument("--conversations", type=int, default=16)
    p.add_argument("--blocks", type=int, default=48)
    p.add_argument("--tenants", type=int, default=4)
    p.add_argument("--max-turns", type=int, default=4)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--message-tokens", type=int, default=64)
    p.add_argument("--system-tokens", type=int, default=96)
    p.add_argument("--out", type=Path, default=None, help="write the full result (with traces)")
    p.add_argument("--json", action="store_true")
    p.add_argument("--batch", action="store_true",
                   help="submit each policy's requests in one call (faster; no TTFT)")
    p.add_argument("--offload-parity", action="store_true",
                   help="also drive vLLM's own LRU/ARC CachePolicy and ours over the trace")
    a = p.parse_args(argv)
    res = run_bench(policies=a.policy.split(","), conversations=a.conversations, blocks=a.blocks,
                    tenants=a.tenants, max_turns=a.max_turns, seed=a.seed,
                    message_tokens=a.message_tokens, system_tokens=a.system_tokens,
                    batch=a.batch)
    if a.offload_parity:
        res["offload_parity"] = offload_parity(res["traces"][next(iter(res["traces"]))],
                                               capacity=a.blocks)
    if a.out is not None:
        a.out.write_text(json.dumps(res))
    print(json.dumps({k: v for k, v in res.items() if k != "traces"}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""vLLM 0.32 (CPU) runs our eviction order: hit parity with the replay, CachePolicy parity.

One engine for the module: a single run of ``heurist.policies.runtimes.vllm_bench`` in the `serve`
environment (``.venv-serve``, README "Serving"; vLLM needs a newer transformers than kvpress) over
a small multi-tenant ShareGPT trace (6 conversations, 8 blocks of 32 tokens, LRU/ARC/S3-FIFO and
the distilled learned scorer, all requests of a policy in one call). The engine loads the
dequantized SmolLM2 cache; the fixture builds it first when absent (it does not rely on the kv
tests having run before).
"""
import json
import subprocess

import pytest

from heurist.cli.serve_bench import serve_python

POLICIES = ("lru", "arc", "s3fifo", "distilled")


@pytest.fixture(scope="module")
def bench():
    """The benchmark's JSON result (rows, config, offload parity)."""
    from heurist.envs.kv import model

    py = serve_python()
    assert py.is_file(), f"no vLLM environment at {py}: install it as README 'Serving' says"
    if not model._is_cached(model.cache_dir()):  # vLLM has no GGUF loader: dequantize once
        model.load_model()
    proc = subprocess.run(
        [str(py), "-m", "heurist.policies.runtimes.vllm_bench", "--conversations", "6",
         "--blocks", "8", "--max-turns", "3", "--message-tokens", "16", "--system-tokens", "40",
         "--policy", ",".join(POLICIES), "--offload-parity", "--batch"],
        capture_output=True, text=True, timeout=600, check=False)  # ~230 s on 2 busy cores
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


def _rows(bench):
    return {r["policy"]: r for r in bench["rows"]}


def test_vllm_hits_equal_the_replay_of_its_block_trace(bench):
    """Per policy and per request, vLLM's cached tokens equal the replay's hits (same evictions)."""
    rows = _rows(bench)
    for name in POLICIES:
        r = rows[name]
        assert r["hits"] == r["replay_hits"] > 0
        assert r["request_hits"] == r["replay_request_hits"]
        assert r["evictions"] == r["replay_evictions"] > 0
        assert r["queries"] == bench["config"]["prompt_tokens"]
        assert r["ttft_ms"] is None  # --batch: one call, no TTFT


def test_policies_differ_in_the_engine(bench):
    """The parity is not vacuous: the policies' per-request hits are not all the same."""
    rows = _rows(bench)
    assert len({tuple(rows[n]["request_hits"]) for n in POLICIES}) > 1


def test_belady_in_hindsight_bounds_the_block_hits(bench):
    """OPT on the per-block trace hits at least as often as any policy in the engine."""
    rows = _rows(bench)
    opt = rows["belady (hindsight, per block)"]["replay_hits"]
    assert all(opt >= rows[n]["hits"] for n in POLICIES)


def test_our_lru_and_arc_equal_vllms_cache_policies(bench):
    """Our LRU and ARC make every decision vLLM's LRUCachePolicy/ARCCachePolicy make."""
    par = bench["offload_parity"]
    for name in ("lru", "arc"):
        assert par[name]["equal"] is True
        assert par[name]["evicted"] > 0

"""heurist's policies behind vLLM's CachePolicy contract, without vLLM: the same decisions as
``heurist simulate`` where the contract reduces to demand paging, and the contract's own rules."""
import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from heurist.policies.paging.simulate import simulate
from heurist.policies.runtimes.vllm_policies import (
    Chunk,
    LRUPolicy,
    S3FIFOPolicy,
    ScorerPolicy,
    make_policy,
)
from heurist.policies.runtimes.vllm_replay import replay


def _demand_misses(pol, trace, k) -> int:
    """Demand paging through the contract: a hit is a reuse, a miss evicts one when full."""
    n = misses = 0
    for p in map(int, trace):
        if pol.get(p) is not None:
            pol.on_request_finished([[p]], set(), {p}, None)
            continue
        misses += 1
        if n == k:
            assert len(pol.evict(1, set())) == 1
            n -= 1
        pol.on_store_miss([p], None)
        pol.insert(p, Chunk(0, 0))
        n += 1
        pol.on_request_finished([[p]], {p}, set(), None)
    return misses


traces = st.lists(st.integers(0, 11), min_size=1, max_size=80)


@settings(max_examples=60, deadline=None)
@given(traces, st.integers(1, 9))
def test_lru_and_s3fifo_equal_heurist_simulate(trace, k):
    """Without pins, our contract LRU and S3-FIFO miss exactly where heurist simulate's do."""
    t = np.asarray(trace)
    assert _demand_misses(LRUPolicy(k), t, k) == simulate(t, k, "LRU").misses
    assert _demand_misses(S3FIFOPolicy(k), t, k) == simulate(t, k, "S3-FIFO").misses


@settings(max_examples=40, deadline=None)
@given(traces, st.integers(1, 9))
def test_scorer_on_recency_is_lru(trace, k):
    """A get_priority scorer that ranks by recency (feature 0: 0 = most recent) evicts as LRU."""
    t = np.asarray(trace)
    scorer = ScorerPolicy(k, get_priority=lambda f: -f[:, 0])
    assert _demand_misses(scorer, t, k) == _demand_misses(LRUPolicy(k), t, k)


@settings(max_examples=40, deadline=None)
@given(traces, st.integers(1, 9))
def test_distilled_equals_heurist_simulate(trace, k):
    """The distilled scorers behind the contract (features kept online from the requests) miss
    exactly where ``heurist simulate --policy distilled`` / ``distilled-tree`` do."""
    t = np.asarray(trace)
    assert _demand_misses(make_policy("distilled", k), t, k) == simulate(t, k, "Distilled").misses
    assert (_demand_misses(make_policy("distilled-tree", k), t, k)
            == simulate(t, k, "DistilledTree").misses)


def test_distilled_victims_on_a_long_trace():
    """On 3,000 Zipf requests the contract's distilled victims give heurist simulate's misses,
    and ``learned`` names the same policy."""
    rng = np.random.default_rng(5)
    t = (rng.zipf(1.3, 3000) % 200).astype(np.int64)
    for name, sim in (("distilled", "Distilled"), ("distilledtree", "DistilledTree"),
                      ("learned", "Distilled")):
        assert _demand_misses(make_policy(name, 16), t, 16) == simulate(t, 16, sim).misses


def test_evict_is_atomic_and_skips_pinned_and_protected():
    """evict(n) returns None and changes nothing when fewer than n chunks may go."""
    for name in ("lru", "arc", "s3fifo", "distilled", "distilled-tree"):
        pol = make_policy(name, 4)
        for key, ref in (("a", 0), ("b", 1), ("c", 0)):
            pol.insert(key, Chunk(0, ref))
        assert pol.evict(2, {"c"}) is None
        assert all(pol.get(k) is not None for k in "abc")
        assert [k for k, _ in pol.evict(1, {"c"})] == ["a"]


def test_replay_counts_prefix_hits():
    """Two requests sharing a 2-block prefix: the second hits 2 blocks (64 tokens), not its 3rd."""
    keys = [b"h0", b"h1", b"h2"]
    recs = [{"keys": keys[:2], "prompt_tokens": 70, "computed_tokens": 70, "blocks": 3},
            {"keys": keys, "prompt_tokens": 100, "computed_tokens": 100, "blocks": 4}]
    res = replay(recs, "lru", 8, block_size=32)
    assert res.hits == [0, 2] and res.evictions == 0

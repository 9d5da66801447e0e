"""The guillotine search's exact look-ahead rows, the in-section checks and the restarts
(issue 13, sixth follow-up): the rows equal brute-force subset sums (or a superset under a small
bit budget), the pruning removes no cut set, and every variant still packs small tilings."""

import itertools

import numpy as np
import pytest
from test_malloc_filler_search import INFEASIBLE, full_section_instances

from heurist.envs.malloc import MallocInstance, MemoryConfig
from heurist.envs.malloc.synthetic import zero_slack_instance
from heurist.policies.malloc import check_plan
from heurist.policies.malloc import guillotine_search as gs
from heurist.policies.malloc.filler_search import filler_pack
from heurist.policies.malloc.geometry import address_unit, compressed_times
from heurist.policies.malloc.minimalloc_search import minimalloc_pack


def _pieces(count):
    """Small perfect tilings: generated guillotine ones and random full-section ones."""
    out = [zero_slack_instance(4 + s % 9, seed=s, capacity=24, horizon=6)[0]
           for s in range(count)]
    out += [inst for inst, _ in full_section_instances(count, seed=11)]
    return out


def _setup(inst):
    """The search and the top piece's per-section lists, as ``_address`` builds them."""
    unit = address_unit(inst)
    t0, t1 = compressed_times(inst)
    g = gs._Guillotine(inst.size // unit, t0, t1, 10**9)
    width = int(t1.max())
    items = frozenset(range(inst.n))
    live = [[] for _ in range(width)]
    starts = [[] for _ in range(width)]
    for b in items:
        starts[g.lo[b]].append(b)
        for k in range(g.lo[b], g.hi[b]):
            live[k].append(b)
    prev_in = {b: g.prev_same[b] for b in items}
    return g, width, int(inst.capacity // unit), live, starts, prev_in


def _bits(row, h):
    return {0} if row is None else {t for t in range(h + 1) if (row[t >> 3] >> (t & 7)) & 1}


@pytest.mark.parametrize("reach_bits", [1 << 29, 1])
def test_reach_rows_are_the_subset_sums_of_the_undecided_buffers(monkeypatch, reach_bits):
    """``_reach`` row ``[k][i]`` equals the brute-force subset sums of the buffers live in
    section ``k`` that start in ``i`` or later; under a 1-bit budget it is a superset."""
    monkeypatch.setattr(gs, "_REACH_BITS", reach_bits)
    for inst in _pieces(20):
        g, width, h, live, _, _ = _setup(inst)
        rows = g._reach(0, h, live)
        for k in range(width):
            for i in range(k + 1):
                und = [g.size[b] for b in live[k] if g.lo[b] >= i]
                sums = {sum(c) for r in range(len(und) + 1)
                        for c in itertools.combinations(und, r) if sum(c) <= h}
                got = _bits(rows[k][i], h)
                assert got == sums if reach_bits > 1 else got >= sums


@pytest.mark.parametrize("reach_bits", [1 << 29, 1])
def test_lookahead_removes_no_cut_set(monkeypatch, reach_bits):
    """On small perfect tilings, for every level and anchor, the cut sets found with the
    look-ahead (entry and in-section checks) are exactly those found without it."""
    monkeypatch.setattr(gs, "_REACH_BITS", reach_bits)
    for inst in _pieces(20):
        g, width, h, live, starts, prev_in = _setup(inst)
        rows = g._reach(0, h, live)
        anchors = [-1] + [b for b in range(inst.n) if g.hi[b] - g.lo[b] >= 2]
        for a in range(1, h):
            for anchor in anchors:
                plain = {frozenset(S) for S in g._cut_sets(0, width, h, a, starts, prev_in,
                                                           anchor, None) if S is not None}
                fast = {frozenset(S) for S in g._cut_sets(0, width, h, a, starts, prev_in,
                                                          anchor, rows) if S is not None}
                assert fast == plain, (inst.name, a, anchor)


@pytest.mark.parametrize("attempt", [None, 4, 64])
def test_restarts_pack_every_small_guillotine_tiling(attempt):
    """With restarts (each cut attempt capped at ``attempt`` steps, 4x more each round) or
    without, the guillotine search packs 100 small generated tilings; plans are checked."""
    for seed in range(100):
        inst, _ = zero_slack_instance(4 + seed % 20, seed=seed, capacity=64, horizon=8)
        unit = address_unit(inst)
        t0, t1 = compressed_times(inst)
        off, used = gs.guillotine_pack(inst.size // unit, t0, t1, inst.capacity // unit,
                                       steps=1_000_000, attempt=attempt)
        assert off is not None and used < 1_000_000, (seed, attempt)
        assert check_plan(inst, off * unit, mode="packing").valid


def test_restarts_decline_the_pinwheel_and_infeasible_instances():
    """With tiny attempt caps the guillotine search still declines the pinwheel (no guillotine
    packing) and the 5 brute-force-infeasible instances within its steps."""
    cases = [([1, 2, 1, 2, 1], [0, 2, 1, 0, 1], [2, 3, 3, 1, 2], 3)] + list(INFEASIBLE)
    for size, start, end, cap in cases:
        inst = MallocInstance.from_intervals(size, start, end, memory=MemoryConfig(capacity=cap))
        t0, t1 = compressed_times(inst)
        for attempt in (None, 2, 16):
            off, used = gs.guillotine_pack(np.asarray(size), t0, t1, cap, steps=100_000,
                                           attempt=attempt)
            assert off is None and used < 100_000


def test_known_packings_never_infeasible_and_one_byte_less_is():
    """Generated tilings of 60-200 buffers are packed at C by the portfolio (plans checked)
    and never called infeasible under small budgets; at C - 1 byte they are proved infeasible."""
    for n, seed in ((60, 1), (200, 0)):
        inst, _ = zero_slack_instance(n, seed=seed, capacity=1 << 12, horizon=64, alignment=4)
        res = minimalloc_pack(inst, node_limit=200_000)
        assert res.status == "feasible"
        assert check_plan(inst, res.offsets, mode="packing").valid
        for budget in (5, 50, 500):
            assert minimalloc_pack(inst, node_limit=budget).status != "infeasible"
        assert filler_pack(inst, capacity=inst.capacity - 1).status == "infeasible"

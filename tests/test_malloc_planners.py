"""Malloc planners: exact optima on tiny instances, validity of every greedy plan, the bounds."""

import numpy as np
import pytest
from brute_force import brute_min_peak
from hypothesis import given, settings
from hypothesis import strategies as st

from heurist.envs.malloc import SLOW, MallocInstance, MemoryConfig, read_csv, time_all_slow
from heurist.envs.malloc.synthetic import random_instance, zero_slack_instance
from heurist.policies.malloc import (
    GREEDY_PLANNERS,
    PACKING_ONLY,
    PLANNERS,
    check_plan,
    cpsat_mapping,
    cpsat_pack,
    evaluate_plan,
    executorch,
    greedy_size,
    lp_saving_bound,
    maximal_sections,
    mip_saving_bound,
    msa,
    peak_live_bytes,
    plan,
    skyline_pack,
    time_conflicts,
)


def tiny_instance(rng, n, capacity=100):
    start = rng.integers(0, 5, n)
    end = start + rng.integers(1, 5, n)
    return MallocInstance.from_intervals(rng.integers(1, 6, n), start, end,
                                         memory=MemoryConfig(capacity=capacity))


@pytest.mark.parametrize("seed", range(12))
def test_cpsat_min_peak_equals_exhaustive_optimum(seed):
    """On <= 7 buffers CP-SAT's proven minimum peak equals the exhaustive optimum."""
    rng = np.random.default_rng(seed)
    inst = tiny_instance(rng, 3 + seed % 5)
    opt = brute_min_peak(inst.size.tolist(), inst.start.tolist(), inst.end.tolist())
    result = cpsat_pack(inst, time_limit=10.0, seed=0, workers=1)
    assert result.status == "optimal"
    assert result.peak == opt
    assert check_plan(inst, result.offsets, mode="packing", enforce_capacity=False).valid
    assert peak_live_bytes(inst) <= opt <= int((greedy_size(inst) + inst.size).max())


def test_cpsat_decides_feasibility_at_capacity():
    """At C = optimum CP-SAT finds a packing; at C = optimum - 1 it proves there is none."""
    rng = np.random.default_rng(100)
    for _ in range(5):
        inst = tiny_instance(rng, 6)
        opt = brute_min_peak(inst.size.tolist(), inst.start.tolist(), inst.end.tolist())
        ok = cpsat_pack(inst, capacity=opt, time_limit=10.0)
        assert ok.status in ("optimal", "feasible") and ok.peak <= opt
        no = cpsat_pack(inst, capacity=opt - 1, time_limit=10.0)
        assert no.status == "infeasible" and no.offsets is None


def test_example_input_12_is_packed_exactly(shared_data):
    """MiniMalloc's example fits its capacity 12 with greedy-by-size and with CP-SAT."""
    inst, _ = read_csv(shared_data / "malloc/minimalloc-challenging/input.12.csv")
    for method in ("greedy_size", "cpsat"):
        offsets = plan(inst, method, mode="packing", time_limit=5.0)
        check = check_plan(inst, offsets, mode="packing")
        assert check.valid and check.peak == 12


@st.composite
def instances(draw):
    n = draw(st.integers(1, 40))
    starts = draw(st.lists(st.integers(0, 30), min_size=n, max_size=n))
    lens = draw(st.lists(st.integers(1, 12), min_size=n, max_size=n))
    sizes = draw(st.lists(st.integers(0, 64), min_size=n, max_size=n))
    mem = MemoryConfig(capacity=draw(st.integers(0, 300)), alignment=draw(st.integers(1, 8)))
    return MallocInstance.from_intervals(sizes, starts, [s + d for s, d in zip(starts, lens)],
                                         memory=mem)


@settings(max_examples=150, deadline=None)
@given(instances(), st.sampled_from(sorted(GREEDY_PLANNERS)))
def test_greedy_plans_are_valid(inst, name):
    """Greedy packings are valid with peak >= the peak-live bound; greedy mappings are valid,
    within capacity, and never slower than all-slow."""
    packing = GREEDY_PLANNERS[name](inst, mode="packing")
    check = check_plan(inst, packing, mode="packing", enforce_capacity=False)
    assert check.valid, check.first
    assert check.peak >= peak_live_bytes(inst)
    mapping = GREEDY_PLANNERS[name](inst, mode="mapping")
    check = check_plan(inst, mapping, mode="mapping")
    assert check.valid, check.first
    assert evaluate_plan(inst, mapping).time <= time_all_slow(inst) + 1e-15


@settings(max_examples=60, deadline=None)
@given(instances())
def test_mapping_greedy_keeps_whatever_fits(inst):
    """A buffer left slow by greedy mapping would overlap a fast one or exceed the capacity
    wherever it goes (checked at every aligned offset)."""
    offsets = greedy_size(inst, mode="mapping")
    a = inst.memory.alignment
    for i in np.flatnonzero(offsets == SLOW):
        for o in range(0, inst.capacity - int(inst.size[i]) + 1, a):
            trial = offsets.copy()
            trial[i] = o
            assert not check_plan(inst, trial, mode="mapping").valid


def test_time_conflicts_matches_pairwise():
    """The sweep's conflict lists equal the all-pairs interval intersection test."""
    rng = np.random.default_rng(5)
    start = rng.integers(0, 50, 300)
    end = start + rng.integers(1, 20, 300)
    indptr, indices = time_conflicts(start, end)
    for i in range(300):
        got = sorted(indices[indptr[i]:indptr[i + 1]].tolist())
        want = [j for j in range(300) if j != i and start[i] < end[j] and start[j] < end[i]]
        assert got == want


def test_executorch_shares_slots_by_lifetime():
    """ExecuTorch greedy: disjoint lifetimes share a slot, slots are laid out one after another."""
    inst = MallocInstance.from_intervals([8, 4, 6, 2], [0, 0, 2, 3], [2, 3, 5, 6],
                                         memory=MemoryConfig(capacity=10))
    # Slot 0 <- b0 (8, ends 2), slot 1 <- b1 (4, ends 3); b2 (6) at t=2 takes slot 0, the only
    # free one; b3 (2) at t=3 takes slot 1 (free again at 3; slot 0 is busy until 5).
    assert executorch(inst).tolist() == [0, 8, 0, 8]
    assert executorch(inst, mode="mapping").tolist() == [0, SLOW, 0, SLOW]


def test_msa_prefers_memory_bound_buffers():
    """In mapping mode MSA keeps the buffer that saves most per sqrt(byte)."""
    mem = MemoryConfig(capacity=10, bw_fast=2.0, bw_slow=1.0, flops_per_s=1.0)
    # Two same-size buffers compete for the 10 bytes; only buffer 1 is used many times.
    inst = MallocInstance(size=[10, 10], start=[0, 0], end=[4, 4], ids=[0, 1],
                          op_flops=[0.0] * 4, use_buffer=[0, 1, 1, 1, 1], use_op=[0, 0, 1, 2, 3],
                          use_bytes=[10] * 5, memory=mem)
    assert msa(inst, mode="mapping").tolist() == [SLOW, 0]
    assert greedy_size(inst, mode="mapping").tolist() == [0, SLOW]


def brute_best_mapping_time(inst) -> float:
    best = time_all_slow(inst)
    size, start, end = inst.size.tolist(), inst.start.tolist(), inst.end.tolist()
    for mask in range(1, 2 ** inst.n):
        members = [i for i in range(inst.n) if mask >> i & 1]
        if brute_min_peak(size, start, end, members) <= inst.capacity:
            best = min(best, evaluate_plan(inst, np.where([mask >> i & 1 for i in range(inst.n)],
                                                     0, SLOW)).time)
    return best


@pytest.mark.parametrize("seed", range(4))
def test_cpsat_mapping_and_bounds_bracket_the_exhaustive_optimum(seed):
    """CP-SAT mapping reaches the exhaustive optimum time; MIP and LP bounds are valid and
    LP >= MIP >= optimal saving."""
    inst = random_instance(6, seed=seed, n_ops=6, max_lifetime=4, size_range=(1, 8),
                           memory=MemoryConfig(capacity=8))
    opt = brute_best_mapping_time(inst)
    offsets = cpsat_mapping(inst, time_limit=10.0, seed=0, workers=1)
    assert check_plan(inst, offsets, mode="mapping").valid
    assert evaluate_plan(inst, offsets).time == pytest.approx(opt, rel=1e-6)
    saving = time_all_slow(inst) - opt
    mip, lp = mip_saving_bound(inst, time_limit=10.0), lp_saving_bound(inst)
    assert mip.optimal and lp.optimal
    assert saving <= mip.saving * (1 + 1e-6) + 1e-15
    assert mip.saving <= lp.saving * (1 + 1e-6) + 1e-15


def test_registry_runs_every_planner():
    """Every registered planner returns a valid plan in both modes; unknown names are errors."""
    inst = random_instance(30, seed=7, n_ops=10, max_lifetime=5)
    assert set(PLANNERS) >= {"greedy_size", "msa", "executorch", "first_fit", "cpsat"}
    for name in PLANNERS:
        for mode in ("packing",) if name in PACKING_ONLY else ("packing", "mapping"):
            offsets = plan(inst, name, mode=mode, time_limit=2.0)
            assert check_plan(inst, offsets, mode=mode,
                              enforce_capacity=mode == "mapping").valid
    with pytest.raises(ValueError, match="unknown method"):
        plan(inst, "bogus")
    with pytest.raises(ValueError, match="mode"):
        plan(inst, "msa", mode="stack")


# Greedy-by-size best-fit peaks on A..K (deterministic; 1.255-1.410 x 2^20; MiniMalloc's README
# reports 1.28-1.44x for plain greedy-by-size best fit, whose tie-breaking differs).
GREEDY_SIZE_PEAKS = {"A": 1374208, "B": 1412096, "C": 1417216, "D": 1315840, "E": 1469440,
                     "F": 1441792, "G": 1396736, "H": 1421312, "I": 1478656, "J": 1333248,
                     "K": 1391616}


def test_greedy_size_on_real_files(shared_data):
    """Greedy-by-size best fit is valid on A..K with exactly the recorded peaks."""
    peaks = {}
    for f in sorted((shared_data / "malloc/minimalloc-challenging").glob("[A-K].*.csv")):
        inst, _ = read_csv(f)
        check = check_plan(inst, greedy_size(inst), mode="packing", enforce_capacity=False)
        assert check.valid, f.name
        peaks[f.name[0]] = check.peak
    assert peaks == GREEDY_SIZE_PEAKS


@settings(max_examples=60, deadline=None)
@given(instances())
def test_maximal_sections_cover_every_live_set(inst):
    """Every step's live set lies inside one of the sections the saving bounds constrain."""
    sections = [set(s.tolist()) for s in maximal_sections(inst)]
    for t in range(int(inst.end.max())):
        live = set(np.flatnonzero((inst.start <= t) & (t < inst.end)).tolist())
        assert any(live <= s for s in sections)


def test_saving_bounds_dominate_greedy_mappings():
    """On a 60-buffer program LP >= MIP >= the saving of every greedy mapping."""
    inst = random_instance(60, seed=11, n_ops=20, max_lifetime=8, capacity_fraction=0.4)
    lp, mip = lp_saving_bound(inst), mip_saving_bound(inst, time_limit=20.0)
    assert mip.saving <= lp.saving * (1 + 1e-6) + 1e-15
    for name, fn in GREEDY_PLANNERS.items():
        saving = time_all_slow(inst) - evaluate_plan(inst, fn(inst, mode="mapping")).time
        assert 0.0 <= saving <= mip.saving * (1 + 1e-6) + 1e-15, name


@pytest.mark.parametrize("stranded_check, fail_first", [(False, True), (True, True),
                                                        (False, False), (True, False)])
def test_skyline_search_decides_exactly(stranded_check, fail_first):
    """The skyline search finds a valid packing at C = optimum and proves C = optimum - 1
    infeasible, on random <= 7-buffer instances (optimum by exhaustive search)."""
    rng = np.random.default_rng(21)
    for _ in range(25):
        inst = tiny_instance(rng, int(rng.integers(2, 8)))
        opt = brute_min_peak(inst.size.tolist(), inst.start.tolist(), inst.end.tolist())
        found = skyline_pack(inst, capacity=opt, stranded_check=stranded_check,
                             fail_first=fail_first)
        assert found.status == "feasible"
        check = check_plan(inst.with_capacity(opt), found.offsets, mode="packing")
        assert check.valid and check.peak <= opt
        assert skyline_pack(inst, capacity=opt - 1, stranded_check=stranded_check,
                            fail_first=fail_first).status == "infeasible"


def test_skyline_search_solves_zero_slack_instances():
    """Zero-slack synthetic instances (40 buffers) are packed at exactly their capacity."""
    for seed in range(5):
        inst, _ = zero_slack_instance(40, seed=seed, capacity=256, horizon=64, alignment=4)
        result = skyline_pack(inst, node_limit=200_000)
        assert result.status == "feasible"
        assert check_plan(inst, result.offsets, mode="packing").valid


@pytest.mark.parametrize("name, nodes", [("A", 390), ("D", 35_855)])
def test_skyline_solves_real_files(shared_data, name, nodes):
    """The skyline search packs MiniMalloc's A and D at exactly 2^20 (greedy needs 1.25-1.31x),
    in the recorded number of nodes (the search is deterministic)."""
    inst, _ = read_csv(shared_data / f"malloc/minimalloc-challenging/{name}.1048576.csv")
    result = skyline_pack(inst, node_limit=200_000)
    assert (result.status, result.nodes) == ("feasible", nodes)
    check = check_plan(inst, result.offsets, mode="packing")
    assert check.valid and check.peak == inst.capacity


def test_skyline_registry_entry():
    """Registry 'skyline' packs within capacity when possible, else returns the best greedy
    packing; mapping mode is refused."""
    inst = MallocInstance.from_intervals([2, 2, 2, 2], [0, 1, 0, 2], [2, 3, 1, 3],
                                         memory=MemoryConfig(capacity=4))
    offsets = plan(inst, "skyline", time_limit=1.0)
    assert check_plan(inst, offsets, mode="packing").valid
    tight = inst.with_capacity(3)
    offsets = plan(tight, "skyline", time_limit=1.0)
    assert check_plan(tight, offsets, mode="packing", enforce_capacity=False).valid
    with pytest.raises(ValueError, match="packing mode only"):
        plan(inst, "skyline", mode="mapping")

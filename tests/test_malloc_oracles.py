"""The independent oracles: check_plan, evaluate and the peak-live lower bound."""
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from heurist.envs.malloc import SLOW, MallocInstance, MemoryConfig, program_time
from heurist.envs.malloc.oracle import VIOLATION_KINDS, check_plan, evaluate_plan, peak_live_bytes
from heurist.envs.malloc.synthetic import random_instance


def boxes(sizes, starts, ends, capacity=16, alignment=1, labels=()):
    return MallocInstance.from_intervals(sizes, starts, ends, labels=labels,
                                         memory=MemoryConfig(capacity=capacity,
                                                             alignment=alignment))


@st.composite
def instances(draw, max_n=12):
    n = draw(st.integers(0, max_n))
    starts = draw(st.lists(st.integers(0, 12), min_size=n, max_size=n))
    lens = draw(st.lists(st.integers(1, 8), min_size=n, max_size=n))
    sizes = draw(st.lists(st.integers(0, 9), min_size=n, max_size=n))
    ends = [s + d for s, d in zip(starts, lens)]
    return boxes(sizes, starts, ends, capacity=draw(st.integers(0, 40)),
                 alignment=draw(st.integers(1, 3)))


def brute_force_violations(inst, plan, mode):
    """O(N^2) reference: the set of violated kinds and of overlapping pairs."""
    kinds, pairs = set(), set()
    fast = []
    for i, o in enumerate(plan.tolist()):
        if o == SLOW:
            if mode == "packing":
                kinds.add("slow_in_packing")
            continue
        if o < 0:
            kinds.add("negative_offset")
            continue
        if o % inst.memory.alignment:
            kinds.add("misaligned")
        if o + inst.size[i] > inst.capacity:
            kinds.add("capacity")
        fast.append(i)
    for a in fast:
        for b in fast:
            if a < b and inst.start[a] < inst.end[b] and inst.start[b] < inst.end[a] \
                    and plan[a] < plan[b] + inst.size[b] and plan[b] < plan[a] + inst.size[a] \
                    and inst.size[a] > 0 and inst.size[b] > 0:
                pairs.add((a, b))
    if pairs:
        kinds.add("overlap")
    return kinds, pairs


@settings(max_examples=300, deadline=None)
@given(instances(), st.data(), st.sampled_from(["packing", "mapping"]))
def test_check_plan_matches_pairwise_brute_force(inst, data, mode):
    """check_plan flags exactly the violation kinds an O(N^2) check finds; overlaps it names are
    real overlapping pairs."""
    plan = np.array(data.draw(st.lists(st.integers(-3, 30), min_size=inst.n, max_size=inst.n)),
                    dtype=np.int64)
    check = check_plan(inst, plan, mode=mode)
    kinds, pairs = brute_force_violations(inst, plan, mode)
    assert {v.kind for v in check.violations} == kinds
    assert check.valid == (not kinds)
    for v in check.violations:
        if v.kind == "overlap":
            assert v.buffers in pairs


def test_each_violation_kind_is_named():
    """Each rule produces its own violation naming the buffers involved by id."""
    inst = boxes([4, 4, 4], [0, 2, 5], [4, 6, 8], capacity=8, alignment=2,
                 labels=("x", "y", "z"))
    cases = {
        "overlap": (np.array([0, 2, 0]), "mapping", ("'x'", "'y'")),
        "capacity": (np.array([0, 4, 6]), "mapping", ("'z'",)),
        "misaligned": (np.array([0, 4, 1]), "mapping", ("'z'",)),
        "negative_offset": (np.array([0, -4, 0]), "mapping", ("'y'",)),
        "slow_in_packing": (np.array([0, SLOW, 0]), "packing", ("'y'",)),
    }
    assert set(cases) == set(VIOLATION_KINDS)
    for kind, (plan, mode, names) in cases.items():
        check = check_plan(inst, plan, mode=mode)
        assert not check.valid and check.first.kind == kind
        assert all(name in check.first.message for name in names)
    assert check_plan(inst, np.array([0, 4, 0]), mode="packing").valid
    assert check_plan(inst, np.array([0, SLOW, SLOW]), mode="mapping").valid


def test_half_open_ranges_do_not_conflict():
    """A buffer ending at t and one starting at t may share addresses."""
    inst = boxes([4, 4], [0, 3], [3, 6], capacity=4)
    assert check_plan(inst, np.array([0, 0]), mode="packing").valid
    inst = boxes([4, 4], [0, 2], [3, 6], capacity=4)
    assert check_plan(inst, np.array([0, 0]), mode="packing").first.buffers == (0, 1)


def test_capacity_can_be_ignored_for_min_peak_packings():
    """enforce_capacity=False checks overlaps only and still reports the peak."""
    inst = boxes([4, 4], [0, 0], [2, 2], capacity=4)
    check = check_plan(inst, np.array([0, 4]), mode="packing", enforce_capacity=False)
    assert check.valid and check.peak == 8
    assert not check_plan(inst, np.array([0, 4]), mode="packing").valid


def test_check_plan_rejects_malformed_plans():
    """Wrong length, float plans and unknown modes are ValueErrors."""
    inst = boxes([4, 4], [0, 0], [2, 2])
    for bad in (np.array([0]), np.array([0.0, 4.0])):
        with pytest.raises(ValueError, match="plan"):
            check_plan(inst, bad)
    with pytest.raises(ValueError, match="mode"):
        check_plan(inst, np.array([0, 4]), mode="stack")


@settings(max_examples=200, deadline=None)
@given(instances(max_n=15))
def test_peak_bound_equals_per_step_brute_force(inst):
    """peak_live_bytes equals the max over every integer step of the live bytes."""
    horizon = int(inst.end.max()) if inst.n else 0
    brute = max((int(inst.size[(inst.start <= t) & (t < inst.end)].sum())
                 for t in range(horizon)), default=0)
    assert peak_live_bytes(inst) == brute


@settings(max_examples=30, deadline=None)
@given(st.integers(0, 10**6), st.data())
def test_evaluate_agrees_with_cost_model(seed, data):
    """The oracle's time equals cost_model.program_time for random plans on random programs."""
    inst = random_instance(40, seed=seed, n_ops=12, max_lifetime=6)
    fast = np.array(data.draw(st.lists(st.booleans(), min_size=40, max_size=40)))
    plan = np.where(fast, 0, SLOW)
    ev = evaluate_plan(inst, plan)
    assert ev.time == pytest.approx(program_time(inst, plan), rel=1e-12)
    assert ev.time_all_fast <= ev.time + 1e-15 <= ev.time_all_slow + 2e-15
    assert ev.n_fast == int(fast.sum()) and ev.bytes_fast == int(inst.size[fast].sum())
    assert ev.speedup == pytest.approx(ev.time_all_slow / ev.time)


def test_evaluate_known_value():
    """A hand-computed program time: 2 buffers written then read, one in fast memory."""
    mem = MemoryConfig(capacity=8, bw_fast=4.0, bw_slow=1.0, flops_per_s=1.0)
    inst = MallocInstance.from_intervals([4, 8], [0, 0], [2, 2], memory=mem)
    ev = evaluate_plan(inst, np.array([0, SLOW]))
    # op0 and op1 each move 4 B fast (1 s) and 8 B slow (8 s): 9 s each.
    assert ev.time == 18.0 and ev.time_all_slow == 24.0 and ev.time_all_fast == 6.0

"""The guillotine member of the filler search (``guillotine_search``): its packings pass
check_plan, it never decides infeasibility (the filler search still proves it, agreeing with brute
force), and it declines a pinwheel tiling that has no guillotine packing."""

from brute_force import brute_min_peak
from test_malloc_filler_search import INFEASIBLE, full_section_instances

from heurist.envs.malloc import MallocInstance, MemoryConfig
from heurist.envs.malloc.synthetic import zero_slack_instance
from heurist.policies.malloc import check_plan
from heurist.policies.malloc.filler_search import filler_pack
from heurist.policies.malloc.geometry import address_unit, compressed_times
from heurist.policies.malloc.guillotine_search import guillotine_pack


def _guillotine(inst, steps):
    unit = address_unit(inst)
    t0, t1 = compressed_times(inst)
    off, used = guillotine_pack(inst.size // unit, t0, t1, inst.capacity // unit, steps=steps)
    return (None if off is None else off * unit), used


def test_guillotine_packs_generated_tilings():
    """Zero-slack tilings of 100 buffers (both families, 3 seeds each) are packed by the
    guillotine search alone within 20,000 steps; every plan passes check_plan."""
    for seed in range(3):
        for inst in (zero_slack_instance(100, seed=seed, capacity=1 << 20, horizon=50)[0],
                     zero_slack_instance(100, seed=seed, capacity=1 << 16, horizon=256,
                                         alignment=8)[0]):
            off, used = _guillotine(inst, 20_000)
            assert off is not None and used <= 20_000
            assert check_plan(inst, off, mode="packing").valid


def test_guillotine_member_keeps_the_filler_search_exact():
    """With the guillotine member on and off, filler_pack packs the 30 tiny brute-force-packable
    full-section instances (plans checked) and proves the 5 brute-force-infeasible ones
    infeasible; whatever the guillotine search packs alone is a valid plan."""
    for inst, opt in full_section_instances(30, seed=5):
        assert opt == inst.capacity
        for guillotine in (True, False):
            res = filler_pack(inst, guillotine=guillotine)
            assert res.status == "feasible"
            assert check_plan(inst, res.offsets, mode="packing").valid
        off, _ = _guillotine(inst, 10_000)
        if off is not None:
            assert check_plan(inst, off, mode="packing").valid
    for size, start, end, cap in INFEASIBLE:
        assert brute_min_peak(size, start, end) > cap
        inst = MallocInstance.from_intervals(size, start, end, memory=MemoryConfig(capacity=cap))
        assert _guillotine(inst, 10_000)[0] is None
        for guillotine in (True, False):
            assert filler_pack(inst, guillotine=guillotine).status == "infeasible"


def test_pinwheel_has_no_guillotine_packing():
    """The 5-buffer pinwheel (every section full at C = 3, no straight cut through free space)
    is declined by the guillotine search and packed by the filler search (brute force agrees)."""
    size, start, end = [1, 2, 1, 2, 1], [0, 2, 1, 0, 1], [2, 3, 3, 1, 2]
    inst = MallocInstance.from_intervals(size, start, end, memory=MemoryConfig(capacity=3))
    assert brute_min_peak(size, start, end) == 3
    off, used = _guillotine(inst, 1_000)
    assert off is None and used < 1_000  # exhausted, not out of steps
    res = filler_pack(inst)
    assert res.status == "feasible"
    assert check_plan(inst, res.offsets, mode="packing").valid


def test_one_byte_less_is_still_proved_infeasible():
    """A 60-buffer tiling: packed at C with the guillotine member (plan checked); at C - 1 byte
    the filler search still proves infeasibility."""
    inst, _ = zero_slack_instance(60, seed=1, capacity=1 << 12, horizon=64, alignment=4)
    res = filler_pack(inst, node_limit=50_000)
    assert res.status == "feasible"
    assert check_plan(inst, res.offsets, mode="packing").valid
    assert filler_pack(inst, capacity=inst.capacity - 1).status == "infeasible"


def test_strips_and_lookahead_pack_every_small_guillotine_tiling():
    """Strips (the bottom strip holds a chosen anchor and has a time cut; 1 or 4 anchors in
    turn) and the look-ahead keep the guillotine search complete on 200 small generated tilings
    (4-23 buffers, each a guillotine packing by construction): every variant packs each within
    its steps, and every plan passes check_plan."""
    for seed in range(200):
        inst, _ = zero_slack_instance(4 + seed % 20, seed=seed, capacity=64, horizon=8)
        unit = address_unit(inst)
        t0, t1 = compressed_times(inst)
        for strips, anchors in ((True, 1), (True, 4), (False, 1)):
            for lookahead in (True, False):
                off, used = guillotine_pack(inst.size // unit, t0, t1, inst.capacity // unit,
                                            steps=1_000_000, strips=strips,
                                            lookahead=lookahead, anchors=anchors)
                assert off is not None and used < 1_000_000, (seed, strips, lookahead)
                assert check_plan(inst, off * unit, mode="packing").valid


def test_strips_pack_generated_tilings_in_fewer_steps():
    """With strips and look-ahead (default) the guillotine search packs the 200-buffer tilings
    tests-family seed 0 and generator seed 2 within 100,000 steps; the plain search (both off)
    packs neither within them."""
    for inst in (zero_slack_instance(200, seed=0, capacity=1 << 16, horizon=256,
                                     alignment=8)[0],
                 zero_slack_instance(200, seed=2, capacity=1 << 20, horizon=100)[0]):
        off, used = _guillotine(inst, 100_000)
        assert off is not None and used < 100_000
        assert check_plan(inst, off, mode="packing").valid
        unit = address_unit(inst)
        t0, t1 = compressed_times(inst)
        plain, _ = guillotine_pack(inst.size // unit, t0, t1, inst.capacity // unit,
                                   steps=100_000, strips=False, lookahead=False)
        assert plain is None

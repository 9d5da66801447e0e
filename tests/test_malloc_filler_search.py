"""The elastic-filler search for perfect tilings (``filler_search``): exact against brute force
on tiny full-section instances, packs zero-slack tilings (plans checked), never reports a known
packing infeasible, and proves one byte less infeasible."""

import numpy as np
from brute_force import brute_min_peak

from heurist.envs.malloc import MallocInstance, MemoryConfig
from heurist.envs.malloc.synthetic import zero_slack_instance
from heurist.policies.malloc import check_plan
from heurist.policies.malloc.filler_search import filler_pack, perfect_tiling
from heurist.policies.malloc.minimalloc_search import minimalloc_pack

# Perfect-area instances (every step holds exactly C) with no packing, found by screening
# random ones with the plain canonical search and confirmed by brute force in the test below:
# (sizes, starts, ends, C).
INFEASIBLE = [
    ([2, 2, 2, 6, 4, 2, 4, 6], [1, 0, 2, 0, 1, 2, 3, 4], [4, 3, 5, 1, 2, 3, 4, 5], 8),
    ([3, 1, 4, 5, 2, 1, 5, 8], [1, 2, 0, 0, 1, 2, 3, 4], [4, 5, 3, 1, 2, 3, 4, 5], 9),
    ([2, 1, 1, 3, 2, 1, 3, 4], [0, 2, 1, 0, 1, 2, 3, 4], [3, 5, 4, 1, 2, 3, 4, 5], 5),
    ([1, 1, 1, 3, 2, 1, 2, 3], [1, 2, 0, 0, 1, 2, 3, 4], [4, 5, 3, 1, 2, 3, 4, 5], 4),
    ([2, 1, 1, 4, 3, 1, 2, 3], [2, 0, 1, 0, 1, 2, 3, 4], [5, 3, 4, 1, 2, 3, 4, 5], 5),
]


def full_section_instances(count: int, seed: int):
    """``count`` tiny instances whose every time step holds exactly ``C`` live bytes: 3-5
    random multi-step buffers, then one or two fillers per step topping it up to ``C``; with
    their brute-force minimum peak (at most 7 buffers)."""
    rng = np.random.default_rng(seed)
    out = []
    while len(out) < count:
        n = int(rng.integers(3, 6))
        size = rng.integers(1, 5, n).tolist()
        start = rng.integers(0, 3, n).tolist()
        end = [s + int(rng.integers(2, 4)) for s in start]
        horizon = max(end)
        live = [sum(z for z, a, b in zip(size, start, end) if a <= t < b) for t in range(horizon)]
        cap = max(live) + int(rng.integers(0, 3))
        for t in range(horizon):
            gap = cap - live[t]
            if gap >= 2 and rng.random() < 0.7:
                a = int(rng.integers(1, gap))
                size += [a, gap - a]
                start += [t, t]
                end += [t + 1, t + 1]
            elif gap > 0:
                size.append(gap)
                start.append(t)
                end.append(t + 1)
        if len(size) > 7:
            continue
        out.append((MallocInstance.from_intervals(size, start, end,
                                                  memory=MemoryConfig(capacity=cap)),
                    brute_min_peak(size, start, end)))
    return out


def _variants(inst, **kwargs):
    """filler_pack under every order and switch tried."""
    for order in ("TLA", "LAT", "W"):
        for decompose in (True, False):
            for cover in (True, False):
                for ldom in (True, False):
                    yield filler_pack(inst, order=order, decompose=decompose, cover=cover,
                                      ldom=ldom, **kwargs)


def test_filler_search_matches_brute_force_on_full_sections():
    """On 30 tiny full-section instances (<= 7 buffers, all packable at C by brute force) every
    variant packs at C (plan checked), and on 5 brute-force-infeasible ones (8 buffers) every
    variant and the default portfolio prove infeasibility."""
    for inst, opt in full_section_instances(30, seed=3):
        assert perfect_tiling(inst) and opt == inst.capacity
        for res in _variants(inst):
            assert res.status == "feasible"
            assert check_plan(inst, res.offsets, mode="packing").valid
        assert minimalloc_pack(inst).status == "feasible"
    for size, start, end, cap in INFEASIBLE:
        assert brute_min_peak(size, start, end) > cap
        inst = MallocInstance.from_intervals(size, start, end, memory=MemoryConfig(capacity=cap))
        assert perfect_tiling(inst)
        for res in _variants(inst):
            assert res.status == "infeasible"
        assert minimalloc_pack(inst).status == "infeasible"


def test_zero_slack_tilings_pack_and_check():
    """Generated zero-slack tilings of 100 and 200 buffers (both families) are packed at C
    by the filler search and by the default portfolio; every plan passes check_plan."""
    insts = [zero_slack_instance(200, seed=2, capacity=1 << 20, horizon=100)[0],
             zero_slack_instance(100, seed=0, capacity=1 << 20, horizon=50)[0],
             zero_slack_instance(100, seed=1, capacity=1 << 16, horizon=256, alignment=8)[0]]
    for inst in insts:
        res = filler_pack(inst, node_limit=200_000)
        assert res.status == "feasible"
        assert check_plan(inst, res.offsets, mode="packing").valid
        res = minimalloc_pack(inst, node_limit=400_000)
        assert res.status == "feasible"
        assert check_plan(inst, res.offsets, mode="packing").valid


def test_known_packings_are_never_infeasible_and_one_byte_less_is():
    """Under small budgets a tiling with a known packing is feasible or unknown, never
    infeasible; at C - 1 byte it is proved infeasible (filler search and portfolio)."""
    seen = set()
    for seed in range(4):
        inst, _ = zero_slack_instance(60, seed=seed, capacity=1 << 12, horizon=64, alignment=4)
        for budget in (5, 50, 400):
            for cover in (True, False):
                res = filler_pack(inst, node_limit=budget, cover=cover)
                seen.add(res.status)
                assert res.status in ("feasible", "unknown")
                if res.status == "feasible":
                    assert check_plan(inst, res.offsets, mode="packing").valid
        assert filler_pack(inst, capacity=inst.capacity - 1).status == "infeasible"
        assert filler_pack(inst, capacity=inst.capacity - 1, ldom=False).status == "infeasible"
        assert minimalloc_pack(inst, capacity=inst.capacity - 1).status == "infeasible"
    assert seen == {"feasible", "unknown"}


def test_filler_search_declines_instances_with_slack():
    """A section below C (not a perfect tiling) makes filler_pack decline (None)."""
    inst = MallocInstance.from_intervals([4, 3, 2], [0, 0, 2], [2, 3, 3],
                                         memory=MemoryConfig(capacity=8))
    assert not perfect_tiling(inst)
    assert filler_pack(inst) is None

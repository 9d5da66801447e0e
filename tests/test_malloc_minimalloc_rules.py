"""The minimalloc search rules (dominance, hatless, floors, ordering, decomposition, memo) keep
the search complete, ``infeasible`` is reported only when true, and ``minimize_capacity`` finds
the exhaustive optimum."""

import brute_force
import numpy as np
import pytest

from heurist.envs.malloc import MallocInstance, MemoryConfig
from heurist.envs.malloc.synthetic import zero_slack_instance
from heurist.policies.malloc import check_plan
from heurist.policies.malloc.minimalloc_search import RULES, minimalloc_pack
from heurist.policies.malloc.minimize import minimize_capacity

# Every rule alone switched off, none on, and all on.
RULE_SETS = [RULES, ()] + [tuple(r for r in RULES if r != off) for off in RULES]



def tiny_instances(count: int, seed: int):
    """``count`` random instances of 2-6 buffers with their exhaustive optimum."""
    return list(brute_force.tiny_instances(np.random.default_rng(seed), count))


@pytest.mark.parametrize("rules", RULE_SETS, ids=lambda r: "-".join(r) or "none")
def test_every_rule_set_decides_tiny_instances_exactly(rules):
    """With any rule switched off (or none on), the search packs at the exhaustive optimum
    (plan checked) and proves optimum - 1 infeasible, on 40 random instances of <= 6 buffers."""
    for inst, opt in tiny_instances(40, seed=7):
        for order in ("TLA", "AW"):
            found = minimalloc_pack(inst, order=order, rules=rules)
            assert found.status == "feasible"
            check = check_plan(inst, found.offsets, mode="packing")
            assert check.valid and check.peak <= opt
            assert minimalloc_pack(inst, capacity=opt - 1, order=order,
                                   rules=rules).status == "infeasible"


def test_known_packings_are_never_reported_infeasible():
    """Zero-slack instances (a perfect packing exists) under small node budgets and every rule
    set: feasible (plan valid at C) or unknown, never infeasible."""
    seen = set()
    for seed in range(6):
        inst, _ = zero_slack_instance(60, seed=seed, capacity=1 << 12, horizon=64, alignment=4)
        for rules in RULE_SETS:
            for budget in (50, 400):
                result = minimalloc_pack(inst, node_limit=budget, rules=rules)
                seen.add(result.status)
                assert result.status in ("feasible", "unknown")
                if result.status == "feasible":
                    assert check_plan(inst, result.offsets, mode="packing").valid
    assert seen == {"feasible", "unknown"}


def test_one_byte_less_than_a_perfect_packing_is_infeasible():
    """Zero-slack instances (a perfect packing at C exists) are packed at C and proved
    infeasible at C - 1 byte, with every rule set."""
    for seed in range(3):
        inst, _ = zero_slack_instance(80, seed=seed, capacity=1 << 12, horizon=64)
        for rules in (RULES, ()):
            assert minimalloc_pack(inst, rules=rules).status == "feasible"
            assert minimalloc_pack(inst, capacity=inst.capacity - 1,
                                   rules=rules).status == "infeasible"


def test_minimize_finds_the_exhaustive_optimum():
    """minimize_capacity returns the exhaustive optimum, proved (optimal=True), with a valid
    packing of that peak, on 30 random instances of <= 6 buffers."""
    for inst, opt in tiny_instances(30, seed=5):
        m = minimize_capacity(inst.with_capacity(10**6), node_limit=100_000)
        assert (m.capacity, m.lower_bound, m.optimal) == (opt, opt, True)
        check = check_plan(inst.with_capacity(opt), m.offsets, mode="packing")
        assert check.valid and check.peak == opt
        assert m.greedy >= opt


def test_minimize_zero_slack_is_optimal_at_capacity():
    """On a 200-buffer zero-slack instance greedy needs more than C; minimize proves C."""
    inst, _ = zero_slack_instance(200, seed=1, capacity=1 << 16, horizon=256, alignment=8)
    m = minimize_capacity(inst, node_limit=200_000)
    assert m.greedy > inst.capacity
    assert (m.capacity, m.lower_bound, m.optimal) == (inst.capacity, inst.capacity, True)
    assert check_plan(inst, m.offsets, mode="packing").valid


def test_bad_rules_and_budgets_raise():
    """Unknown rule names, a bare string of rules and non-positive budgets raise ValueError."""
    inst = MallocInstance.from_intervals([1], [0], [1], memory=MemoryConfig(capacity=1))
    for kwargs in ({"rules": ("dominance", "x")}, {"rules": "memo"}, {"first_budget": 0}):
        with pytest.raises(ValueError):
            minimalloc_pack(inst, **kwargs)
    with pytest.raises(ValueError):
        minimize_capacity(inst, node_limit=0)

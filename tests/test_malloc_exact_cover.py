"""Cover branching and the wells test keep the minimalloc search complete (brute-force optimum,
``infeasible`` only when true), and ``minimize_capacity``'s wall cap stops it with a valid plan."""

import json

import numpy as np
import pytest
from brute_force import brute_min_peak

from heurist.cli import main
from heurist.envs.malloc import MallocInstance, MemoryConfig
from heurist.envs.malloc.synthetic import zero_slack_instance
from heurist.policies.malloc import check_plan
from heurist.policies.malloc.minimalloc_search import RULES, minimalloc_pack
from heurist.policies.malloc.minimize import minimize_capacity

# Cover branching alone with every other rule, without the wells test, and with nothing else.
COVER_SETS = [RULES, tuple(r for r in RULES if r != "wells"), ("cover",), ("cover", "wells")]


def tiny_instances(count: int, seed: int, *, tight: bool):
    """``count`` random instances of 2-7 buffers with their exhaustive optimum (larger ones are skipped); ``tight``: one
    more buffer raises every time step to the optimum (peak live bytes = optimum), so every
    section of a packing at the optimum is zero-slack and cover branching applies throughout."""
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(count):
        n = int(rng.integers(2, 6 if tight else 7))
        size = rng.integers(1, 7, n).tolist()
        start = rng.integers(0, 6, n).tolist()
        end = [s + int(rng.integers(1, 5)) for s in start]
        if tight:
            # Per-step fillers up to the peak of live bytes: the optimum may still exceed it.
            horizon = max(end)
            live = [sum(z for z, a, b in zip(size, start, end) if a <= t < b)
                    for t in range(horizon)]
            top = max(live)
            for t in range(horizon):
                if live[t] < top:
                    size.append(top - live[t])
                    start.append(t)
                    end.append(t + 1)
        opt = brute_min_peak(size, start, end) if len(size) <= 7 else None
        if opt is None:
            continue
        out.append((MallocInstance.from_intervals(size, start, end,
                                                  memory=MemoryConfig(capacity=opt)), opt))
    return out


@pytest.mark.parametrize("rules", COVER_SETS, ids=lambda r: "-".join(r))
def test_cover_only_decides_tiny_instances_exactly(rules):
    """With cover branching as the only portfolio member (alone, with the wells test, or with
    every rule), the search packs at the brute-force optimum (plan checked) and proves the
    optimum - 1 infeasible, on random instances of <= 7 buffers, tight and not."""
    cases = tiny_instances(60, seed=11, tight=True) + tiny_instances(15, seed=12, tight=False)
    assert len(cases) >= 30
    for inst, opt in cases:
        for order in ("TLA", "AW"):
            found = minimalloc_pack(inst, order=order, rules=rules, cover_member="only")
            assert found.status == "feasible"
            check = check_plan(inst, found.offsets, mode="packing")
            assert check.valid and check.peak <= opt
            assert minimalloc_pack(inst, capacity=opt - 1, order=order, rules=rules,
                                   cover_member="only").status == "infeasible"


def test_wells_alone_decides_tiny_instances_exactly():
    """The wells test with no other rule (canonical children): brute-force optimum packed,
    optimum - 1 proved infeasible."""
    for inst, opt in tiny_instances(60, seed=13, tight=True) + tiny_instances(15, seed=14,
                                                                               tight=False):
        found = minimalloc_pack(inst, rules=("wells",))
        assert found.status == "feasible"
        assert check_plan(inst, found.offsets, mode="packing").valid
        assert minimalloc_pack(inst, capacity=opt - 1, rules=("wells",)).status == "infeasible"


def test_cover_never_reports_a_known_packing_infeasible():
    """Zero-slack tilings (a perfect packing exists) under cover branching alone and small
    budgets: feasible with a valid plan at C, or unknown; one byte less is proved infeasible."""
    seen = set()
    for seed in range(4):
        inst, _ = zero_slack_instance(60, seed=seed, capacity=1 << 12, horizon=64, alignment=4)
        for rules in COVER_SETS:
            for budget in (50, 400, 20_000):
                result = minimalloc_pack(inst, node_limit=budget, rules=rules,
                                         cover_member="only")
                seen.add(result.status)
                assert result.status in ("feasible", "unknown")
                if result.status == "feasible":
                    assert check_plan(inst, result.offsets, mode="packing").valid
        assert minimalloc_pack(inst, capacity=inst.capacity - 4,
                               cover_member="only").status == "infeasible"
    assert seen == {"feasible", "unknown"}


def test_default_portfolio_packs_zero_slack_tilings():
    """The default portfolio (cover member on: peak live = C) packs fixed zero-slack tilings of
    100-200 buffers at exactly C that the canonical children alone do not within the budget."""
    inst, _ = zero_slack_instance(200, seed=2, capacity=1 << 20, horizon=100)
    result = minimalloc_pack(inst, node_limit=400_000)
    assert result.status == "feasible"
    check = check_plan(inst, result.offsets, mode="packing")
    assert check.valid and check.peak == inst.capacity
    assert minimalloc_pack(inst, node_limit=400_000, cover_member=False).status == "unknown"


def test_minimize_wall_cap_stops_with_a_valid_plan():
    """A 0.3 s wall cap on a hard minimisation stops it (wall_capped, not proved optimal) with a
    valid packing no higher than greedy; without a cap the toy case is proved as before."""
    inst, _ = zero_slack_instance(400, seed=0, capacity=1 << 16, horizon=256, alignment=8)
    loose = inst.with_capacity(1 << 20)
    m = minimize_capacity(loose, node_limit=10**9, wall_limit=0.3)
    assert m.wall_capped and not m.optimal and m.capacity <= m.greedy
    assert m.seconds < 10.0  # one probe may overrun the cap; 10 s only catches "no cap at all"
    assert check_plan(loose.with_capacity(m.capacity), m.offsets, mode="packing").valid
    with pytest.raises(ValueError):
        minimize_capacity(loose, wall_limit=0.0)


def test_plan_minimize_json_reports_the_wall_cap(tmp_path, capsys):
    """heurist plan --minimize --json: the minimize object carries seconds and wall_capped
    (false when the optimum is proved inside --time-limit)."""
    src = tmp_path / "toy.csv"
    src.write_text("id,lower,upper,size\na,0,2,2\nb,1,3,2\nc,0,1,2\nd,2,3,2\n")
    rc = main(["plan", str(src), "--capacity", "100", "--method", "minimalloc", "--minimize",
               "--time-limit", "5", "--out", str(tmp_path / "o.csv"), "--json"])
    m = json.loads(capsys.readouterr().out)["minimize"]
    assert rc == 0 and (m["capacity"], m["optimal"], m["wall_capped"]) == (4, True, False)
    assert 0 <= m["seconds"] < 5

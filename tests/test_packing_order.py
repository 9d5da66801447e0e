"""The ``priority=`` hook of ``minimalloc_pack`` (order letter ``P``) and the learned packing order:
validation, string orders unchanged, priorities that equal a static order reproduce it, and the
search stays exact under any priority."""

import numpy as np
import pytest
from brute_force import tiny_instances

from heurist.envs.malloc.synthetic import zero_slack_instance
from heurist.policies.malloc import check_plan
from heurist.policies.malloc.filler_search import filler_pack
from heurist.policies.malloc.minimalloc_search import minimalloc_pack
from heurist.policies.malloc.packing_order import (
    LEARNED_ORDER,
    N_FEATURES,
    STATIC_ORDERS,
    PackingOrderNet,
    buffer_features,
    net_inputs,
)


def _tiling(n, seed):
    return zero_slack_instance(n, seed=seed, capacity=1 << 20, horizon=max(8, n // 2))[0]


def test_priority_validation():
    """Bad priorities and a ``P`` without one (or one no order uses) raise a plain ValueError."""
    inst = _tiling(20, 0)
    bad = [np.zeros(3), np.full(inst.n, np.nan), np.full(inst.n, np.inf), np.zeros((inst.n, 1)),
           np.zeros(inst.n, dtype=bool), np.array(["a"] * inst.n)]
    for p in bad:
        with pytest.raises(ValueError, match="priority"):
            minimalloc_pack(inst, order="P", priority=p)
    with pytest.raises(ValueError, match="needs priority"):
        minimalloc_pack(inst, order="TP")
    with pytest.raises(ValueError, match="no order uses it"):
        minimalloc_pack(inst, priority=np.zeros(inst.n))
    with pytest.raises(ValueError, match="TWALalSEP"):
        minimalloc_pack(inst, order="TX")


@pytest.mark.parametrize("n,seed,order,nodes", [
    (60, 0, None, 61), (60, 0, "TLA", 61), (60, 0, "W", 120), (60, 0, "ATL", 101),
    (60, 1, "LAT", 71), (100, 0, "TLA", 130), (100, 0, "LAT", 130)])
def test_string_orders_unchanged(n, seed, order, nodes):
    """String orders give the node counts they gave before the hook (golden, measured at
    9981727 on the generator's zero-slack tilings; the canonical search alone, cover_member
    False, so that only this file's code counts)."""
    inst = _tiling(n, seed)
    res = minimalloc_pack(inst, node_limit=30_000, cover_member=False,
                          **({} if order is None else {"order": order}))
    assert res.status == "feasible" and res.nodes == nodes
    assert check_plan(inst, res.offsets, mode="packing").valid


def test_priority_reproduces_a_static_order():
    """``P`` with priority = -size ranks exactly as ``W`` (ties by index), filler member
    included: the same node counts; float and int priorities agree."""
    inst = _tiling(60, 1)
    want = minimalloc_pack(inst, node_limit=30_000, order="W")
    for p in (-inst.size.astype(np.float64), -inst.size.astype(np.int64)):
        got = minimalloc_pack(inst, node_limit=30_000, order="P", priority=p)
        # 540 nodes: the guillotine member's steps / 16 (three settings in turn, issue 13
        # sixth follow-up; was 57, 621 before strips)
        assert (got.status, got.nodes) == (want.status, want.nodes) == ("feasible", 540)
        assert np.array_equal(got.offsets, want.offsets)
        # the guillotine member packs this tiling before any ranking is used: the filler
        # search's own ranking is checked with the member off
        want_f = filler_pack(inst, node_limit=30_000, order="W", guillotine=False)
        got_f = filler_pack(inst, node_limit=30_000, order="P", priority=p, guillotine=False)
        assert (got_f.status, got_f.nodes) == (want_f.status, want_f.nodes) == ("feasible", 244)
        assert np.array_equal(got_f.offsets, want_f.offsets)


def _tiny(count, seed):
    rng = np.random.default_rng(seed)
    for inst, opt in tiny_instances(rng, count):
        yield inst, opt, rng  # the test draws its priorities from the same stream


def test_any_priority_keeps_the_search_exact():
    """Random priorities (orders ``P``, ``TP``, and after a portfolio member): packs at the
    exhaustive optimum (plan checked) and proves optimum - 1 infeasible, 40 instances."""
    for inst, opt, rng in _tiny(40, seed=11):
        p = rng.random(inst.n)
        for order in ("P", "TP", ("TLA", "PW")):
            res = minimalloc_pack(inst, order=order, priority=p)
            assert res.status == "feasible"
            assert check_plan(inst, res.offsets, mode="packing").valid
            assert int((res.offsets + inst.size).max()) <= opt
            res = minimalloc_pack(inst, capacity=opt - 1, order=order, priority=p)
            assert res.status == "infeasible"


def test_learned_order_on_a_tiling_is_exact():
    """A net's priority (random weights) on a zero-slack tiling: packed at the capacity and
    checked, or ``unknown`` within the budget; never ``infeasible`` (the tiling packs)."""
    rng = np.random.default_rng(0)
    d = 2 * N_FEATURES + 2
    net = PackingOrderNet(w1=rng.normal(size=(d, 8)), b1=np.zeros(8), w2=rng.normal(size=8))
    for seed in range(3):
        inst = _tiling(60, seed)
        res = minimalloc_pack(inst, node_limit=20_000, order=LEARNED_ORDER,
                              priority=net.priority(inst))
        assert res.status in ("feasible", "unknown")
        if res.status == "feasible":
            assert check_plan(inst, res.offsets, mode="packing").valid
            assert int((res.offsets + inst.size).max()) <= inst.capacity


def test_features_and_net(tmp_path):
    """Features are finite, in [0, 1], the static-rank columns are permutations; the net's
    save/load round trip is exact and bad weights raise ValueError."""
    inst = _tiling(40, 2)
    f = buffer_features(inst)
    assert f.shape == (inst.n, N_FEATURES) and np.isfinite(f).all()
    assert f.min() >= 0 and f.max() <= 1
    for i in range(len(STATIC_ORDERS)):
        r = np.rint(f[:, N_FEATURES - len(STATIC_ORDERS) + i] * (inst.n - 1)).astype(int)
        assert sorted(r.tolist()) == list(range(inst.n))
    x = net_inputs(f)
    assert x.shape == (inst.n, 2 * N_FEATURES + 2)
    assert np.allclose(x[0, N_FEATURES:], x[-1, N_FEATURES:])  # context is shared
    d = 2 * N_FEATURES + 2
    rng = np.random.default_rng(1)
    net = PackingOrderNet(w1=rng.normal(size=(d, 4)), b1=rng.normal(size=4), w2=rng.normal(size=4))
    net.save(tmp_path / "w.npz")
    assert np.array_equal(PackingOrderNet.load(tmp_path / "w.npz").priority(inst),
                          net.priority(inst))
    with pytest.raises(ValueError):
        PackingOrderNet(w1=np.zeros((d + 1, 4)), b1=np.zeros(4), w2=np.zeros(4))
    with pytest.raises(ValueError):
        PackingOrderNet(w1=np.full((d, 4), np.nan), b1=np.zeros(4), w2=np.zeros(4))


def test_solution_labels_and_training_are_deterministic():
    """Known-packing labels list the buffers by offset (and mirrored); the same seed trains
    the same scorer and picker weights."""
    from heurist.agents.muzero.packing_order import (
        OrderLabels,
        solution_labels,
        train_order_picker,
        train_solution_order,
    )

    data = solution_labels([30], [1000, 1001])
    inst, off = zero_slack_instance(30, seed=1000, capacity=1 << 20, horizon=15)
    r = data[0].ranks
    assert sorted(r[0].tolist()) == list(range(30)) and sorted(r[1].tolist()) == list(range(30))
    assert np.all(np.diff(off[np.argsort(r[0])]) >= 0)
    mirror = inst.capacity - off - inst.size
    assert np.all(np.diff(mirror[np.argsort(r[1])]) >= 0)
    a = train_solution_order(data, hidden=4, epochs=3, seed=5)
    b = train_solution_order(data, hidden=4, epochs=3, seed=5)
    assert np.array_equal(a.w1, b.w1) and np.array_equal(a.w2, b.w2)
    labs = [OrderLabels(d.x, d.ranks, np.array([10, 40, 10, 10, 10, 10, 10]) * (i + 1), d.ctx)
            for i, d in enumerate(data)]
    p1 = train_order_picker(labs, hidden=4, epochs=5, seed=2)
    p2 = train_order_picker(labs, hidden=4, epochs=5, seed=2)
    assert np.array_equal(p1.w2, p2.w2)
    order, prio = p1.order(inst)
    k = int(np.argmax(p1.logits(data[0].ctx)))
    assert order == ("TP" if STATIC_ORDERS[k][0] == "T" else "P")
    assert np.array_equal(prio, buffer_features(inst)[:, N_FEATURES - len(STATIC_ORDERS) + k])
    with pytest.raises(ValueError):
        train_order_picker([OrderLabels(d.x, d.ranks, np.full(7, 5), d.ctx) for d in data])

"""Synthetic malloc instances: zero-slack guillotine cuts and random programs."""
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from heurist.envs.malloc import MemoryConfig
from heurist.envs.malloc.oracle import check_plan, peak_live_bytes
from heurist.envs.malloc.synthetic import live_bytes_per_step, random_instance, zero_slack_instance
from heurist.policies.malloc import cpsat_pack


@settings(max_examples=40, deadline=None)
@given(st.integers(1, 60), st.integers(0, 10**6), st.integers(1, 40), st.integers(1, 8),
       st.integers(1, 8), st.floats(0.0, 1.0))
def test_zero_slack_tiles_every_step(n, seed, horizon, units, alignment, p_time):
    """Every step is covered by buffers tiling [0, C): peak == C and the returned plan is valid."""
    capacity = units * alignment
    if n > horizon * units:
        with pytest.raises(ValueError, match="cannot cut"):
            zero_slack_instance(n, seed=seed, capacity=capacity, horizon=horizon,
                                alignment=alignment)
        return
    inst, offsets = zero_slack_instance(n, seed=seed, capacity=capacity, horizon=horizon,
                                        alignment=alignment, p_time_cut=p_time)
    assert inst.n == n and inst.capacity == capacity and inst.memory.alignment == alignment
    live = live_bytes_per_step(inst.size, inst.start, inst.end, horizon)
    assert live.tolist() == [capacity] * horizon
    assert int((inst.size * (inst.end - inst.start)).sum()) == capacity * horizon
    check = check_plan(inst, offsets, mode="packing")
    assert check.valid, check.first
    assert check.peak == capacity == peak_live_bytes(inst)


def test_zero_slack_same_seed_same_instance():
    """Same seed, same instance and packing; another seed, another instance."""
    a, oa = zero_slack_instance(50, seed=3, capacity=64, horizon=32)
    b, ob = zero_slack_instance(50, seed=3, capacity=64, horizon=32)
    c, _ = zero_slack_instance(50, seed=4, capacity=64, horizon=32)
    assert a.size.tolist() == b.size.tolist() and oa.tolist() == ob.tolist()
    assert a.start.tolist() == b.start.tolist()
    assert a.size.tolist() != c.size.tolist() or a.start.tolist() != c.start.tolist()


def test_zero_slack_scales_to_60k():
    """60,000 buffers are cut with the exact count and a perfect packing."""
    inst, offsets = zero_slack_instance(60000, seed=0, capacity=2**30, horizon=100000,
                                        alignment=1024)
    assert inst.n == 60000
    assert peak_live_bytes(inst) == 2**30
    assert int((offsets + inst.size).max()) == 2**30
    assert np.all(offsets % 1024 == 0)


@pytest.mark.parametrize("seed", range(6))
def test_cpsat_solves_small_zero_slack_exactly(seed):
    """CP-SAT packs small zero-slack instances at exactly the capacity."""
    inst, _ = zero_slack_instance(14, seed=seed, capacity=48, horizon=12, alignment=2)
    result = cpsat_pack(inst, time_limit=20.0, seed=0, workers=1)
    assert result.status == "optimal"
    assert result.peak == inst.capacity == result.lower_bound
    assert check_plan(inst, result.offsets, mode="packing").valid


def test_random_instance_is_valid_and_deterministic():
    """Random programs validate, respect their arguments and repeat with the seed."""
    mem = MemoryConfig(capacity=10**6, alignment=256)
    a = random_instance(300, seed=1, n_ops=40, max_lifetime=10, memory=mem)
    b = random_instance(300, seed=1, n_ops=40, max_lifetime=10, memory=mem)
    assert a.n == 300 and a.n_ops == 40 and a.memory == mem
    assert np.all(a.size % 256 == 0) and np.all(a.end - a.start <= 10)
    assert np.all((a.use_op >= a.start[a.use_buffer]) & (a.use_op < a.end[a.use_buffer]))
    for f in ("size", "start", "end", "use_op", "use_bytes", "op_flops"):
        assert np.array_equal(getattr(a, f), getattr(b, f))
    c = random_instance(300, seed=2, capacity_fraction=0.25)
    assert c.capacity == int(peak_live_bytes(c) * 0.25)


@pytest.mark.parametrize("kwargs, match", [
    ({"n": 0}, "n must be"), ({"n": 5, "max_lifetime": 0}, "max_lifetime"),
    ({"n": 5, "size_range": (10, 5)}, "size_range"), ({"n": 5, "n_ops": 0}, "n_ops"),
])
def test_random_instance_rejects_bad_arguments(kwargs, match):
    """Bad generator arguments raise ValueError naming the argument."""
    with pytest.raises(ValueError, match=match):
        random_instance(seed=0, **kwargs)


def test_zero_slack_rejects_bad_arguments():
    """Capacity not a multiple of the alignment and bad probabilities are rejected."""
    with pytest.raises(ValueError, match="multiple of alignment"):
        zero_slack_instance(5, seed=0, capacity=10, alignment=4)
    with pytest.raises(ValueError, match="p_time_cut"):
        zero_slack_instance(5, seed=0, p_time_cut=1.5)

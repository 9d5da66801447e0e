"""The malloc instance model and its roofline cost model."""
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from heurist.envs.malloc import (
    SLOW,
    MallocInstance,
    MemoryConfig,
    isolated_saving,
    op_times,
    program_time,
    speedup,
    time_all_fast,
    time_all_slow,
)

MEM = MemoryConfig(capacity=100, bw_fast=4.0, bw_slow=1.0, flops_per_s=10.0)


def tiny() -> MallocInstance:
    # 2 buffers, 3 ops: op0 writes b0 (8 B), op1 reads b0 (8 B) + writes b1 (4 B), op2 reads b1.
    return MallocInstance(size=[8, 4], start=[0, 1], end=[2, 3], ids=[10, 11],
                          op_flops=[0.0, 100.0, 0.0], use_buffer=[0, 0, 1, 1],
                          use_op=[0, 1, 1, 2], use_bytes=[8, 8, 4, 4], memory=MEM, name="tiny")


def test_op_times_exact_roofline():
    """Op times are max(flops/F, fast/BWf + slow/BWs) with hand-computed values."""
    inst = tiny()
    np.testing.assert_allclose(op_times(inst, [False, False]), [8.0, 12.0, 4.0])
    np.testing.assert_allclose(op_times(inst, [True, False]), [2.0, 10.0, 4.0])
    np.testing.assert_allclose(op_times(inst, [True, True]), [2.0, 10.0, 1.0])
    assert time_all_slow(inst) == 24.0
    assert time_all_fast(inst) == 13.0
    assert program_time(inst, np.array([0, SLOW])) == 16.0
    assert speedup(inst, np.array([0, 8])) == pytest.approx(24.0 / 13.0)


def test_isolated_saving_equals_single_buffer_difference():
    """isolated_saving[i] is exactly the time saved by moving buffer i alone to fast memory."""
    rng = np.random.default_rng(0)
    for _ in range(20):
        n, n_ops = 6, 5
        start = rng.integers(0, n_ops - 1, n)
        end = start + 1 + rng.integers(0, n_ops - start, n)
        end = np.minimum(end, n_ops)
        ub = rng.integers(0, n, 15)
        uo = start[ub] + (rng.random(15) * (end - start)[ub]).astype(int)
        inst = MallocInstance(size=rng.integers(1, 50, n), start=start, end=end, ids=np.arange(n),
                              op_flops=rng.integers(0, 300, n_ops).astype(float), use_buffer=ub,
                              use_op=uo, use_bytes=rng.integers(0, 40, 15), memory=MEM)
        base = time_all_slow(inst)
        expect = [base - program_time(inst, np.where(np.arange(n) == i, 0, SLOW))
                  for i in range(n)]
        np.testing.assert_allclose(isolated_saving(inst), expect, rtol=1e-12, atol=1e-12)


@settings(max_examples=40, deadline=None)
@given(st.lists(st.booleans(), min_size=2, max_size=2), st.lists(st.booleans(), min_size=2,
                                                                 max_size=2))
def test_more_fast_buffers_never_slower(a, b):
    """Moving more buffers to fast memory never increases the program time (bw_fast >= bw_slow)."""
    inst = tiny()
    sub = np.array(a) & np.array(b)
    sup = np.array(a) | np.array(b)
    assert op_times(inst, sup).sum() <= op_times(inst, sub).sum() + 1e-12


def test_from_intervals_default_uses():
    """Default ops: one zero-FLOP op per step, a write at the first and a read at the last step."""
    inst = MallocInstance.from_intervals([5, 7], [0, 2], [3, 3], memory=MEM)
    assert inst.n_ops == 3 and inst.n_uses == 4
    assert inst.use_op.tolist() == [0, 2, 2, 2]
    assert inst.use_bytes.tolist() == [5, 7, 5, 7]
    assert inst.op_flops.tolist() == [0.0, 0.0, 0.0]
    assert time_all_slow(inst) == 24.0  # 2 * (5 + 7) bytes at 1 B/s


def test_with_capacity_keeps_program():
    """with_capacity changes only the capacity."""
    inst = tiny().with_capacity(7)
    assert inst.capacity == 7 and inst.memory.bw_fast == 4.0
    assert inst.size.tolist() == [8, 4] and inst.name == "tiny"


@pytest.mark.parametrize("field, value, match", [
    ("size", [-1, 4], r"size\[0\] = -1 is negative"),
    ("start", [0, -2], r"start\[1\]"),
    ("end", [2, 1], r"end\[1\] = 1 is <= start"),
    ("ids", [3, 3], r"id 3 is duplicated"),
    ("use_op", [0, 5, 1, 2], r"use_op\[1\]"),
    ("use_op", [0, 2, 1, 2], r"use_op\[1\] = 2 lies outside"),
    ("use_buffer", [0, 0, 2, 1], r"use_buffer\[2\]"),
    ("use_bytes", [8, -8, 4, 4], r"use_bytes\[1\]"),
    ("size", [1.5, 4], r"size must hold integers"),
    ("op_flops", [0.0, -1.0, 0.0], r"op_flops"),
    ("op_flops", [0.0, 1.0], r"op_flops has 2 ops"),
    ("use_op", [0, 1, 1], r"use_op has length 3"),
    ("size", [2**62, 2**62], r"sizes sum to 9223372036854775808 >= 2\^63"),
])
def test_instance_validation_names_the_field(field, value, match):
    """Bad instance fields raise ValueError naming the field (and the index)."""
    kwargs = {k: getattr(tiny(), k) for k in ("size", "start", "end", "ids", "op_flops",
                                              "use_buffer", "use_op", "use_bytes", "memory")}
    kwargs[field] = value
    with pytest.raises(ValueError, match=match):
        MallocInstance(**kwargs)


@pytest.mark.parametrize("kwargs, match", [
    ({"capacity": -1}, "capacity"), ({"capacity": 10, "alignment": 0}, "alignment"),
    ({"capacity": 10, "bw_fast": 1.0, "bw_slow": 2.0}, "bw_fast"),
    ({"capacity": 10, "flops_per_s": 0.0}, "flops_per_s"), ({"capacity": 1.5}, "capacity"),
    ({"capacity": 2**63}, r"capacity must be in 0..2\^63-1"),
])
def test_memory_config_validation(kwargs, match):
    """Bad MemoryConfig constants raise ValueError naming the field."""
    with pytest.raises(ValueError, match=match):
        MemoryConfig(**kwargs)


def test_instance_arrays_are_read_only():
    """Instance arrays cannot be mutated behind the validation's back."""
    inst = tiny()
    with pytest.raises(ValueError):
        inst.size[0] = 1

"""The batched numba oracle (envs/pvrp/oracle_numba.py) equals the Python reference replay exactly:
same accept/reject and bit-identical objectives on valid, corrupted and random logs."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from heurist.envs.pvrp import PVRPEnv, PVRPSequentialEnv, Weights, generate, oracle
from heurist.envs.pvrp.oracle_numba import _np_sum

WEIGHTS = (Weights(), Weights(minmax=True), Weights(w_time=1.0, w_pref=0.0),
           Weights(w_time=0.3, w_pref=0.7, minmax=True))
CORRUPTIONS = ("none", "flip", "truncate", "extend", "swap", "priorities", "random")


def random_log(env, inst, gen: torch.Generator, *, priorities: bool):
    """A random legal rollout of ``env`` on ``inst`` [B] -> (actions numpy, priorities or None);
    small integer priorities so that ties happen."""
    td = env.reset(instance=inst)
    log, prios = [], []
    while not bool(td["done"].all()):
        m = td["action_mask"]
        a = torch.multinomial(m.float().reshape(-1, m.shape[-1]), 1,
                              generator=gen).reshape(m.shape[:-1])
        td["action"] = a
        if priorities:
            p = torch.randint(0, 3, a.shape, generator=gen).float()
            td["priority"] = p
            prios.append(p)
        log.append(a)
        td = env.step(td)["next"]
    return torch.stack(log, 1).numpy(), (torch.stack(prios, 1).numpy() if prios else None)


def corrupt(acts, prios, kind: str, n: int, rng: np.random.Generator):
    """``acts`` [B, T, *A] changed by ``kind`` (entries, length, order, priorities or all)."""
    acts = acts.copy()
    B, T = acts.shape[:2]
    if kind == "flip":
        flat = acts.reshape(-1)
        idx = rng.integers(0, flat.size, size=rng.integers(1, 4))
        flat[idx] = rng.integers(0, n + 1, size=idx.size)
    elif kind == "truncate":
        cut = int(rng.integers(0, T))
        acts = acts[:, :cut]
        prios = None if prios is None else prios[:, :cut]
    elif kind == "extend":
        extra = rng.integers(0, n + 1, size=(B, int(rng.integers(1, 4)), *acts.shape[2:]))
        acts = np.concatenate([acts, extra], 1)
        if prios is not None:
            prios = np.concatenate([prios, rng.integers(0, 3, extra.shape).astype(np.float32)], 1)
    elif kind == "swap" and T > 1:
        i, j = rng.choice(T, 2, replace=False)
        acts[:, [i, j]] = acts[:, [j, i]]
        if prios is not None:
            prios = prios.copy()
            prios[:, [i, j]] = prios[:, [j, i]]
    elif kind == "priorities" and prios is not None:
        prios = rng.integers(0, 3, prios.shape).astype(np.float32)
    elif kind == "random":
        acts = rng.integers(0, n + 1, size=acts.shape)
    return acts, prios


def assert_same(inst, acts, prios, weights, retire=False):
    """The numba verdicts equal the reference bit for bit (NaN where it rejects); the public
    check_solution / evaluate say the same."""
    fast = oracle._judge(inst, acts, prios, weights, retire)
    ref = oracle._judge_reference(inst, acts, prios, weights, retire)
    np.testing.assert_array_equal(np.isnan(fast), np.isnan(ref))
    assert fast.tobytes() == ref.tobytes()
    kw = {} if acts.ndim == 2 else {"priorities": prios, "retire": retire}
    ok = oracle.check_solution(inst, acts, weights=weights, **kw).numpy()
    np.testing.assert_array_equal(ok, ~np.isnan(ref))
    return ref


CONFIG = st.fixed_dictionaries({
    "seed": st.integers(0, 10_000), "n": st.integers(1, 9), "m": st.integers(1, 9),
    "variant": st.sampled_from(["p", "zc"]), "capacity": st.sampled_from([10, 12.5, 40, 200]),
    "weights": st.sampled_from(WEIGHTS), "kind": st.sampled_from(CORRUPTIONS)})


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(cfg=CONFIG, retire=st.booleans(), with_priority=st.booleans())
def test_parallel_logs_match_the_reference(cfg, retire, with_priority):
    """PVRPEnv logs (priorities or the default rule, retire or not), valid and corrupted: the
    numba and Python replays agree exactly."""
    env = PVRPEnv(n_clients=cfg["n"], n_vehicles=cfg["m"], variant=cfg["variant"],
                  capacity=cfg["capacity"], retire=retire, weights=cfg["weights"],
                  backend="torch")
    inst = env.generate(5, seed=cfg["seed"])
    gen = torch.Generator().manual_seed(cfg["seed"])
    acts, prios = random_log(env, inst, gen, priorities=with_priority)
    rng = np.random.default_rng(cfg["seed"])
    ref = assert_same(inst, acts, prios, cfg["weights"], retire)
    assert not np.isnan(ref).any()  # the env's own rollouts are valid
    acts, prios = corrupt(acts, prios, cfg["kind"], cfg["n"], rng)
    assert_same(inst, acts, prios, cfg["weights"], retire)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(cfg=CONFIG)
def test_sequential_logs_match_the_reference(cfg):
    """PVRPSequential logs (round robin), valid and corrupted: numba and Python agree exactly."""
    env = PVRPSequentialEnv(n_clients=cfg["n"], n_vehicles=cfg["m"], variant=cfg["variant"],
                            capacity=cfg["capacity"], weights=cfg["weights"])
    inst = env.generate(5, seed=cfg["seed"])
    gen = torch.Generator().manual_seed(cfg["seed"])
    acts, _ = random_log(env, inst, gen, priorities=False)
    rng = np.random.default_rng(cfg["seed"])
    ref = assert_same(inst, acts, None, cfg["weights"])
    assert not np.isnan(ref).any()
    acts, _ = corrupt(acts, None, cfg["kind"], cfg["n"], rng)
    assert_same(inst, acts, None, cfg["weights"])


@pytest.mark.parametrize("n", [0, 1, 7, 8, 9, 15, 16, 17, 127, 128, 129, 255, 256, 300, 1025, 5000])
def test_pairwise_sum_is_numpys(n):
    """_np_sum rounds exactly as ndarray.sum (pairwise blocks of 8, halves above 128)."""
    a = np.random.default_rng(n).random(n) * 10.0 ** np.random.default_rng(n + 1).integers(-8, 8, n)
    assert _np_sum(a, n) == float(a.sum())


def test_long_trip_objective_is_bit_identical():
    """One vehicle serving 150 clients in one trip (151 edges: numpy's recursive halves) and a
    CVRP-like log over several trips: numba equals the reference bit for bit."""
    inst = generate(2, n_clients=150, n_vehicles=1, capacity=10**6, rng=3).to_tensordict()
    acts = np.zeros((2, 151), dtype=np.int64)
    acts[0, :150] = np.random.default_rng(0).permutation(150) + 1
    acts[1, :150] = np.arange(150, 0, -1)
    for w in WEIGHTS:
        ref = assert_same(inst, acts, None, w)
        assert not np.isnan(ref).any()


def test_out_of_range_and_bad_shapes_raise_as_the_reference():
    """Actions outside 0..N, wrong shapes and sequential priorities raise the reference's exact
    ValueError (a sequential log with retire is legal: tests/test_pvrp_sequential_retire.py)."""
    inst = generate(2, n_clients=4, n_vehicles=2, capacity=40, rng=1).to_tensordict()
    cases = [(np.full((2, 3, 2), 5), None, False), (np.full((2, 3, 2), -1), None, False),
             (np.zeros((2, 3, 3), dtype=np.int64), None, False),
             (np.zeros((3, 3, 2), dtype=np.int64), None, False),
             (np.zeros((2, 3), dtype=np.int64), np.zeros((2, 3, 2)), False),
             (np.zeros((2, 3, 2), dtype=np.int64), np.zeros((2, 4, 2)), False),
             (np.zeros(3, dtype=np.int64), None, False)]
    for acts, prios, retire in cases:
        with pytest.raises(ValueError) as ref:
            oracle._judge_reference(inst, acts, prios, None, retire)
        with pytest.raises(ValueError, match=None) as fast:
            oracle._judge(inst, acts, prios, None, retire)
        assert str(fast.value) == str(ref.value)

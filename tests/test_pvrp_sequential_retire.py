"""PVRPSequentialEnv(retire=True): the acting vehicle may retire; env, masks and oracles agree."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from pvrp_cases import two_vehicles
from test_pvrp_legal import CONFIG, compare_along_rollout
from test_pvrp_oracle_numba import CORRUPTIONS, corrupt

from heurist.envs.pvrp import PVRPInstances, PVRPSequentialEnv, Weights, oracle
from heurist.envs.pvrp.decode import decode_sequential, sequential_log
from heurist.envs.pvrp.oracle import check_routes

W = Weights(0.9, 0.1)


def rollout(env, inst, gen):
    """Uniform random legal rollout -> (log [B, T], summed rewards float64 [B], acting vehicle
    [B, T], whether the step retired the acting vehicle [B, T])."""
    td = env.reset(instance=inst)
    B = td.batch_size[0]
    log, cur, retired = [], [], []
    total = torch.zeros(B, dtype=torch.float64)
    while not td["done"].all():
        before = env.state.retired.clone()
        cur.append(td["current_vehicle"].clone())
        td["action"] = torch.multinomial(td["action_mask"].float(), 1, generator=gen).reshape(B)
        log.append(td["action"].clone())
        td = env.step(td)["next"]
        retired.append((env.state.retired & ~before).any(-1))
        total += td["reward"].reshape(-1).double()
    return torch.stack(log, 1), total, torch.stack(cur, 1), torch.stack(retired, 1)


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(cfg=CONFIG)
def test_random_retire_rollouts_are_accepted_with_the_summed_reward(cfg):
    """Random rollouts with retiring: mask == oracle's legal moves at every step, every log is
    accepted with evaluate == summed rewards, numba == Python replay bit for bit (also on
    corrupted logs), and a retired vehicle never acts again."""
    env = PVRPSequentialEnv(n_clients=cfg["n"], n_vehicles=cfg["m"], variant=cfg["variant"],
                            zones=cfg["zones"], capacity=cfg["capacity"], weights=W, retire=True)
    assert env.backend == "torch"
    inst = env.generate(4, seed=cfg["seed"])
    assert compare_along_rollout(env, inst, seed=cfg["seed"]) >= 1
    log, total, cur, ret = rollout(env, inst, torch.Generator().manual_seed(cfg["seed"] + 1))
    assert env.check_solution(inst, log).all()
    np.testing.assert_allclose(env.evaluate(inst, log).numpy(), total.numpy(), atol=1e-4)
    for b in range(log.shape[0]):
        gone = set()
        for t in range(log.shape[1]):
            assert int(cur[b, t]) not in gone
            if ret[b, t]:
                assert int(log[b, t]) == 0
                gone.add(int(cur[b, t]))
    rng = np.random.default_rng(cfg["seed"])
    for kind in ("none", *CORRUPTIONS[1:]):
        acts, _ = corrupt(log.numpy(), None, kind, cfg["n"], rng)
        fast = oracle._judge(inst, acts, None, W, True)
        ref = oracle._judge_reference(inst, acts, None, W, True)
        assert fast.tobytes() == ref.tobytes()
        ok = oracle.check_solution(inst, acts, weights=W, retire=True).numpy()
        np.testing.assert_array_equal(ok, ~np.isnan(ref))


@settings(max_examples=10, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(cfg=CONFIG)
def test_default_logs_stay_legal_with_retire(cfg):
    """Retiring only adds moves: a default env's (numba) rollout is accepted by the retire
    oracle with the same value, bit for bit."""
    env = PVRPSequentialEnv(n_clients=cfg["n"], n_vehicles=cfg["m"], variant=cfg["variant"],
                            zones=cfg["zones"], capacity=cfg["capacity"], weights=W)
    assert env.backend == "numba" and not env.retire
    inst = env.generate(3, seed=cfg["seed"])
    log, total, _, ret = rollout(env, inst, torch.Generator().manual_seed(cfg["seed"]))
    assert not ret.any()
    plain = oracle.evaluate(inst, log, weights=W).numpy()
    with_retire = oracle.evaluate(inst, log, weights=W, retire=True).numpy()
    assert plain.tobytes() == with_retire.tobytes() and not np.isnan(plain).any()
    np.testing.assert_allclose(plain, total.numpy(), atol=1e-4)


def test_hand_instance_retire_then_one_vehicle_serves_all():
    """v0 retires at its first turn, v1 serves c1 then c2: hand-computed masks and objective;
    v0 is never asked again."""
    env = PVRPSequentialEnv(n_clients=2, n_vehicles=2, weights=W, retire=True)
    inst = two_vehicles().to_tensordict()
    td = env.reset(instance=inst)
    assert int(td["current_vehicle"][0]) == 0
    assert td["action_mask"][0].tolist() == [True, True, True]
    rewards = []
    for a, k in zip([0, 1, 2, 0], [0, 1, 1, 1]):
        assert int(td["current_vehicle"][0]) == k
        td["action"] = torch.tensor([a])
        td = env.step(td)["next"]
        rewards.append(float(td["reward"]))
        if a == 0 and k == 0:  # v1 is now the last server: it may not retire
            assert td["action_mask"][0].tolist() == [False, True, True]
    assert bool(td["done"]) and env.state.retired[0].tolist() == [True, False]
    want = 0.9 * (1.0 + np.sqrt(0.1)) / 2 - 0.1 * 0.2
    assert -sum(rewards) == pytest.approx(want, abs=1e-6)
    log = torch.tensor([[0, 1, 2, 0]])
    assert float(env.evaluate(inst, log)[0]) == pytest.approx(-want, abs=1e-12)
    assert oracle.decode_log(inst, log, retire=True)[1][0].routes == [[], [[1, 2]]]


def test_stranding_retirement_is_rejected():
    """After v0 retires, v1 is the only server of both clients: its depot choice is masked, the
    env raises, and the oracle rejects the log (numba and Python); so does the default env's."""
    env = PVRPSequentialEnv(n_clients=2, n_vehicles=2, weights=W, retire=True)
    inst = two_vehicles().to_tensordict()
    td = env.reset(instance=inst)
    td["action"] = torch.tensor([0])
    td = env.step(td)["next"]
    td["action"] = torch.tensor([0])
    with pytest.raises(ValueError, match="masked"):
        env.step(td)
    bad = torch.tensor([[0, 0, 1, 2, 0]])
    assert not bool(env.check_solution(inst, bad)[0])
    assert np.isnan(oracle._judge_reference(inst, bad, None, W, True)).all()
    assert oracle.legal_actions(inst, bad[:, :1], retire=True)[0].tolist() == [False, True, True]
    with pytest.raises(ValueError, match="illegal"):
        oracle.legal_actions(inst, bad[:, :2], retire=True)
    default = PVRPSequentialEnv(n_clients=2, n_vehicles=2, weights=W)
    assert not bool(default.check_solution(inst, torch.tensor([[0, 1, 2, 0]]))[0])


def test_zone_owner_cannot_retire():
    """PVRP-ZC: v1 alone may serve c2, so v1 may not retire; v0 may."""
    allowed = np.array([[[True, False], [True, True]]])
    env = PVRPSequentialEnv(n_clients=2, n_vehicles=2, retire=True)
    inst = two_vehicles(allowed).to_tensordict()
    td = env.reset(instance=inst)
    assert td["action_mask"][0].tolist() == [True, True, False]
    td["action"] = torch.tensor([1])
    td = env.step(td)["next"]
    assert int(td["current_vehicle"][0]) == 1
    assert td["action_mask"][0].tolist() == [False, False, True]


def test_retire_needs_the_torch_backend():
    """retire=True with backend='numba' is a ValueError; 'auto' picks torch; the default env is
    numba and never retires."""
    with pytest.raises(ValueError, match="torch backend"):
        PVRPSequentialEnv(n_clients=2, n_vehicles=2, retire=True, backend="numba")
    assert PVRPSequentialEnv(n_clients=2, n_vehicles=2, retire=True).backend == "torch"
    assert PVRPSequentialEnv(n_clients=2, n_vehicles=2).backend == "numba"


def test_greedy_rollout_skips_retired_vehicles():
    """After v0 retires, greedy_rollout plays v1 alone (c1 on the tie, c2, home): its value is
    the summed reward of those steps, and the state is left unchanged."""
    env = PVRPSequentialEnv(n_clients=2, n_vehicles=2, weights=W, retire=True)
    td = env.reset(instance=two_vehicles().to_tensordict())
    td["action"] = torch.tensor([0])
    td = env.step(td)["next"]
    value = float(env.greedy_rollout()[0])
    assert env.state.retired[0].tolist() == [True, False] and int(env.state.current[0]) == 1
    total = 0.0
    for a in (1, 2, 0):
        td["action"] = torch.tensor([a])
        td = env.step(td)["next"]
        total += float(td["reward"])
    assert bool(td["done"]) and value == pytest.approx(total, abs=1e-6)


def test_pyvrp_solutions_replay_as_sequential_retire_logs():
    """PyVRP's routes (some leaving a vehicle unused) give a legal sequential log with retire
    whose oracle value equals check_routes' objective and whose env replay sums to it; the same
    routes need retire where a vehicle is unused."""
    from heurist.policies.pvrp.pyvrp_solver import solve_pyvrp

    env = PVRPSequentialEnv(n_clients=8, n_vehicles=3, weights=W, retire=True)
    inst = env.generate(4, seed=3)
    many = PVRPInstances.from_tensordict(inst)
    unused = 0
    for i in range(4):
        routes = solve_pyvrp(many[i], time_limit=0.2, weights=W)
        unused += sum(not trips for trips in routes)
        rules = (many.demand[i], many.capacity[i], many.allowed_or_all()[i])
        log = sequential_log(routes, *rules)
        dec = decode_sequential(log, *rules, retire=True)
        assert dec.finished and dec.illegal < 0
        assert dec.routes == [[list(map(int, t)) for t in trips if len(t)] for trips in routes]
        want = check_routes(many[i], routes, weights=W).objective
        log_t = torch.from_numpy(log).unsqueeze(0)
        assert float(env.evaluate(inst[i:i + 1], log_t)[0]) == pytest.approx(-want, abs=1e-9)
        td, total = env.reset(instance=inst[i:i + 1]), 0.0
        for a in log:
            td["action"] = torch.tensor([int(a)])
            td = env.step(td)["next"]
            total += float(td["reward"])
        assert bool(td["done"]) and total == pytest.approx(-want, abs=1e-4)
        if any(not trips for trips in routes):
            with pytest.raises(ValueError, match="retire=True"):
                sequential_log(routes, *rules, retire=False)
    assert unused >= 1

"""PVRPEnv(retire=True): a vehicle may stay home for good; masks, step and oracle agree."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pvrp_cases import two_vehicles
from test_pvrp_legal import CONFIG, compare_along_rollout

from heurist.envs.pvrp import PVRPEnv, PVRPInstances, Weights, oracle
from heurist.envs.pvrp.decode import parallel_log
from heurist.envs.pvrp.oracle import check_routes


def run(env, inst, steps):
    """Steps ``env`` through the joint actions ``steps``; returns (masks after each, rewards)."""
    td = env.reset(instance=inst.to_tensordict())
    masks, rewards = [td["action_mask"][0].tolist()], []
    for a in steps:
        td["action"] = torch.tensor([a])
        td = env.step(td)["next"]
        masks.append(td["action_mask"][0].tolist())
        rewards.append(float(td["reward"]))
    return td, masks, rewards


def test_one_vehicle_serves_all_while_the_other_retires():
    """v1 retires at once, v0 serves c1 then c2: hand-computed masks and objective."""
    env = PVRPEnv(n_clients=2, n_vehicles=2, weights=Weights(0.9, 0.1), retire=True)
    inst = two_vehicles()
    td, masks, rewards = run(env, inst, [[1, 0], [2, 0], [0, 0]])
    # at reset both may retire (each client has the other vehicle as a server)
    assert masks[0] == [[True, True, True], [True, True, True]]
    # v1 retired: only the depot; v0 at c1 is now the last server of c2: no retiring, c2 or home
    assert masks[1] == [[True, False, True], [True, False, False]]
    assert bool(td["done"])
    # v0 drives 0.5 + sqrt(0.1) + 0.5 and collects 0.5 + 0.2
    want = 0.9 * (1.0 + np.sqrt(0.1)) - 0.1 * 0.7
    assert -sum(rewards) == pytest.approx(want, abs=1e-6)
    log = torch.tensor([[[1, 0], [2, 0], [0, 0]]])
    assert float(env.evaluate(inst.to_tensordict(), log)) == pytest.approx(-want, abs=1e-12)
    assert check_routes(inst, [[[1, 2]], []], weights=Weights(0.9, 0.1)).objective \
        == pytest.approx(want, abs=1e-12)


def test_without_retire_the_same_log_is_illegal():
    """The default env forbids v1's first depot stay, so the oracle rejects that log."""
    env = PVRPEnv(n_clients=2, n_vehicles=2, weights=Weights(0.9, 0.1))
    inst = two_vehicles().to_tensordict()
    td = env.reset(instance=inst)
    assert td["action_mask"][0].tolist() == [[False, True, True], [False, True, True]]
    assert not bool(env.check_solution(inst, torch.tensor([[[1, 0], [2, 0], [0, 0]]]))[0])


def test_simultaneous_retirements_keep_a_server():
    """Both vehicles ask to retire at step 0: v0 retires, v1 is refused (stays, not retired),
    and must then serve both clients; the oracle replays the same rule."""
    env = PVRPEnv(n_clients=2, n_vehicles=2, weights=Weights(0.9, 0.1), retire=True)
    inst = two_vehicles()
    _, masks, rewards = run(env, inst, [[0, 0]])
    assert rewards == [0.0]
    assert env.state.retired[0].tolist() == [True, False]
    assert masks[1] == [[True, False, False], [False, True, True]]
    log = torch.tensor([[[0, 0]]])
    assert oracle.legal_actions(inst.to_tensordict(), log, retire=True)[0].tolist() == masks[1]
    full = torch.tensor([[[0, 0], [0, 1], [0, 2], [0, 0]]])
    assert bool(env.check_solution(inst.to_tensordict(), full)[0])
    assert oracle.decode_log(inst.to_tensordict(), full, retire=True)[1][0].routes \
        == [[], [[1, 2]]]


def test_zone_owner_cannot_retire():
    """PVRP-ZC: v1 is the only vehicle allowed c2, so it may not retire; v0 may."""
    allowed = np.array([[[True, False], [True, True]]])
    env = PVRPEnv(n_clients=2, n_vehicles=2, retire=True)
    td = env.reset(instance=two_vehicles(allowed).to_tensordict())
    assert td["action_mask"][0, :, 0].tolist() == [True, False]


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(cfg=CONFIG, with_priority=st.booleans())
def test_retire_masks_equal_the_oracle_along_random_rollouts(cfg, with_priority):
    """Random rollouts with retiring: at every step the oracle's legal moves equal the mask, and
    every finished log passes check_solution with evaluate equal to the summed rewards."""
    env = PVRPEnv(n_clients=cfg["n"], n_vehicles=cfg["m"], variant=cfg["variant"],
                  zones=cfg["zones"], capacity=cfg["capacity"], retire=True)
    inst = env.generate(3, seed=cfg["seed"])
    assert compare_along_rollout(env, inst, seed=cfg["seed"], with_priority=with_priority) >= 1
    gen = torch.Generator().manual_seed(cfg["seed"] + 1)
    td, log, total = env.reset(instance=inst), [], torch.zeros(3, dtype=torch.float64)
    while not td["done"].all():
        m = td["action_mask"]
        td["action"] = torch.multinomial(m.float().reshape(-1, m.shape[-1]), 1,
                                         generator=gen).reshape(m.shape[:-1])
        log.append(td["action"].clone())
        td = env.step(td)["next"]
        total += td["reward"].reshape(-1).double()
    acts = torch.stack(log, 1)
    assert env.check_solution(inst, acts).all()
    np.testing.assert_allclose(env.evaluate(inst, acts).numpy(), total.numpy(), atol=1e-4)


def test_snapshot_restore_keeps_retirements():
    """Restoring a snapshot taken after a retirement gives back the retired set and its masks."""
    env = PVRPEnv(n_clients=2, n_vehicles=2, retire=True)
    td, masks, _ = run(env, two_vehicles(), [[1, 0]])
    snap = env.snapshot()
    td["action"] = torch.tensor([[2, 0]])
    env.step(td)
    back = env.restore(snap)
    assert env.state.retired[0].tolist() == [False, True]
    assert back["action_mask"][0].tolist() == masks[1]


def test_retire_needs_the_torch_backend_and_reaches_both_envs():
    """retire=True with backend='numba' is a ValueError; env.retire builds a retiring parallel
    env for CAMP and a retiring sequential env for single-agent models."""
    from importlib.resources import files

    from omegaconf import OmegaConf

    from heurist.agents.routing_task import make_routing_env

    with pytest.raises(ValueError, match="torch backend"):
        PVRPEnv(n_clients=2, n_vehicles=2, retire=True, backend="numba")
    assert PVRPEnv(n_clients=2, n_vehicles=2, retire=True).backend == "torch"
    cfg = OmegaConf.load(files("heurist.configs") / "env" / "pvrp_p.yaml")
    cfg.retire = True
    seq, par = make_routing_env(cfg, multi_agent=False), make_routing_env(cfg, multi_agent=True)
    assert (type(seq).__name__, seq.retire, seq.backend) == ("PVRPSequentialEnv", True, "torch")
    assert (type(par).__name__, par.retire) == ("PVRPEnv", True)


def test_pyvrp_solutions_replay_in_the_retire_env():
    """PyVRP's routes (which may leave a vehicle unused) replay as a legal log of the retire env
    whose evaluate equals the routes' objective."""
    from heurist.policies.pvrp.pyvrp_solver import solve_pyvrp

    w = Weights(0.9, 0.1)
    env = PVRPEnv(n_clients=8, n_vehicles=3, weights=w, retire=True)
    inst = env.generate(4, seed=3)
    many = PVRPInstances.from_tensordict(inst)
    for i in range(4):
        routes = solve_pyvrp(many[i], time_limit=0.2, weights=w)
        log = torch.from_numpy(parallel_log(routes)).unsqueeze(0)
        got = float(env.evaluate(inst[i:i + 1], log)[0])
        assert got == pytest.approx(-check_routes(many[i], routes, weights=w).objective,
                                    abs=1e-9)

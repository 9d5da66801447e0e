"""The PVRP envs (parallel multi-agent and sequential): masks, zones, conflicts, reward = oracle."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from heurist.envs.pvrp import PVRPEnv, PVRPInstances, PVRPSequentialEnv, Weights, generate, oracle
from heurist.envs.pvrp.decode import conflict_winners, decode_parallel, decode_sequential
from heurist.envs.pvrp.env import resolve_conflicts
from heurist.envs.pvrp.render import render


def tiny(*, zc: bool = False) -> PVRPInstances:
    """Depot at the origin; c1 (0.3, 0.4), c2 (0.6, 0.8), c3 (0, 0.5); speeds 1 and 2."""
    return PVRPInstances(
        depot=np.array([[0.0, 0.0]]),
        locs=np.array([[[0.3, 0.4], [0.6, 0.8], [0.0, 0.5]]]),
        demand=np.array([[4, 5, 5]]), capacity=np.array([[10, 5]]), speed=np.array([[1.0, 2.0]]),
        preference=np.array([[[0.2, 0.4, 0.9], [0.1, 0.3, 0.6]]]),
        allowed=np.array([[[True, True, False], [True, False, True]]]) if zc else None)


def rules(inst: PVRPInstances) -> tuple:
    """The arrays the replays take for instance 0: demand [N], capacity [M], allowed [M, N]."""
    return inst.demand[0], inst.capacity[0], inst.allowed_or_all()[0]


def env_for(inst: PVRPInstances, cls=PVRPEnv, **kw):
    return cls(n_clients=inst.N, n_vehicles=inst.M, **kw)


def rollout(env, instance, *, seed: int, with_priority: bool = False):
    """Random masked rollout that checks every step's invariants; returns (acts, prios, rewards)."""
    gen = torch.Generator().manual_seed(seed)
    td = env.reset(instance=instance.clone())
    allowed = td["allowed"]
    acts, prios, rews = [], [], []
    for _ in range(10_000):
        if td["done"].all():
            break
        mask = td["action_mask"]
        assert mask.any(-1).all(), "a vehicle faces an all-masked row"
        a = torch.multinomial(mask.float().reshape(-1, mask.shape[-1]), 1, generator=gen)
        a = a.reshape(mask.shape[:-1])
        # a legal client choice is never forbidden by the zones
        if a.ndim == 2:
            chosen = allowed.gather(2, (a - 1).clamp(min=0).unsqueeze(-1)).squeeze(-1)
        else:
            k = td["current_vehicle"]
            chosen = allowed[torch.arange(a.shape[0]), k, (a - 1).clamp(min=0)]
        assert bool((chosen | (a == 0)).all()), "a forbidden client is legal"
        td["action"] = a
        if with_priority:
            td["priority"] = torch.rand(a.shape, generator=gen)
            prios.append(td["priority"].clone())
        out = env.step(td)["next"]
        assert (out["vehicle_load"] >= 0).all(), "a trip exceeds the capacity"
        acts.append(a.clone())
        rews.append(out["reward"].squeeze(-1).double())
        td = out
    assert td["done"].all()
    return (torch.stack(acts, 1), torch.stack(prios, 1) if prios else None,
            torch.stack(rews, 1).sum(1))


CONFIG = st.fixed_dictionaries({
    "n": st.integers(1, 12), "m": st.integers(1, 4), "variant": st.sampled_from(["p", "zc"]),
    "preference": st.sampled_from(["random", "angle", "cluster", "block"]),
    "zones": st.sampled_from(["random", "sector"]), "seed": st.integers(0, 10_000),
    "capacity": st.sampled_from([9, 15, 40]), "minmax": st.booleans()})


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(cfg=CONFIG, sequential=st.booleans(), with_priority=st.booleans(),
       backend=st.sampled_from(["numba", "torch"]))
def test_random_rollouts_keep_invariants_and_match_oracle(cfg, sequential, with_priority, backend):
    """Random masked rollouts: no all-masked row, no zone/capacity breach, rewards sum to -oracle."""
    cls = PVRPSequentialEnv if sequential else PVRPEnv
    env = cls(n_clients=cfg["n"], n_vehicles=cfg["m"], variant=cfg["variant"],
              preference=cfg["preference"], zones=cfg["zones"], capacity=cfg["capacity"],
              speed=[1.0 + 0.5 * k for k in range(cfg["m"])], weights=Weights(minmax=cfg["minmax"]),
              backend=backend)
    inst = env.generate(3, seed=cfg["seed"])
    acts, prios, total = rollout(env, inst, seed=cfg["seed"],
                                 with_priority=with_priority and not sequential)
    assert env.check_solution(inst, acts, prios).all()
    value = env.evaluate(inst, acts, prios)
    torch.testing.assert_close(value, total, rtol=1e-5, atol=1e-4)


def test_tiny_instance_exact_objective_and_masks():
    """A hand-built instance and action sequence give the hand-computed masks and objective 2.13."""
    inst = tiny()
    env = env_for(inst)
    td = env.reset(instance=inst.to_tensordict())
    # at the depot with feasible clients: no depot stay
    assert td["action_mask"].tolist() == [[[False, True, True, True], [False, True, True, True]]]
    rewards, masks = [], []
    for a in ([1, 3], [2, 0], [0, 0]):
        td["action"] = torch.tensor([a])
        td = env.step(td)["next"]
        rewards.append(float(td["reward"]))
        masks.append(td["action_mask"][0].tolist())
    # v0 at c1 with 6 left: depot or c2; v1 at c3 with 0 left: depot only
    assert masks[0] == [[True, False, True, False], [True, False, False, False]]
    # v1 home with nothing feasible: a depot stay is the only (deadlock-avoiding) move
    assert masks[1] == [[True, False, False, False], [True, False, False, False]]
    np.testing.assert_allclose(rewards, [-0.595, -0.635, -0.9], atol=1e-6)
    assert bool(td["done"]) and td["vehicle_time"][0].tolist() == pytest.approx([2.0, 0.5])
    acts = torch.tensor([[[1, 3], [2, 0], [0, 0]]])
    assert decode_parallel(acts[0].numpy(), *rules(inst)).routes == [[[1, 2]], [[3]]]
    assert float(env.evaluate(inst.to_tensordict(), acts)) == pytest.approx(-2.13, abs=1e-12)


def test_tiny_instance_minmax_and_zc_objectives():
    """Min-max takes the makespan (0.9*2 - 0.12 = 1.68); ZC drops preference (0.9*2.5 = 2.25)."""
    acts = torch.tensor([[[1, 3], [2, 0], [0, 0]]])
    for inst, weights, expected in ((tiny(), Weights(minmax=True), 1.68),
                                    (tiny(zc=True), Weights(), 2.25)):
        env = env_for(inst, weights=weights)
        td = env.reset(instance=inst.to_tensordict())
        total = 0.0
        for t in range(3):
            td["action"] = acts[:, t]
            td = env.step(td)["next"]
            total += float(td["reward"])
        assert total == pytest.approx(-expected, abs=1e-6)
        assert float(env.evaluate(inst.to_tensordict(), acts)) == pytest.approx(-expected, abs=1e-12)


def test_zc_mask_hides_forbidden_clients():
    """In ZC, a client outside a vehicle's zone is never legal for it, whatever the state."""
    inst = tiny(zc=True)
    td = env_for(inst).reset(instance=inst.to_tensordict())
    assert td["action_mask"].tolist() == [[[False, True, True, False], [False, True, False, True]]]


def test_conflict_rule_lowest_index_by_default_and_priority_otherwise():
    """Both vehicles pick c2: vehicle 0 wins by default; with priority [0, 1] vehicle 1 wins."""
    inst = tiny()
    env = env_for(inst)
    td = env.reset(instance=inst.to_tensordict())
    td["action"] = torch.tensor([[2, 2]])
    out = env.step(td)["next"]
    assert out["vehicle_pos"].tolist() == [[2, 0]] and out["vehicle_time"][0, 1] == 0
    assert float(out["reward"]) == pytest.approx(-0.9 * 1.0 + 0.1 * 0.4, abs=1e-6)
    td = env.reset(instance=inst.to_tensordict())
    td["action"], td["priority"] = torch.tensor([[2, 2]]), torch.tensor([[0.0, 1.0]])
    out = env.step(td)["next"]
    assert out["vehicle_pos"].tolist() == [[0, 2]]
    assert float(out["reward"]) == pytest.approx(-0.9 * 0.5 + 0.1 * 0.3, abs=1e-6)
    # equal priorities tie to the lower index; depot choices never conflict
    won = resolve_conflicts(torch.tensor([[3, 3, 0, 0, 3]]), torch.tensor([[1.0, 2.0, 0, 0, 2.0]]))
    assert won.tolist() == [[False, True, False, False, False]]
    assert conflict_winners([3, 3, 0, 0, 3], [1.0, 2.0, 0, 0, 2.0]) == [False, True, True, True, False]


def test_evaluate_uses_priorities_of_the_log():
    """A log replayed with its recorded priorities matches the env; without them it means else."""
    inst = tiny()
    env = env_for(inst)
    acts = torch.tensor([[[2, 2], [1, 0], [3, 3], [0, 0]]])
    prio = torch.tensor([[[0.0, 1.0], [0, 0], [0, 0], [0, 0]]])
    td, total = env.reset(instance=inst.to_tensordict()), 0.0
    for t in range(4):
        td["action"], td["priority"] = acts[:, t], prio[:, t]
        td = env.step(td)["next"]
        total += float(td["reward"])
    assert bool(td["done"])
    # v1 took c2 at step 1; at step 3 both chose c3 with tied priorities: v0 won
    assert decode_parallel(acts[0].numpy(), *rules(inst), prio[0].numpy()).routes == [[[1, 3]], [[2]]]
    assert float(env.evaluate(inst.to_tensordict(), acts, prio)) == pytest.approx(total, abs=1e-6)
    # without the priorities v0 would have carried 2, 1, 3 (load 14 > 10): invalid
    dec = decode_parallel(acts[0].numpy(), *rules(inst))
    # step 1: v1, home with feasible clients, may not stay at the depot
    assert dec.routes == [[[2, 1, 3]], []] and dec.illegal == 1
    assert not env.check_solution(inst.to_tensordict(), acts).item()


def test_sequential_round_robin_and_exact_objective():
    """Sequential: vehicles act in round robin over the active ones; objective is hand-computed."""
    inst = tiny()
    env = env_for(inst, PVRPSequentialEnv)
    td = env.reset(instance=inst.to_tensordict())
    seq, total = [], 0.0
    for a in (1, 3, 2, 0, 0):  # v0->c1, v1->c3, v0->c2, v1->home, v0->home
        seq.append(int(td["current_vehicle"]))
        td["action"] = torch.tensor([a])
        td = env.step(td)["next"]
        total += float(td["reward"])
    assert seq == [0, 1, 0, 1, 0] and bool(td["done"])
    assert total == pytest.approx(-2.13, abs=1e-6)
    acts = torch.tensor([[1, 3, 2, 0, 0]])
    dec = decode_sequential(acts[0].numpy(), *rules(inst))
    assert dec.routes == [[[1, 2]], [[3]]] and dec.finished and dec.steps == 5 and dec.illegal == -1
    assert float(env.evaluate(inst.to_tensordict(), acts)) == pytest.approx(-2.13, abs=1e-12)


def test_sequential_skips_vehicles_with_nothing_to_do():
    """A vehicle at the depot with no feasible client is skipped; the acting row is never empty."""
    inst = tiny(zc=True)  # v0 may serve c1, c2; v1 may serve c1, c3
    env = env_for(inst, PVRPSequentialEnv)
    td = env.reset(instance=inst.to_tensordict())
    seq = []
    for a in (1, 3, 0, 0, 2, 0):  # v0->c1, v1->c3, v0 home, v1 home, v0->c2 (v1 idle: skipped), home
        seq.append(int(td["current_vehicle"]))
        assert td["action_mask"].any()
        td["action"] = torch.tensor([a])
        td = env.step(td)["next"]
    assert seq == [0, 1, 0, 1, 0, 0] and bool(td["done"])


def test_done_rows_are_absorbing():
    """After the end, only action 0 is legal; it yields reward 0 and done stays True."""
    inst = tiny()
    env = env_for(inst)
    td = env.reset(instance=inst.to_tensordict())
    for a in ([1, 3], [2, 0], [0, 0]):
        td["action"] = torch.tensor([a])
        td = env.step(td)["next"]
    assert td["action_mask"][0, :, 1:].sum() == 0
    td["action"] = torch.tensor([[0, 0]])
    out = env.step(td)["next"]
    assert float(out["reward"]) == 0.0 and bool(out["done"])


def test_oracles_reject_unfinished_and_invalid_logs():
    """check_solution is False (evaluate NaN) for an unfinished log and a double-served client."""
    inst = tiny()
    env = env_for(inst)
    td = inst.to_tensordict()
    unfinished = torch.tensor([[[1, 3], [2, 0]]])
    assert not env.check_solution(td, unfinished).item()
    assert torch.isnan(env.evaluate(td, unfinished)).item()
    twice = torch.tensor([[[1, 3], [0, 1], [2, 0], [0, 0]]])  # v1 re-serves c1
    assert not env.check_solution(td, twice).item()
    res = oracle.check_routes(inst, decode_parallel(twice[0].numpy(), *rules(inst)).routes)
    assert any("served 2 times" in v for v in res.violations)


def test_oracles_reject_an_illegal_step_even_with_valid_routes():
    """A depot stay while clients are feasible (step 0) is illegal although the routes it decodes
    to are the valid 2.13 solution: check_solution is False and evaluate NaN."""
    inst = tiny()
    env = env_for(inst)
    acts = torch.tensor([[[0, 3], [1, 0], [2, 2], [0, 0]]])  # at step 2 v0 wins c2, v1 stays
    dec = decode_parallel(acts[0].numpy(), *rules(inst))
    assert dec.routes == [[[1, 2]], [[3]]] and dec.finished and dec.illegal == 0
    assert oracle.check_routes(inst, dec.routes).objective == pytest.approx(2.13, abs=1e-12)
    assert not env.check_solution(inst.to_tensordict(), acts).item()
    assert torch.isnan(env.evaluate(inst.to_tensordict(), acts)).item()


@pytest.mark.parametrize("backend", ["numba", "torch"])
def test_bad_inputs_raise_value_error(backend):
    """Illegal actions, bad priorities, wrong-size instances and bad arguments raise ValueError."""
    inst = tiny()
    env = env_for(inst, backend=backend)
    td = env.reset(instance=inst.to_tensordict())
    for bad in ([0, 1], [1, 4], [-1, 1]):  # depot stay while clients are feasible; out of range
        td["action"] = torch.tensor([bad])
        with pytest.raises(ValueError, match="masked|0..3"):
            env.step(td)
    seq = env_for(inst, PVRPSequentialEnv, backend=backend)
    td_seq = seq.reset(instance=inst.to_tensordict())
    td_seq["action"] = torch.tensor([0])
    with pytest.raises(ValueError, match="masked"):
        seq.step(td_seq)
    td["action"] = torch.tensor([[1, 2]])
    td["priority"] = torch.tensor([[float("nan"), 0.0]])
    with pytest.raises(ValueError, match="priority"):
        env.step(td)
    with pytest.raises(ValueError, match="N=3"):
        PVRPEnv(n_clients=4, n_vehicles=2).reset(instance=inst.to_tensordict())
    with pytest.raises(ValueError):
        PVRPEnv(n_clients=5, n_vehicles=2, variant="nope")
    with pytest.raises(ValueError):
        PVRPEnv(n_clients=0, n_vehicles=2)
    with pytest.raises(ValueError, match="backend"):
        PVRPEnv(n_clients=3, n_vehicles=2, backend="cuda-magic")


def test_same_seed_same_instances():
    """The generator adapter gives identical instances for the same seed, different for another."""
    env = PVRPEnv(n_clients=6, n_vehicles=2, variant="zc")
    a, b, c = env.generate(4, seed=1), env.generate(4, seed=1), env.generate(4, seed=2)
    assert all(torch.equal(a[k], b[k]) for k in a.keys())  # noqa: SIM118
    assert not torch.equal(a["locs"], c["locs"]) and "allowed" in a.keys()  # noqa: SIM118
    ref = generate(4, n_clients=6, n_vehicles=2, variant="zc", rng=np.random.default_rng(1))
    np.testing.assert_array_equal(a["allowed"].numpy(), ref.allowed)


def test_render_draws_each_trip_and_writes_png(tmp_path):
    """render draws one line per trip through the depot and the trip's clients, and a PNG."""
    inst = tiny()
    fig = render(inst, [[[1, 2]], [[3]]], path=tmp_path / "pvrp.png")
    lines = fig.axes[0].get_lines()
    assert [line.get_label() for line in lines] == ["vehicle 0", "vehicle 1"]
    np.testing.assert_array_equal(lines[0].get_xydata(), [[0, 0], [0.3, 0.4], [0.6, 0.8], [0, 0]])
    np.testing.assert_array_equal(lines[1].get_xydata(), [[0, 0], [0.0, 0.5], [0, 0]])
    assert (tmp_path / "pvrp.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    with pytest.raises(ValueError, match="outside 1..3"):
        render(inst, [[[1, 4]], [[3]]])


@pytest.mark.parametrize("cls", [PVRPEnv, PVRPSequentialEnv])
@pytest.mark.parametrize("variant", ["p", "zc"])
def test_numba_and_torch_backends_agree(cls, variant):
    """The fused numba kernel and the vectorized torch step give the same episode, step by step."""
    envs = [cls(n_clients=30, n_vehicles=4, variant=variant, capacity=[9, 12, 20, 40],
                speed=[1.0, 1.5, 0.5, 2.0], weights=Weights(minmax=variant == "zc"), backend=b)
            for b in ("numba", "torch")]
    inst = envs[0].generate(16, seed=5)
    gen = torch.Generator().manual_seed(5)
    tds = [e.reset(instance=inst.clone()) for e in envs]
    steps = 0
    while not tds[0]["done"].all():
        for key in tds[0].keys():  # noqa: SIM118
            assert torch.equal(tds[0][key], tds[1][key]), f"step {steps}: {key} differs"
        mask = tds[0]["action_mask"]
        a = torch.multinomial(mask.float().reshape(-1, mask.shape[-1]), 1, generator=gen)
        prio = torch.rand(16, 4, generator=gen) if cls is PVRPEnv else None
        outs = []
        for e, td in zip(envs, tds):
            td["action"] = a.reshape(mask.shape[:-1])
            if prio is not None:
                td["priority"] = prio
            outs.append(e.step(td)["next"])
        torch.testing.assert_close(outs[0]["reward"], outs[1]["reward"], rtol=1e-6, atol=1e-6)
        tds = [o.exclude("reward") for o in outs]
        steps += 1
    expected = {(PVRPEnv, "p"): 13, (PVRPEnv, "zc"): 13, (PVRPSequentialEnv, "p"): 44,
                (PVRPSequentialEnv, "zc"): 45}
    assert tds[1]["done"].all() and steps == expected[cls, variant]

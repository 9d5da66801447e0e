"""The PyVRP warm start of the single-agent models (AM, POMO, Ptr-Net) in the retire sequential
env: sequential expert logs, the teacher-forced NLL, a fit that reproduces the expert, the trainer
switch."""
from __future__ import annotations

import csv

import numpy as np
import pytest
import torch
from hydra import compose, initialize_config_module
from rich.console import Console

from heurist.agents.routing_task import expert_logs, imitation_loss
from heurist.envs.pvrp import PVRPInstances, PVRPSequentialEnv, Weights
from heurist.envs.pvrp.decode import decode_sequential
from heurist.envs.pvrp.oracle import check_routes

pytestmark = pytest.mark.usefixtures("one_thread")

W = Weights(0.9, 0.1)


def _env(n: int = 6) -> PVRPSequentialEnv:
    return PVRPSequentialEnv(n_clients=n, n_vehicles=2, capacity=15, weights=W, retire=True)


@pytest.fixture(scope="module")
def fixed():
    """6 fixed 6-client instances and PyVRP's sequential logs of them (some shorter: padded)."""
    env = _env()
    inst = env.generate(6, seed=3)
    teacher, obj = expert_logs(inst, weights=W, iterations=50, seed=0, sequential=True)
    return env, inst, teacher, obj


def test_sequential_expert_logs_replay_legally(fixed):
    """Same seed, same logs [B, T]; each replays legally in PVRPSequentialEnv(retire=True), decodes
    to routes whose check_routes objective is the env's, and the mean is the reported one."""
    env, inst, teacher, obj = fixed
    again, obj2 = expert_logs(inst, weights=W, iterations=50, seed=0, sequential=True)
    assert torch.equal(teacher, again) and obj == obj2
    assert teacher.dim() == 2 and teacher.dtype == torch.int64
    assert bool(env.check_solution(inst, teacher).all())
    env_obj = -env.evaluate(inst, teacher).numpy()
    assert float(env_obj.mean()) == pytest.approx(obj, abs=1e-9)
    many = PVRPInstances.from_tensordict(inst)
    lengths = set()
    for i in range(6):
        log = teacher[i].numpy()
        dec = decode_sequential(log, many.demand[i], many.capacity[i],
                                many.allowed_or_all()[i], retire=True)
        assert dec.finished and dec.illegal < 0
        assert check_routes(many[i], dec.routes, weights=W).objective == pytest.approx(
            env_obj[i], abs=1e-9)
        lengths.add(int(dec.steps))
    assert len(lengths) > 1  # padding with the depot after a done row is exercised


def test_loss_is_the_teacher_forced_nll(fixed):
    """imitation_loss equals minus the mean over instances of the summed log-softmax of the
    expert's actions, stepped by hand (a done row's padding adds log 1 = 0)."""
    from heurist.policies.nets.routing import AttentionModel

    env, inst, teacher, _ = fixed
    torch.manual_seed(0)
    net = AttentionModel(dim=16, n_heads=2, n_layers=1, ff_dim=32, norm="batch")
    with torch.no_grad():
        loss = float(imitation_loss(env, net, inst, teacher))
        td = env.reset(instance=inst)
        state = net.init(td)
        total = torch.zeros(6, dtype=torch.float64)
        t = 0
        while not bool(td["done"].all()):
            logits, state = net.step(td, state)
            a = teacher[:, t] if t < teacher.shape[1] else torch.zeros(6, dtype=torch.int64)
            total += logits.log_softmax(-1).gather(-1, a[:, None]).squeeze(-1).double()
            td["action"] = a
            td = env.step(td)["next"]
            t += 1
    assert loss > 0 and loss == pytest.approx(-float(total.mean()), rel=1e-5)


@pytest.mark.parametrize("name,seed", [("am", 3), ("pomo", 0), ("ptrnet", 0)])
def test_teacher_forcing_reproduces_the_expert(fixed, name, seed):
    """80 Adam steps of teacher forcing on the 6 fixed instances cut the NLL below 1 % of its
    start, and greedy decoding then replays the expert's log, routes and objective exactly."""
    from heurist.policies.decoding import rollout
    from heurist.policies.nets.routing import AttentionModel, POMO, PointerNetwork

    env, inst, teacher, _ = fixed
    torch.manual_seed(seed)  # a seed whose fit is tight (NLL ~0.1-0.3 % of its start)
    if name == "ptrnet":
        net = PointerNetwork(dim=32, clip=10.0)
    else:
        net = {"am": AttentionModel, "pomo": POMO}[name](dim=32, n_heads=4, n_layers=1,
                                                         ff_dim=64, norm="batch")
    opt = torch.optim.Adam(net.parameters(), lr=1e-2)
    losses = []
    for _ in range(80):
        loss = imitation_loss(env, net, inst, teacher)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(float(loss.detach()))
    assert losses[-1] < 0.01 * losses[0]
    with torch.no_grad():  # the batch statistics teacher forcing used (see test_routing_imitation)
        d = rollout(env, net.train(), inst)
    T = teacher.shape[1]
    assert torch.equal(d.actions[:, :T], teacher) and not d.actions[:, T:].any()
    expert = -env.evaluate(inst, teacher).numpy()
    np.testing.assert_allclose(d.objective.numpy(), expert, rtol=0, atol=1e-9)


def test_trainer_runs_the_imitation_phase_for_am(tmp_path):
    """experiment=routing_smoke agent=am env.retire=true trainer.imitation_iters=2: the first two
    iterations log loss/imitation and the expert's objective, the third is REINFORCE."""
    from heurist.agents.config_check import check_train_config
    from heurist.agents.trainer import train

    with initialize_config_module("heurist.configs", version_base="1.3"):
        cfg = compose("train", overrides=[
            "experiment=routing_smoke", f"trainer.run_dir={tmp_path}", "agent=am",
            "agent.dim=16", "agent.n_heads=2", "agent.n_layers=1", "agent.ff_dim=32",
            "env.retire=true", "trainer.imitation_iters=2", "trainer.reinforce_iters=1",
            "trainer.expert_iterations=20", "trainer.evaluate=false", "trainer.export=false"])
    check_train_config(cfg)
    train(cfg, console=Console(quiet=True))
    with open(tmp_path / "metrics.csv") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 3
    assert all(float(r["loss/imitation"]) > 0 and float(r["train/expert_objective"]) > 0
               for r in rows[:2])
    assert rows[2]["loss/imitation"] in ("", None) and float(rows[2]["loss/reinforce"]) != 0

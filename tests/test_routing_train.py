"""The env-agnostic trainer on the routing task: a smoke run through the Hydra configs (checkpoint,
bit-identical resume, held-out table, exported artifact), every agent and baseline for a few
iterations, REINFORCE reaching the brute-force optimum of a fixed tiny TSP, and the learned policy
as a ``heurist route`` method."""
from __future__ import annotations

import itertools
import json

import numpy as np
import pytest
import torch
from hydra import compose, initialize_config_module
from rich.console import Console

from heurist.agents.checkpoint import load_checkpoint
from heurist.agents.config_check import check_train_config
from heurist.agents.trainer import train


def _cfg(run_dir, *extra):
    with initialize_config_module("heurist.configs", version_base="1.3"):
        return compose("train", overrides=["experiment=routing_smoke",
                                           f"trainer.run_dir={run_dir}", *extra])


def _quiet():
    return Console(quiet=True)


pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def smoke_run(tmp_path_factory):
    run_dir = tmp_path_factory.mktemp("routing")
    torch.set_num_threads(1)
    return train(_cfg(run_dir), console=_quiet()), run_dir


def test_smoke_run_writes_everything_and_checks_every_solution(smoke_run):
    """4 iterations: checkpoint, 4 metric rows + the test row, the artifact, a results table in
    which every learned objective is the mean of check_routes objectives."""
    res, run_dir = smoke_run
    assert load_checkpoint(res["checkpoint"])["iteration"] == 4
    assert sorted(p.name for p in (run_dir / "policy").iterdir()) == ["manifest.json",
                                                                      "weights.safetensors"]
    rows = (run_dir / "metrics.csv").read_text().strip().splitlines()
    assert len(rows) == 1 + 4 + 1
    pngs = sorted(p.name for p in (run_dir / "solutions").iterdir())
    assert pngs == ["test_0_aug8.png", "test_1_aug8.png"]
    saved = json.loads((run_dir / "results.json").read_text())
    assert set(saved["test"]) == {"insertion", "nearest", "camp/greedy", "camp/aug8"}
    assert saved["test_seed"] == 20250901 and saved["test_size"] == 8
    # aug8 keeps the best of 8 copies, the identity copy included: never worse than greedy
    assert saved["test"]["camp/aug8"]["objective"] <= saved["test"]["camp/greedy"]["objective"]


def test_cpu_seconds_are_logged_beside_wall_seconds(smoke_run):
    """Every iteration row logs time/wall_s and time/cpu_s (non-decreasing, CPU > 0); results.json
    and the exported manifest carry the same train_cpu_seconds beside train_seconds."""
    import csv

    res, run_dir = smoke_run
    with (run_dir / "metrics.csv").open() as fh:
        rows = [r for r in csv.DictReader(fh) if r["time/cpu_s"]]
    assert [int(r["step"]) for r in rows] == [0, 1, 2, 3]
    for key in ("time/wall_s", "time/cpu_s"):
        vals = [float(r[key]) for r in rows]
        assert vals == sorted(vals) and vals[0] > 0, key
    # the last logged values precede the end of training
    assert float(rows[-1]["time/cpu_s"]) <= res["train_cpu_seconds"] <= res["total_cpu_seconds"]
    assert float(rows[-1]["time/wall_s"]) <= res["train_seconds"]
    saved = json.loads((run_dir / "results.json").read_text())
    manifest = json.loads((run_dir / "policy" / "manifest.json").read_text())
    assert saved["train_cpu_seconds"] == res["train_cpu_seconds"] > 0
    assert manifest["metrics"]["train_cpu_seconds"] == res["train_cpu_seconds"]


def test_cpu_seconds_count_finished_children():
    """cpu_seconds includes the CPU time of a waited-for child process (the PyVRP expert pool's
    workers), which time.process_time alone misses."""
    import subprocess
    import sys
    import time

    from heurist.agents.trainer import cpu_seconds

    c0, p0 = cpu_seconds(), time.process_time()
    subprocess.run([sys.executable, "-c",
                    ("import time\nt = time.process_time()\n"
                     "while time.process_time() - t < 0.5: pass")], check=True)
    assert cpu_seconds() - c0 >= 0.5
    assert time.process_time() - p0 < 0.5


def test_resume_is_bit_identical(smoke_run, tmp_path):
    """Stopping after 2 iterations and resuming gives the uninterrupted run's exact weights."""
    full = load_checkpoint(smoke_run[0]["checkpoint"])
    off = ["trainer.evaluate=false", "trainer.export=false"]
    part = train(_cfg(tmp_path, "trainer.stop_after=2", *off), console=_quiet())
    assert part["stopped_at"] == 2
    done = train(_cfg(tmp_path, "trainer.resume=true", *off), console=_quiet())
    resumed = load_checkpoint(done["checkpoint"])
    assert resumed["iteration"] == 4
    assert all(torch.equal(full["net"][k], resumed["net"][k]) for k in full["net"])


def test_max_seconds_stops_the_loop_then_evaluates_and_exports(tmp_path):
    """trainer.max_seconds (a training budget, unlike stop_after): past it the loop stops after
    the current iteration, checkpoints, and the run still evaluates and exports."""
    res = train(_cfg(tmp_path, "trainer.max_seconds=1e-9"), console=_quiet())
    assert (res["iterations"], res["planned_iterations"], res["max_seconds"]) == (1, 4, 1e-9)
    assert load_checkpoint(res["checkpoint"])["iteration"] == 1
    assert (tmp_path / "policy" / "manifest.json").is_file()
    assert set(res["test"]) == {"insertion", "nearest", "camp/greedy", "camp/aug8"}


def test_init_from_starts_from_exactly_the_artifact_weights(smoke_run, tmp_path):
    """trainer.init_from: with 0 iterations the exported weights are the artifact's bit for bit
    (not the seed's fresh init); an artifact of another network config is refused."""
    from safetensors.torch import load_file

    art = smoke_run[1] / "policy"
    off = ["trainer.reinforce_iters=0", "trainer.evaluate=false", "trainer.seed=7"]
    train(_cfg(tmp_path / "a", f"trainer.init_from={art}", *off), console=_quiet())
    want = load_file(art / "weights.safetensors")
    got = load_file(tmp_path / "a" / "policy" / "weights.safetensors")
    assert sorted(got) == sorted(want) and all(torch.equal(got[k], want[k]) for k in want)
    fresh = load_file(train(_cfg(tmp_path / "b", *off), console=_quiet())["exported"]
                      + "/weights.safetensors")
    assert not all(torch.equal(fresh[k], want[k]) for k in want)
    with pytest.raises(ValueError, match="the config builds CAMP"):
        train(_cfg(tmp_path / "c", f"trainer.init_from={art}", "agent.dim=32", *off),
              console=_quiet())
    with pytest.raises(ValueError, match="not a policy artifact folder"):
        check_train_config(_cfg(tmp_path / "d", f"trainer.init_from={tmp_path}"))


def test_lr_final_is_a_cosine_over_the_reinforce_iterations():
    """agent.lr_final: agent.lr through the imitation iterations, then a cosine from agent.lr
    (first REINFORCE iteration) to agent.lr_final (last); unset, agent.lr throughout."""
    from heurist.agents.routing_task import RoutingTask

    over = ["env.retire=true", "trainer.imitation_iters=2", "trainer.reinforce_iters=5"]
    task = RoutingTask(_cfg(None, *over, "agent.lr_final=0.0001"), console=_quiet())
    assert [round(task.lr(it), 9) for it in range(7)] == [0.001, 0.001, 0.001, 0.000868198,
                                                          0.00055, 0.000231802, 0.0001]
    flat = RoutingTask(_cfg(None, *over), console=_quiet())
    assert {flat.lr(it) for it in range(7)} == {0.001}


@pytest.mark.parametrize("agent,baseline", [("am", "rollout"), ("pomo", "shared"),
                                            ("symnco", "shared"), ("ptrnet", "critic"),
                                            ("camp", "critic"), ("camp", "rollout")])
def test_every_agent_and_baseline_trains(tmp_path, agent, baseline):
    """Two iterations of each agent with its baseline; a stateful baseline (rollout, critic) is
    checkpointed and a resumed run continues from it bit for bit."""
    extra = [f"agent={agent}", f"agent.baseline={baseline}", "agent.dim=16", "agent.n_heads=2",
             "trainer.reinforce_iters=2", "trainer.baseline_every=1", "trainer.evaluate=false",
             "trainer.export=false"]
    if agent != "ptrnet":
        extra += ["agent.n_layers=1", "agent.ff_dim=32"]
    cfg = _cfg(tmp_path / "a", *extra)
    check_train_config(cfg)
    res = train(cfg, console=_quiet())
    ckpt = load_checkpoint(res["checkpoint"])
    assert ckpt["iteration"] == 2
    assert ("task" in ckpt) == (baseline != "shared")
    if baseline == "shared":  # stateless: the smoke run's resume test covers it
        return
    train(_cfg(tmp_path / "b", *extra, "trainer.stop_after=1"), console=_quiet())
    again = load_checkpoint(train(_cfg(tmp_path / "b", *extra, "trainer.resume=true"),
                                  console=_quiet())["checkpoint"])
    assert all(torch.equal(ckpt["net"][k], again["net"][k]) for k in ckpt["net"])


def test_reinforce_reaches_the_brute_force_optimum_of_a_tiny_tsp():
    """REINFORCE with the shared baseline on one fixed 5-client TSP: the greedy tour after 40
    iterations is the optimum over all 5! tours."""
    from heurist.agents.baselines import SharedBaseline, policy_loss
    from heurist.envs.pvrp import PVRPSequentialEnv, Weights, generate
    from heurist.policies.decoding import rollout, run_episode, sampler
    from heurist.policies.nets.routing import AttentionModel

    inst = generate(1, n_clients=5, n_vehicles=1, capacity=1000, rng=3)
    xy = inst.coords(0)
    best = min(sum(np.linalg.norm(xy[a] - xy[b]) for a, b in zip((0, *p), (*p, 0)))
               for p in itertools.permutations(range(1, 6)))
    env = PVRPSequentialEnv(n_clients=5, n_vehicles=1, capacity=1000,
                            weights=Weights(w_time=1.0, w_pref=0.0))
    td = inst.to_tensordict()
    torch.manual_seed(0)
    net = AttentionModel(dim=32, n_heads=4, n_layers=1, ff_dim=64, norm="instance")
    opt = torch.optim.Adam(net.parameters(), lr=3e-3)
    gen = torch.Generator().manual_seed(0)
    first = None
    for _ in range(40):
        traj = run_episode(env, net, torch.cat([td] * 16, 0), select=sampler(gen))
        ret = traj.reward.float().view(16, 1).T
        loss = policy_loss(SharedBaseline().advantage(ret, None, td, env), traj.logp.view(16, 1).T)
        first = float(-ret.mean()) if first is None else first
        opt.zero_grad()
        loss.backward()
        opt.step()
    d = rollout(env, net.eval(), td)
    assert float(d.objective[0]) == pytest.approx(best, abs=1e-5)
    assert first > best + 0.05  # the untrained sampler was clearly worse


def test_learned_policy_as_a_route_method(smoke_run, tmp_path, capsys):
    """heurist route --method policy:FOLDER writes routes that pass check_routes with the written
    objective = evaluate_routes; aug8 is never worse than greedy on any instance."""
    from heurist.cli import main
    from heurist.envs.pvrp import Weights, generate, save_npz
    from heurist.policies.pvrp import check_routes, evaluate_routes

    inst = generate(3, n_clients=6, n_vehicles=2, capacity=15, rng=11)
    src = save_npz(tmp_path / "in.npz", inst)
    objs = {}
    for decode in ("greedy", "aug8"):
        out = tmp_path / f"{decode}.json"
        assert main(["route", str(src), "--method", f"policy:{smoke_run[1] / 'policy'}",
                     "--decode", decode, "--out", str(out), "--quiet"]) == 0
        data = json.loads(out.read_text())
        for r in data["instances"]:
            assert check_routes(inst[r["index"]], r["routes"], weights=Weights()).ok
            assert r["objective"] == pytest.approx(evaluate_routes(inst[r["index"]], r["routes"]),
                                                   abs=1e-12)
        objs[decode] = [r["objective"] for r in data["instances"]]
    assert all(a <= g + 1e-9 for a, g in zip(objs["aug8"], objs["greedy"]))


def test_learned_policy_refusals_exit_2_with_one_line(smoke_run, tmp_path, capsys):
    """ZC instances for a P policy, an unknown policy name and a bad --decode: exit 2, one line,
    no output file."""
    from heurist.cli import main
    from heurist.envs.pvrp import generate, save_npz

    zc = save_npz(tmp_path / "zc.npz", generate(2, n_clients=6, n_vehicles=2, variant="zc",
                                                capacity=15, rng=1))
    out = tmp_path / "o.json"
    policy = f"policy:{smoke_run[1] / 'policy'}"
    cases = [([str(zc), "--method", policy], "trained on PVRP-P"),
             ([str(zc), "--method", "policy:no-such-policy"], "no-such-policy"),
             ([str(zc), "--method", policy, "--decode", "sample:0"], "sample:N"),
             ([str(zc), "--method", "nearest", "--decode", "aug8"], "only for learned")]
    for argv, message in cases:
        capsys.readouterr()
        assert main(["route", *argv, "--out", str(out), "--quiet"]) == 2
        err = capsys.readouterr().err.strip()
        assert message in err and len(err.splitlines()) == 1, err
        assert not out.exists()


def test_every_routing_experiment_composes_and_passes_the_checks():
    """Each routing experiment composes and passes check_train_config (the budget in it too)."""
    names = ["camp_pvrp_p_n20_m3", "camp_pvrp_p_n20_m3_pyvrp", "camp_pvrp_p_n20_m3_pyvrp_long",
             "camp_pvrp_p_n20_m3_pyvrp_finetune", "camp_pvrp_zc_n20_m3",
             "camp_pvrp_zc_n20_m3_pyvrp", "am_pvrp_p_n20_m3", "pomo_pvrp_p_n20_m3", "am_tsp20",
             "am_cvrp20", "pomo_cvrp20", "routing_smoke"]
    with initialize_config_module("heurist.configs", version_base="1.3"):
        for name in names:
            cfg = compose("train", overrides=[f"experiment={name}"])
            check_train_config(cfg)
            assert cfg.env.kind == "routing", name
        for agent, env in zip(("camp", "am", "pomo", "symnco", "ptrnet"),
                              ("pvrp_zc", "tsp", "cvrp", "pvrp_p", "pvrp_zc")):
            check_train_config(compose("train", overrides=[f"env={env}", f"agent={agent}",
                                                           "trainer=routing"]))


def test_shipped_policies_are_listed_and_solve(tmp_path, capsys):
    """--list-policies names the shipped routing artifacts (and no other env's); the shipped AM
    policy solves through its name, every route passing check_routes."""
    from heurist.cli import main
    from heurist.envs.pvrp import Weights, generate, save_npz
    from heurist.policies.pvrp import check_routes
    from heurist.policies.pvrp.learned import shipped_policies

    names = set(shipped_policies())
    assert "am-pvrp-p" in names and not names & {"kv_scorer", "paging_slot_attention"}
    assert main(["route", "--list-policies"]) == 0
    listed = capsys.readouterr().out.strip().splitlines()
    assert sorted(line.split(":")[0] for line in listed) == sorted(names)
    inst = generate(2, n_clients=8, n_vehicles=3, rng=7)
    src, out = save_npz(tmp_path / "in.npz", inst), tmp_path / "r.json"
    assert main(["route", str(src), "--method", "policy:am-pvrp-p", "--out", str(out),
                 "--quiet"]) == 0
    for r in json.loads(out.read_text())["instances"]:
        assert check_routes(inst[r["index"]], r["routes"], weights=Weights()).ok
    assert {"camp-pvrp-p", "camp-pvrp-zc"} <= names
    # the shipped CAMP was trained with retiring vehicles: it decodes in that env, checked too
    assert main(["route", str(src), "--method", "policy:camp-pvrp-p", "--decode", "aug8",
                 "--out", str(out), "--quiet"]) == 0
    for r in json.loads(out.read_text())["instances"]:
        assert check_routes(inst[r["index"]], r["routes"], weights=Weights()).ok
    assert main(["route", str(src), "--method", "policy:camp-pvrp-zc", "--out",
                 str(tmp_path / "zc.json"), "--quiet"]) == 2  # a ZC policy on P instances
    assert "trained on PVRP-ZC" in capsys.readouterr().err


def test_movers_only_drops_exactly_the_conflict_losers():
    """Same seed, same actions: rows without a conflict keep the same summed logp; rows with one
    gain exactly the dropped (negative) loser terms, so their logp rises."""
    from heurist.envs.pvrp import PVRPEnv
    from heurist.policies.decoding import run_episode, sampler
    from heurist.policies.nets.routing import CAMP

    env = PVRPEnv(n_clients=6, n_vehicles=3, capacity=15)
    inst = env.generate(16, seed=2)
    torch.manual_seed(0)
    net = CAMP(dim=16, n_heads=2, n_layers=1, ff_dim=32, norm="batch").eval()
    with torch.no_grad():
        runs = [run_episode(env, net, inst, select=sampler(torch.Generator().manual_seed(1)),
                            movers_only=m) for m in (False, True)]
    assert torch.equal(runs[0].actions, runs[1].actions)
    a = runs[0].actions  # [B, T, M]
    clients = torch.where(a > 0, a, -torch.arange(1, 4).view(1, 1, 3))  # depot moves never clash
    clash = (clients.unsqueeze(-1) == clients.unsqueeze(-2)).sum((-1, -2)) > 3  # [B, T]
    has = clash.any(1)
    assert has.any() and (~has).any()
    assert torch.equal(runs[0].logp[~has], runs[1].logp[~has])
    assert bool((runs[1].logp[has] > runs[0].logp[has]).all())


def test_single_agent_trains_and_routes_in_the_retire_env(tmp_path):
    """AM with env.retire=true trains on the retiring sequential env; its artifact decodes in
    that env again (retire read from the manifest) and every route passes check_routes."""
    from heurist.envs.pvrp import Weights, generate
    from heurist.policies.pvrp import check_routes
    from heurist.policies.pvrp.learned import load_learned

    extra = ["agent=am", "env.retire=true", "agent.dim=16", "agent.n_heads=2", "agent.n_layers=1",
             "agent.ff_dim=32", "trainer.reinforce_iters=2", "trainer.evaluate=false"]
    res = train(_cfg(tmp_path / "am", *extra), console=_quiet())
    policy = load_learned(str(tmp_path / "am" / "policy"))
    assert (policy.env_name, policy.retire) == ("PVRPSequential", True)
    inst = generate(3, n_clients=6, n_vehicles=2, capacity=15, rng=11)
    records = policy.solve(inst, decode="aug8")
    for i, rec in enumerate(records):
        got = check_routes(inst[i], rec.routes, weights=Weights())
        assert got.ok and got.objective == pytest.approx(rec.objective, abs=1e-9)
    assert load_checkpoint(res["checkpoint"])["iteration"] == 2

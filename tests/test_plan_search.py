"""``heurist plan --method search`` and ``plan_packing``: the search library as a planner (issue 10,
section 5), the tiny packing game with a known optimum, and the mallocMuZero Hydra configs."""
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from brute_force import brute_min_peak
from hydra import compose, initialize_config_module
from omegaconf import OmegaConf, open_dict

from heurist import policies
from heurist.agents.muzero import LearnedModel, MuZeroConfig, MuZeroTrainer, plan_mapping
from heurist.agents.muzero.packing import plan_packing
from heurist.cli import main
from heurist.envs.malloc.env import MallocEnv
from heurist.envs.malloc.generator import pad_instances
from heurist.envs.malloc.minimalloc_csv import read_csv, write_csv
from heurist.envs.malloc.synthetic import random_instance
from heurist.policies.export import export_artifact
from heurist.policies.malloc import check_plan

# A 5-buffer packing game (MiniMalloc CSV) where the env's greedy episode (start order, lowest
# offset) peaks at 14 and the optimum is 12 = peak live bytes (zero slack at capacity 12).
TINY_CSV = "id,lower,upper,size\nb0,0,3,4\nb1,2,4,5\nb2,1,4,1\nb3,3,7,2\nb4,3,6,4\n"
TINY_OPT, TINY_GREEDY, TINY_SUM = 12, 14, 16
SLOT_ARTIFACT = Path(policies.__file__).parent / "artifacts" / "paging_slot_attention"


@pytest.fixture
def tiny(tmp_path):
    path = tmp_path / "tiny.12.csv"
    path.write_text(TINY_CSV)
    return path


def plan(capsys, *argv):
    rc = main(["plan", *map(str, argv)])
    out, err = capsys.readouterr()
    return rc, out, err


def test_tiny_game_optimum_and_greedy(tiny):
    """Brute force over every order gives 12; the env's greedy episode peaks at 14."""
    inst, _ = read_csv(tiny)
    assert brute_min_peak(inst.size.tolist(), inst.start.tolist(), inst.end.tolist()) == TINY_OPT
    env = MallocEnv(mode="packing", k=8)
    env.greedy_episode(pad_instances([inst.with_capacity(TINY_SUM)]))
    assert int((env.plans()[0] + inst.size).max()) == TINY_GREEDY


@pytest.mark.parametrize("value,sims,peak", [
    ("zero", 8, TINY_GREEDY),   # uniform prior, zero value, too few simulations: still greedy
    ("zero", 16, TINY_OPT),     # untrained search with enough simulations finds the optimum
    ("rollout", 2, TINY_OPT),   # greedy-rollout leaf values: two simulations suffice
])
def test_search_finds_the_packing_optimum(tiny, value, sims, peak):
    """With enough simulations search reaches the brute-force optimum (relaxed capacity)."""
    inst, _ = read_csv(tiny)
    res, ep = plan_packing([inst.with_capacity(TINY_SUM)], num_simulations=sims, value=value)
    assert res[0].peak == peak and res[0].feasible and not res[0].relaxed
    assert ep.returns[0] == pytest.approx(-peak / TINY_SUM, abs=1e-6)
    assert check_plan(inst.with_capacity(peak), res[0].plan, mode="packing").valid


def test_packing_at_zero_slack_and_below(tiny):
    """Capacity 12 (zero slack) packs; at 11 the relaxed re-search plans, infeasibly."""
    inst, _ = read_csv(tiny)
    res, _ = plan_packing([inst, inst.with_capacity(11)], num_simulations=4)
    assert [(r.peak, r.feasible, r.relaxed) for r in res] == [(12, True, False), (12, False, True)]
    assert res[0].plan.tolist() == [0, 5, 4, 10, 0]
    assert (res[1].plan >= 0).all()


def test_cli_packing_json(tiny, tmp_path, capsys):
    """The CLI's packing JSON: the usual keys plus simulations/model/relaxed; the CSV is the plan."""
    out_csv = tmp_path / "p.csv"
    rc, out, _ = plan(capsys, tiny, "--method", "search", "--out", out_csv, "--json")
    r = json.loads(out)
    assert rc == 0
    assert (r["peak"], r["capacity"], r["feasible"], r["status"]) == (12, 12, True, "packed")
    assert (r["simulations"], r["model"], r["policy"], r["relaxed"]) == (16, "true_simulator",
                                                                          None, False)
    assert r["order"] == "size"  # the CLI's packing default (plan_packing's is start)
    inst, offsets = read_csv(out_csv, capacity=12)
    assert offsets.tolist() == [5, 0, 11, 9, 5] and check_plan(inst, offsets, mode="packing").valid
    rc, out, err = plan(capsys, tiny, "--method", "search", "--capacity", "11", "--out",
                        tmp_path / "q.csv", "--json", "--simulations", "4")
    r = json.loads(out)
    assert rc == 1 and "no plan fits" in err
    assert (r["peak"], r["feasible"], r["status"], r["relaxed"]) == (12, False, "infeasible", True)


def _mapping_csv(tmp_path):
    path = tmp_path / "m.csv"
    inst = random_instance(20, seed=3, capacity_fraction=0.3)
    write_csv(path, inst)
    return path, inst.capacity


def test_cli_mapping_speedup_equals_plan_mapping(tmp_path, capsys):
    """The CLI's mapping JSON speedup and written plan equal plan_mapping's on the same CSV."""
    path, cap = _mapping_csv(tmp_path)
    rc, out, _ = plan(capsys, path, "--capacity", cap, "--mode", "mapping", "--method", "search",
                      "--simulations", "4", "--seed", "1", "--out", tmp_path / "o.csv", "--json")
    r = json.loads(out)
    inst, _ = read_csv(path, capacity=cap)
    res, ep = plan_mapping([inst], num_simulations=4, seed=1, order="msa")  # the CLI's default
    assert rc == 0 and r["speedup"] == res[0].speedup and r["env_steps"] == ep.env_steps
    assert r["order"] == "msa"
    assert r["feasible"] is True and r["simulations"] == 4 and r["model"] == "true_simulator"
    assert read_csv(tmp_path / "o.csv", capacity=cap)[1].tolist() == res[0].plan.tolist()


def test_cli_policy_plans_with_the_learned_model(tmp_path, capsys):
    """--policy DIR plans as plan_mapping with that MuZeroNet's LearnedModel, K and order."""
    torch.manual_seed(0)
    trainer = MuZeroTrainer(MuZeroConfig(k=4, order="size", latent=8, hidden=16))
    art = export_artifact(trainer.net, tmp_path / "mz",
                          training={"config": {"k": 4, "order": "size"}})
    path, cap = _mapping_csv(tmp_path)
    rc, out, _ = plan(capsys, path, "--capacity", cap, "--mode", "mapping", "--method", "search",
                      "--policy", art, "--simulations", "4", "--out", tmp_path / "o.csv", "--json")
    r = json.loads(out)
    inst, _ = read_csv(path, capacity=cap)
    res, _ = plan_mapping([inst], num_simulations=4, k=4, order="size",
                          model=LearnedModel(trainer.net))
    assert rc == 0 and r["model"] == "learned" and r["policy"] == str(art)
    assert r["speedup"] == res[0].speedup and r["env_steps"] == 0


@pytest.mark.parametrize("extra,message", [
    (["--simulations", "0"], "--simulations must be >= 1, got 0"),
    (["--policy", "{tmp}/nope", "--mode", "mapping"], "no such artifact folder"),
    (["--policy", "{tmp}", "--mode", "packing"], "--policy plans mapping mode only"),
    (["--policy", "{tmp}", "--mode", "mapping"], "manifest"),  # a folder that is no artifact
    (["--policy", str(SLOT_ARTIFACT), "--mode", "mapping"],
     "a SlotAttentionPolicy artifact; --method search needs a MuZeroNet"),
    (["--method", "msa", "--simulations", "4"], "--simulations needs --method search"),
    (["--method", "msa", "--policy", "{tmp}"], "--policy needs --method search"),
])
def test_bad_input_exits_2_and_leaves_out_alone(tiny, tmp_path, capsys, extra, message):
    """Bad search flags: exit 2, one line naming the problem, an existing --out untouched."""
    out_csv = tmp_path / "keep.csv"
    out_csv.write_text("old\n")
    argv = [tiny, "--out", out_csv, *(a.replace("{tmp}", str(tmp_path)) for a in extra)]
    if "--method" not in extra:
        argv += ["--method", "search"]
    rc, out, err = plan(capsys, *argv)
    assert rc == 2 and out == "" and len(err.splitlines()) == 1, err
    assert message in err and err.startswith("heurist plan: error: ")
    assert out_csv.read_text() == "old\n"


def test_plan_parser_imports_no_torch():
    """Building ``heurist plan``'s parser imports neither torch nor the agents."""
    code = ("from heurist.cli import build_parser; build_parser('plan').format_help()\n"
            "import sys; print(' '.join(sys.modules))")
    loaded = set(subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                                check=True).stdout.split())
    assert sorted(m for m in ("torch", "heurist.agents") if m in loaded) == []


AGENTS = {"gumbel_muzero": ("gumbel", "learned"), "muzero": ("puct", "learned"),
          "alphazero": ("gumbel", "true_simulator")}


@pytest.mark.parametrize("overrides,name", [
    (["agent=gumbel_muzero"], "gumbel_muzero"), (["agent=muzero"], "muzero"),
    (["agent=alphazero"], "alphazero"), (["experiment=muzero_malloc_mapping"], "gumbel_muzero"),
])
def test_configs_build_the_trainer_and_plan(overrides, name):
    """agent.config builds MuZeroTrainer (no training); agent.search drives plan_mapping."""
    with initialize_config_module("heurist.configs", version_base="1.3"):
        cfg = compose("train", overrides=overrides)
    agent = cfg.agent
    assert agent.name == name and (agent.search.policy, agent.search.model) == AGENTS[name]
    kwargs = OmegaConf.to_container(agent.config)
    trainer = MuZeroTrainer(MuZeroConfig(**kwargs))
    assert trainer.net.n_actions == kwargs["k"] + 1 and trainer.iteration == 0
    assert (kwargs["k"], kwargs["order"], kwargs["n_min"], kwargs["n_max"]) == (8, "msa", 30, 60)
    s = agent.search
    learned = s.model == "learned"
    res, ep = plan_mapping([random_instance(6, seed=20, capacity_fraction=0.3)],
                           num_simulations=2, k=kwargs["k"], order=kwargs["order"],
                           policy=s.policy, value=s.value,
                           model=LearnedModel(trainer.net) if learned else None)
    assert res[0].speedup >= 1.0 and (ep.env_steps == 0) == learned
    assert np.isfinite(res[0].saved)


def test_train_py_routes_muzero_agents_to_their_own_check():
    """scripts/train.py's check (check_train_config) sends experiment=muzero_malloc_mapping to
    check_muzero_config: the shipped experiment passes, a bad search value is refused in one line."""
    from script_module import load_script

    from heurist.agents.config_check import check_train_config

    script = load_script("train")
    with initialize_config_module("heurist.configs", version_base="1.3"):
        cfg = compose("train", overrides=["experiment=muzero_malloc_mapping"])
    script.check(cfg)
    check_train_config(cfg)
    with open_dict(cfg):
        cfg.agent.config.k = 0
    with pytest.raises(ValueError, match=r"^agent\.config\.k=0: must be an integer >= 1$"):
        script.check(cfg)

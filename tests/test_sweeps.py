"""Hydra multirun sweeps: the shipped launcher configs compose, and a joblib sweep of the smoke
experiment runs each member as its own wandb run in one group, with a failed member named in the
summary instead of ending the sweep (heurist.agents.sweep)."""
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from hydra import compose, initialize_config_module

from heurist.agents.config_check import check_train_config
from heurist.agents.overrides import check_command_line
from heurist.agents.sweep import SweepCallback

ROOT = Path(__file__).resolve().parents[1]
JOBLIB = "hydra_plugins.hydra_joblib_launcher.joblib_launcher.JoblibLauncher"
SLURM = "hydra_plugins.hydra_submitit_launcher.submitit_launcher.SlurmLauncher"


@pytest.mark.parametrize("overrides,target", [
    (["hydra/launcher=local"], JOBLIB),
    (["hydra/launcher=slurm"], SLURM),
    (["hydra/launcher=joblib", "hydra/callbacks=sweep"], JOBLIB),
    (["hydra/launcher=submitit_slurm", "hydra/callbacks=sweep"], SLURM),
    (["hydra/callbacks=sweep"], "hydra._internal.core_plugins.basic_launcher.BasicLauncher"),
])
def test_sweep_configs_compose(overrides, target):
    """Each sweep launcher config composes with the routing and paging smoke runs and enables
    the sweep callback."""
    for experiment in ("smoke", "routing_smoke"):
        with initialize_config_module("heurist.configs", version_base="1.3"):
            cfg = compose("train", overrides=[*overrides, f"experiment={experiment}"],
                          return_hydra_config=True)
        assert cfg.hydra.launcher._target_ == target
        assert cfg.hydra.callbacks.sweep._target_ == "heurist.agents.sweep.SweepCallback"
        assert cfg.hydra.callbacks.sweep.tolerate_failures is True
    if "hydra/launcher=local" in overrides:
        assert cfg.hydra.launcher.n_jobs == 2


def test_sweep_command_lines_pass_the_train_checks():
    """train.py's pre-check accepts the documented sweep command lines (every member checked)."""
    for launcher in ("local", "slurm"):
        check_command_line("train", ["-m", f"hydra/launcher={launcher}", "experiment=smoke",
                                     "agent.lr=1e-4,3e-4", "trainer.seed=0,1,2"],
                           check_train_config)
    with pytest.raises(ValueError, match="hydra/launcher"):
        check_command_line("train", ["-m", "hydra/launcher=nope", "trainer.seed=0,1"])
    with pytest.raises(ValueError, match="group"):
        SweepCallback(group=" ")


def test_joblib_sweep_groups_members_and_names_the_failed_one(tmp_path):
    """4 members (2 seeds x a good and an unwritable run folder) in 2 processes: the 2 good ones
    train, each a wandb offline run in the sweep's group; the 2 failed ones are named; exit 1."""
    sweep_dir = tmp_path / "sweep"
    env = {**os.environ, "WANDB_MODE": "offline", "WANDB_SILENT": "true"}
    proc = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "train.py"), "-m", "hydra/launcher=local",
         "experiment=smoke", "logger.kind=wandb", "trainer.seed=0,1",
         "trainer.run_dir=null,/dev/null/x", f"hydra.sweep.dir={sweep_dir}"],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120, check=False)
    assert proc.returncode == 1, proc.stderr[-2000:]
    summary = json.loads((sweep_dir / "sweep_summary.json").read_text())
    assert summary["members"] == 4 and summary["completed"] == 2
    assert summary["wandb_groups"] == [f"train-{tmp_path.name}_sweep"]
    failed = {m["name"]: m["error"] for m in summary["failed"]}
    assert sorted(failed) == [f"experiment=smoke,logger.kind=wandb,trainer.seed={s},"
                              f"trainer.run_dir=/dev/null/x" for s in (0, 1)]
    assert all(e.startswith("NotADirectoryError") for e in failed.values())
    for name in failed:
        assert "FAILED" in proc.stderr and name in proc.stderr
    good = [r for r in summary["runs"] if r["status"] == "completed"]
    assert [r["name"].split(",")[2] for r in good] == ["trainer.seed=0", "trainer.seed=1"]
    run_ids = set()
    for run in good:
        out = Path(run["output_dir"])
        assert json.loads((out / "results.json").read_text())["iterations"] == 4
        (record,) = out.glob("wandb/offline-run-*/run-*.wandb")
        data = record.read_bytes()
        assert summary["wandb_groups"][0].encode() in data and b"sweep-member" in data
        assert run["name"].encode() in data  # the member's run name
        run_ids.add(record.stem)
    assert len(run_ids) == 2  # two runs, not one resumed twice


def test_sweep_names_members_that_a_single_run_would_exit_from(tmp_path):
    """2 x 2 members (good or broken trace folder x require_beats_lru) in 2 processes: the
    broken folder's members (exit 2 as a single run) and the untrained policy that loses to LRU
    (exit 1) raise MemberFailed instead of ending the sweep; the good member completes and the
    summary names the 3 others with their exit statuses."""
    from heurist.envs.common.data import data_dir

    shipped = data_dir("paging/brightkite")
    good, bad = tmp_path / "good", tmp_path / "bad"
    for folder in (good, bad):
        folder.mkdir()
        for name in ("bk0.txt", "bk6612.txt", "bk6736.txt", "bk6737.txt"):
            (folder / name).write_text((shipped / name).read_text())
    (bad / "zz.txt").write_text("")  # held out: found only when training loads the split
    sweep_dir = tmp_path / "sweep"
    proc = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "train.py"), "-m", "hydra/launcher=local",
         "experiment=smoke", "trainer.imitation_iters=0", "trainer.reinforce_iters=0",
         "trainer.evaluate=true", "trainer.export=false", "env.n_train=1",
         f"env.data_dir={good},{bad}", "trainer.require_beats_lru=false,true",
         f"hydra.sweep.dir={sweep_dir}"],
        cwd=tmp_path, capture_output=True, text=True, timeout=300, check=False)
    assert proc.returncode == 1, proc.stderr[-2000:]
    summary = json.loads((sweep_dir / "sweep_summary.json").read_text())
    assert summary["members"] == 4 and summary["completed"] == 1
    assert [r["status"] for r in summary["runs"]] == ["completed", "failed", "failed", "failed"]
    failed = {m["num"]: (m["exit_status"], m["error"]) for m in summary["failed"]}
    assert sorted(failed) == [1, 2, 3]
    assert failed[1] == (1, ("MemberFailed: train.py: the learned policy did not beat LRU "
                             "(exit 1)"))
    for num in (2, 3):
        assert failed[num] == (2, (f"MemberFailed: train.py: error: {bad / 'zz.txt'}: empty trace "
                                   "(no requests) (exit 2)"))
    names = {m["num"]: m["name"] for m in summary["failed"]}
    assert names[3].endswith(f"env.data_dir={bad},trainer.require_beats_lru=True")
    for num, name in names.items():
        assert f"sweep: FAILED #{num} {name}: MemberFailed" in proc.stderr
    misses = json.loads((sweep_dir / "1" / "results.json").read_text())["misses"]
    assert misses["Learned"] > misses["LRU"]  # why member 1 failed

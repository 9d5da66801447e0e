"""scripts/train.py and scripts/evaluate.py on bad input: exit 2, one line on stderr naming the
override and what is valid, no Hydra block or traceback, and no run folder left behind; exit 1
stays "did not beat LRU"."""
import json
import subprocess
import sys
from pathlib import Path

import pytest

from heurist.agents.config_check import check_evaluate_config, check_train_config
from heurist.agents.entry import discard_unused_run_dir
from heurist.agents.overrides import check_command_line
from heurist.envs.common.data import data_dir

# the experiment options the error lists: every packaged configs/experiment/*.yaml, sorted
EXPERIMENTS = ", ".join(sorted(p.stem for p in (Path(__file__).resolve().parents[1] / "configs"
                                                 / "experiment").glob("*.yaml")))

ROOT = Path(__file__).resolve().parents[1]
TRAINER_KEYS = ("seed, imitation_iters, imitation_batch, imitation_epochs, minibatch, "
                "reinforce_iters, reinforce_batch, n_samples, chunk, max_grad_norm, ckpt_every, "
                "resume, stop_after, run_dir, threads, evaluate, export, require_beats_lru")


def _script(name, *args, cwd):
    return subprocess.run([sys.executable, str(ROOT / "scripts" / name), *args], cwd=cwd,
                          check=False, capture_output=True, text=True, timeout=300)


TRAIN_CASES = [
    (["experiment=smok"],
     f"unknown experiment 'smok' in experiment=smok; valid: {EXPERIMENTS}"),
    (["logger=tensorboard"],
     "unknown logger 'tensorboard' in logger=tensorboard; valid: csv, wandb"),
    (["--cfg", "job", "experiment=smok"],
     f"unknown experiment 'smok' in experiment=smok; valid: {EXPERIMENTS}"),
    (["-m", "experiment=smoke,smok"],
     f"unknown experiment 'smok' in experiment=smoke,smok; valid: {EXPERIMENTS}"),
    (["experiment=smoke,noisy20"], "experiment=smoke,noisy20: a sweep needs --multirun (-m)"),
    (["trainer.epochs=3"], (f"unknown key 'epochs' under trainer in trainer.epochs=3; valid: "
                           f"{TRAINER_KEYS}")),
    (["+trainer.epochs=3"], (f"unknown key 'epochs' under trainer in +trainer.epochs=3; valid: "
                            f"{TRAINER_KEYS}")),
    (["seed=1"], ("unknown key 'seed' at the top level in seed=1; valid: env, agent, logger, "
                 "trainer")),
    (["--epochs"], ("unknown option --epochs; settings are Hydra overrides key=value "
                   "(e.g. trainer.seed=1), see --help")),
    (["trainer.seed=="], ("cannot parse override 'trainer.seed=='; expected key=value "
                         "(e.g. trainer.seed=1 or experiment=smoke)")),
    (["trainer.reinforce_iters=-1"], "trainer.reinforce_iters=-1: must be an integer >= 0"),
    (["trainer.imitation_iters=-3"], "trainer.imitation_iters=-3: must be an integer >= 0"),
    (["trainer.imitation_iters=2.5"], "trainer.imitation_iters=2.5: must be an integer >= 0"),
    (["trainer.imitation_batch=0"], "trainer.imitation_batch=0: must be an integer >= 1"),
    (["trainer.reinforce_batch=-2"], "trainer.reinforce_batch=-2: must be an integer >= 1"),
    (["trainer.n_samples=0"], "trainer.n_samples=0: must be an integer >= 1"),
    (["trainer.stop_after=-1"], "trainer.stop_after=-1: must be an integer >= 0"),
    (["trainer.seed=-1"], "trainer.seed=-1: must be an integer in [0, 9223372036854775807]"),
    (["agent.lr=0"], "agent.lr=0: must be a finite number > 0"),
    (["agent.reinforce_lr=-0.1"], "agent.reinforce_lr=-0.1: must be a finite number > 0"),
    (["agent.lr=nan"], "agent.lr=nan: must be a finite number > 0"),
    (["agent.n_heads=3"], "agent.embed_dim=32: must be a multiple of agent.n_heads=3"),
    (["trainer.evaluate=flase"], "trainer.evaluate=flase: must be true or false"),
    (["logger.mode=offlin"], "logger.mode=offlin: must be one of offline, online, disabled"),
    (["env.n_train=0"], "env.n_train=0: must be an integer >= 1"),
    (["env.n_train=100"], "env.n_train=100: must be an integer in [1, 99]"),
    (["env.cache_size=0"], "env.cache_size=0: must be an integer >= 1"),
    (["~trainer.seed"], ("trainer.seed is missing from the config (was it deleted with "
                        "~trainer.seed?)")),
]


@pytest.mark.parametrize("argv,message", TRAIN_CASES, ids=[" ".join(a) for a, _ in TRAIN_CASES])
def test_train_command_line_errors_name_the_override(argv, message):
    """Each bad train.py command line is refused with its exact one-line message."""
    with pytest.raises(ValueError) as info:
        check_command_line("train", argv, check_train_config)
    assert str(info.value) == message


def test_train_predictor_and_data_dir_errors(tmp_path):
    """A bad predictor spec and a missing trace folder are refused before any work."""
    with pytest.raises(ValueError, match=r"^env.predictor=noisy:x: bad predictor 'noisy:x'"):
        check_command_line("train", ["env.predictor=noisy:x"], check_train_config)
    with pytest.raises(FileNotFoundError,
                       match=f"^trace folder not found: {tmp_path / 'nope'}; point the config"):
        check_command_line("train", [f"env.data_dir={tmp_path / 'nope'}"], check_train_config)


@pytest.mark.parametrize("argv", [[], ["experiment=smoke", "logger=csv", "trainer.seed=3"],
                                  ["-m", "trainer.seed=0,1", "experiment=smoke,noisy20"],
                                  ["hydra.run.dir=/tmp/somewhere", "env.predictor=none"],
                                  ["--help"], ["--cfg", "job"], ["--cfg=job", "trainer.seed=2"],
                                  ["--info", "defaults", "experiment=smoke"], ["-cn", "other"]])
def test_good_command_lines_pass(argv):
    """Valid overrides, sweeps under -m, hydra.* keys and Hydra's own flags are accepted (a
    config read from elsewhere, -cn, is left to Hydra)."""
    check_command_line("train", argv, check_train_config)


EVALUATE_CASES = [
    ([], ("policy is not set: pass policy=outputs/train/<run>/policy (an exported policy folder "
         "or a checkpoint.pt)")),
    (["policy=/"], ("policy=/: is a folder without manifest.json; pass the run's policy folder "
                    "(or its checkpoint.pt)")),
    (["policy={p}", "cache_sizes=[0,5]"], ("cache_sizes=[0, 5]: must be a non-empty list of "
                                          "integers >= 1, e.g. cache_sizes=[5,10,20,40]")),
    (["policy={p}", "cache_sizes=[]"], ("cache_sizes=[]: must be a non-empty list of integers "
                                        ">= 1, e.g. cache_sizes=[5,10,20,40]")),
    (["policy={p}", "threads=0"], "threads=0: must be an integer >= 1"),
    (["policy={p}", "polcy=x"], ("unknown key 'polcy' at the top level in polcy=x; valid: env, "
                                "policy, cache_sizes, baselines, out_dir, threads")),
]


@pytest.mark.parametrize("argv,message", EVALUATE_CASES,
                         ids=[" ".join(a) for a, _ in EVALUATE_CASES])
def test_evaluate_command_line_errors(argv, message, tmp_path):
    """Each bad evaluate.py command line is refused with its exact one-line message."""
    policy = tmp_path / "policy.pt"
    policy.write_bytes(b"")
    with pytest.raises(ValueError) as info:
        check_command_line("evaluate", [a.format(p=policy) for a in argv], check_evaluate_config)
    assert str(info.value) == message


def test_evaluate_unknown_baseline_lists_the_valid_ones(tmp_path):
    """An unknown baseline name is refused with the list of paging policies."""
    (tmp_path / "p.pt").write_bytes(b"")
    with pytest.raises(ValueError, match=r"^baselines: unknown paging policy 'Nope'; valid: OPT, "):
        check_command_line("evaluate", [f"policy={tmp_path / 'p.pt'}", "baselines=[LRU,Nope]"],
                           check_evaluate_config)


@pytest.mark.parametrize("args,line", [
    (["experiment=smok"], ("train.py: error: unknown experiment 'smok' in experiment=smok; valid: "
                          f"{EXPERIMENTS}")),
    (["trainer.reinforce_iters=-1"],
     "train.py: error: trainer.reinforce_iters=-1: must be an integer >= 0"),
    (["trainer.epochs=3"], (f"train.py: error: unknown key 'epochs' under trainer in "
                           f"trainer.epochs=3; valid: {TRAINER_KEYS}")),
])
def test_train_script_exits_2_with_one_line_and_no_run_folder(tmp_path, args, line):
    """The script prints exactly one stderr line, exits 2 and creates no outputs/ folder."""
    proc = _script("train.py", *args, cwd=tmp_path)
    assert (proc.returncode, proc.stderr, proc.stdout) == (2, line + "\n", "")
    assert list(tmp_path.iterdir()) == []


def test_evaluate_script_exits_2_with_one_line(tmp_path):
    """evaluate.py without a policy: one line, exit 2, nothing created."""
    proc = _script("evaluate.py", cwd=tmp_path)
    assert proc.returncode == 2
    assert proc.stderr == ("evaluate.py: error: policy is not set: pass policy=outputs/train/<run>/"
                           "policy (an exported policy folder or a checkpoint.pt)\n")
    assert list(tmp_path.iterdir()) == []


def test_failed_run_removes_the_run_folder_hydra_made(tmp_path):
    """A failure inside training (an empty trace file) exits 2 and leaves no run folder."""
    traces = tmp_path / "traces"
    traces.mkdir()
    shipped = data_dir("paging/brightkite")
    for name in ("bk0.txt", "bk11.txt"):
        (traces / name).write_text((shipped / name).read_text())
    (traces / "zz.txt").write_text("")
    work = tmp_path / "work"
    work.mkdir()
    proc = _script("train.py", "experiment=smoke", f"env.data_dir={traces}", "env.n_train=1",
                   cwd=work)
    assert proc.returncode == 2
    assert proc.stderr == f"train.py: error: {traces / 'zz.txt'}: empty trace (no requests)\n"
    assert list(work.iterdir()) == []


def test_not_beating_lru_exits_1_not_2(tmp_path):
    """An untrained policy evaluated on 3 held-out users loses to LRU: exit 1, results written."""
    run = tmp_path / "run"
    proc = _script("train.py", "experiment=smoke", "trainer.imitation_iters=0",
                   "trainer.reinforce_iters=0", "trainer.evaluate=true", "env.n_train=97",
                   "trainer.require_beats_lru=true", "trainer.export=false",
                   f"hydra.run.dir={run}", cwd=tmp_path)
    assert proc.returncode == 1, proc.stderr[-2000:]
    misses = json.loads((run / "results.json").read_text())["misses"]
    assert (misses["Learned"], misses["LRU"], misses["OPT"]) == (1038.0, 942.0, 756.0)


def test_discard_unused_run_dir_keeps_folders_with_results(tmp_path, monkeypatch):
    """Only a folder holding nothing but Hydra's start-up files (and its empty parents) goes."""
    monkeypatch.chdir(tmp_path)
    hydra_only = tmp_path / "outputs" / "train" / "a"
    (hydra_only / ".hydra").mkdir(parents=True)
    for name in ("config.yaml", "hydra.yaml", "overrides.yaml"):
        (hydra_only / ".hydra" / name).write_text("{}")
    (hydra_only / "train.log").write_text("")
    kept = tmp_path / "kept"
    (kept / ".hydra").mkdir(parents=True)
    (kept / "checkpoint.pt").write_bytes(b"x")
    assert discard_unused_run_dir(kept, job_name="train") is False
    assert discard_unused_run_dir(hydra_only, job_name="train") is True
    assert sorted(p.name for p in tmp_path.iterdir()) == ["kept"]

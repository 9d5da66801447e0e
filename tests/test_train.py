"""A tiny training run through the Hydra configs: checkpoint, resume, determinism, export."""
import json

import pytest
import torch
from heurist.agents.checkpoint import load_checkpoint
from heurist.agents.trainer import train
from hydra import compose, initialize_config_module
from rich.console import Console


def _cfg(shared_data, run_dir, *extra):
    with initialize_config_module("heurist.configs", version_base="1.3"):
        return compose("train", overrides=[
            "experiment=smoke", f"env.data_dir={shared_data / 'paging' / 'brightkite'}",
            f"trainer.run_dir={run_dir}", "env.train_window=96", *extra])


def _quiet():
    return Console(quiet=True)


def test_train_writes_checkpoint_and_is_deterministic(shared_data, tmp_path):
    """Two runs with the same seed give identical weights; both write checkpoint and policy."""
    a = train(_cfg(shared_data, tmp_path / "a"), console=_quiet())
    b = train(_cfg(shared_data, tmp_path / "b"), console=_quiet())
    wa = load_checkpoint(a["checkpoint"])
    wb = load_checkpoint(b["checkpoint"])
    assert wa["iteration"] == 4
    assert all(torch.equal(wa["net"][k], wb["net"][k]) for k in wa["net"])
    assert (tmp_path / "a" / "policy.pt").is_file()
    rows = (tmp_path / "a" / "metrics.csv").read_text().strip().splitlines()
    assert len(rows) == 1 + 4
    assert json.loads((tmp_path / "a" / "results.json").read_text())["iterations"] == 4
    c = train(_cfg(shared_data, tmp_path / "c", "trainer.seed=1"), console=_quiet())
    wc = load_checkpoint(c["checkpoint"])
    assert not all(torch.equal(wa["net"][k], wc["net"][k]) for k in wa["net"])


def test_resume_equals_uninterrupted_run(shared_data, tmp_path):
    """Stopping after 3 iterations and resuming gives the uninterrupted run's exact weights."""
    full = load_checkpoint(train(_cfg(shared_data, tmp_path / "full"),
                                 console=_quiet())["checkpoint"])
    part = train(_cfg(shared_data, tmp_path / "part", "trainer.stop_after=3"), console=_quiet())
    assert part["stopped_at"] == 3
    assert load_checkpoint(part["checkpoint"])["iteration"] == 3
    done = train(_cfg(shared_data, tmp_path / "part", "trainer.resume=true"), console=_quiet())
    resumed = load_checkpoint(done["checkpoint"])
    assert resumed["iteration"] == 4
    assert all(torch.equal(full["net"][k], resumed["net"][k]) for k in full["net"])
    assert not list((tmp_path / "part").glob(".*tmp*"))


def test_missing_data_dir_names_the_config_key(tmp_path):
    """Without the traces, training fails with a message telling how to set env.data_dir."""
    with initialize_config_module("heurist.configs", version_base="1.3"):
        cfg = compose("train", overrides=["experiment=smoke", f"env.data_dir={tmp_path / 'nope'}",
                                          f"trainer.run_dir={tmp_path / 'run'}"])
    with pytest.raises(FileNotFoundError, match="env.data_dir"):
        train(cfg, console=_quiet())

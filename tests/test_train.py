"""A tiny training run through the Hydra configs: checkpoint, resume, determinism, export, and
the evaluation script on its exported policy."""
import json

import pytest
import torch
from hydra import compose, initialize_config_module
from rich.console import Console

from heurist.agents.checkpoint import load_checkpoint
from heurist.agents.trainer import train


def _cfg(shared_data, run_dir, *extra):
    with initialize_config_module("heurist.configs", version_base="1.3"):
        return compose("train", overrides=[
            "experiment=smoke", f"env.data_dir={shared_data / 'paging' / 'brightkite'}",
            f"trainer.run_dir={run_dir}", "env.train_window=96", *extra])


def _quiet():
    return Console(quiet=True)


@pytest.fixture(scope="module")
def full_run(shared_data, tmp_path_factory):
    run_dir = tmp_path_factory.mktemp("full")
    return train(_cfg(shared_data, run_dir), console=_quiet()), run_dir


def _same(a, b):
    return all(torch.equal(a["net"][k], b["net"][k]) for k in a["net"])


def test_train_writes_checkpoint_and_is_deterministic(shared_data, tmp_path, full_run):
    """Two runs with the same seed give identical weights, another seed differs; files written."""
    res, run_dir = full_run
    wa = load_checkpoint(res["checkpoint"])
    assert wa["iteration"] == 4
    assert sorted(p.name for p in (run_dir / "policy").iterdir()) == ["manifest.json",
                                                                      "weights.safetensors"]
    rows = (run_dir / "metrics.csv").read_text().strip().splitlines()
    assert len(rows) == 1 + 4
    assert json.loads((run_dir / "results.json").read_text())["iterations"] == 4
    b = train(_cfg(shared_data, tmp_path / "b"), console=_quiet())
    assert _same(wa, load_checkpoint(b["checkpoint"]))
    c = train(_cfg(shared_data, tmp_path / "c", "trainer.seed=1"), console=_quiet())
    assert not _same(wa, load_checkpoint(c["checkpoint"]))


def test_resume_equals_uninterrupted_run(shared_data, tmp_path, full_run):
    """Stopping after 3 iterations and resuming gives the uninterrupted run's exact weights."""
    full = load_checkpoint(full_run[0]["checkpoint"])
    part = train(_cfg(shared_data, tmp_path / "part", "trainer.stop_after=3"), console=_quiet())
    assert part["stopped_at"] == 3
    assert load_checkpoint(part["checkpoint"])["iteration"] == 3
    done = train(_cfg(shared_data, tmp_path / "part", "trainer.resume=true"), console=_quiet())
    resumed = load_checkpoint(done["checkpoint"])
    assert resumed["iteration"] == 4
    assert _same(full, resumed)
    assert not list((tmp_path / "part").glob(".*tmp*"))


def test_evaluation_run_on_exported_policy(shared_data, tmp_path, full_run):
    """The evaluation run writes JSON/CSV/PNG; its OPT and LRU totals equal simulate's."""
    from heurist.agents.data import load_split
    from heurist.agents.evaluate_run import run_evaluation
    from heurist.policies.paging import simulate

    data = shared_data / "paging" / "brightkite"
    out = tmp_path / "eval"
    with initialize_config_module("heurist.configs", version_base="1.3"):
        cfg = compose("evaluate", overrides=[f"policy={full_run[1] / 'policy'}",
                                             f"env.data_dir={data}", "cache_sizes=[4]",
                                             "baselines=[LRU,OPT]"])
    res = run_evaluation(cfg, out, console=_quiet())
    test = load_split(data)["test"]
    assert res["misses"]["OPT"]["4"] == sum(simulate(t, 4, "OPT").misses for t in test)
    assert res["misses"]["LRU"]["4"] == sum(simulate(t, 4, "LRU").misses for t in test)
    assert set(res["misses"]) == {"Learned", "LRU", "OPT"}
    assert json.loads((out / "evaluation.json").read_text()) == res
    assert (out / "miss_ratio.png").stat().st_size > 1000
    assert len((out / "evaluation.csv").read_text().strip().splitlines()) == 1 + 3
    from omegaconf import OmegaConf

    cfg2 = OmegaConf.merge(cfg, {"policy": str(full_run[1] / "checkpoint.pt")})
    ckpt = run_evaluation(cfg2, tmp_path / "eval2", console=_quiet())
    assert ckpt["misses"] == res["misses"]


def test_missing_data_dir_names_the_config_key(tmp_path):
    """Without the traces, training fails with a message telling how to set env.data_dir."""
    with initialize_config_module("heurist.configs", version_base="1.3"):
        cfg = compose("train", overrides=["experiment=smoke", f"env.data_dir={tmp_path / 'nope'}",
                                          f"trainer.run_dir={tmp_path / 'run'}"])
    with pytest.raises(FileNotFoundError, match="env.data_dir"):
        train(cfg, console=_quiet())


def test_windows_without_evictions_leave_the_weights_untouched(shared_data, tmp_path):
    """8-request windows never fill a 10-page cache: every iteration logs 0 decisions, no
    update runs, and the weights stay the seeded initial ones."""
    from heurist.agents.trainer import build_net

    res = train(_cfg(shared_data, tmp_path, "env.train_window=8"), console=_quiet())
    rows = (tmp_path / "metrics.csv").read_text().strip().splitlines()
    col = rows[0].split(",").index("train/decisions")
    assert [r.split(",")[col] for r in rows[1:]] == ["0", "0", "0", "0"]
    with initialize_config_module("heurist.configs", version_base="1.3"):
        agent = compose("train").agent
    torch.manual_seed(0)
    init = build_net(agent).state_dict()
    assert all(torch.equal(init[k], load_checkpoint(res["checkpoint"])["net"][k]) for k in init)

"""mallocMuZero training from the Hydra configs (``scripts/train.py experiment=muzero_malloc_mapping``,
``heurist.agents.muzero.hydra_train``): tiny runs of a few seconds."""
import json
import subprocess
import sys
from pathlib import Path

import pytest
from hydra import compose, initialize_config_module
from omegaconf import open_dict
from safetensors.torch import load_file

from heurist.agents.muzero.hydra_train import check_muzero_config, train_muzero
from heurist.agents.muzero.search_policy import load_search_policy

ROOT = Path(__file__).resolve().parents[1]
TINY = ["agent.config.rows=2", "agent.config.n_min=4", "agent.config.n_max=6",
        "agent.config.simulations=2", "agent.config.train_steps=2", "agent.config.batch_size=8",
        "agent.config.unroll=2", "agent.config.n_step=2", "agent.config.latent=8",
        "agent.config.hidden=16", "agent.iterations=3", "agent.eval_instances=2",
        "agent.search.simulations=2", "logger=csv"]


def _cfg(run_dir, *overrides):
    with initialize_config_module("heurist.configs", version_base="1.3"):
        cfg = compose("train", overrides=[*TINY, *overrides])
    with open_dict(cfg):
        cfg.trainer.run_dir = str(run_dir)
    return cfg


def _weights(run_dir):
    return load_file(str(Path(run_dir) / "policy" / "weights.safetensors"))


@pytest.mark.parametrize("overrides,role,policy", [
    (["experiment=muzero_malloc_mapping"], None, "gumbel"),
    (["agent=muzero"], None, "puct"),
    (["agent=alphazero"], "alphazero_prior", "gumbel"),
])
def test_resumed_run_gives_identical_weights(tmp_path, overrides, role, policy):
    """Each agent trains 3 iterations; stopping after 1 and resuming exports identical weights,
    and the export loads as a search policy of the agent's role."""
    straight = train_muzero(_cfg(tmp_path / "a", *overrides))
    assert straight["iterations"] == 3 and straight["eval/instances"] == 2
    stopped = train_muzero(_cfg(tmp_path / "b", *overrides, "trainer.stop_after=1"))
    assert stopped == {"stopped_at": 1, "checkpoint": str(tmp_path / "b" / "checkpoint.pt")}
    assert not (tmp_path / "b" / "policy").exists()
    resumed = train_muzero(_cfg(tmp_path / "b", *overrides, "trainer.resume=true"))
    assert resumed["iterations"] == 3
    wa, wb = _weights(tmp_path / "a"), _weights(tmp_path / "b")
    assert sorted(wa) == sorted(wb) and all(bool((wa[k] == wb[k]).all()) for k in wa)
    manifest = json.loads((tmp_path / "a" / "policy" / "manifest.json").read_text())
    assert manifest["training"].get("role") == role
    assert manifest["training"]["config"]["policy"] == policy
    sp = load_search_policy(tmp_path / "a" / "policy")
    assert (sp.k, sp.order) == (8, "msa")
    rows = (tmp_path / "b" / "metrics.csv").read_text().splitlines()
    assert [r.split(",")[0] for r in rows[1:]] == ["1", "2", "3"]


@pytest.mark.parametrize("override,message", [
    ("agent.config.rows=0", "agent.config.rows=0: must be an integer >= 1"),
    ("agent.config.n_min=9", "agent.config.n_min=9 / agent.config.n_max=6: need 2 <= n_min <= n_max"),
    ("agent.config.policy=mcts", "agent.config: policy 'mcts': must be one of gumbel, puct"),
    ("agent.iterations=0", "agent.iterations=0: must be an integer >= 1"),
    ("trainer.max_seconds=-1", "trainer.max_seconds=-1: must be a number > 0 (or null)"),
    ("agent.workers=-1", "agent.workers=-1: must be an integer >= 0"),
    ("agent.workers=1.5", "agent.workers=1.5: must be an integer >= 0"),
    ("agent.workers=3", "agent.config: workers 3 / rows 2: need 0 <= workers <= rows"),
    ("agent.workers=2 +agent.config.workers=1",
     "agent.workers=2 / agent.config.workers=1: set one of them (Ray plays one shard per worker)"),
    ("agent=alphazero agent.workers=3",
     "agent.config: workers 3 / rows 2: need 0 <= workers <= rows"),
])
def test_bad_values_are_one_line_errors(tmp_path, override, message):
    """A value out of range fails the check with one line naming the override."""
    with pytest.raises(ValueError) as err:
        check_muzero_config(_cfg(tmp_path, "experiment=muzero_malloc_mapping", *override.split()))
    assert str(err.value) == message


def test_train_py_runs_and_refuses_bad_input(tmp_path):
    """scripts/train.py experiment=muzero_malloc_mapping trains and exports (exit 0); a bad key
    exits 2 with one line on stderr and leaves no run folder."""
    run = tmp_path / "run"
    ok = subprocess.run([sys.executable, str(ROOT / "scripts" / "train.py"),
                         "experiment=muzero_malloc_mapping", *TINY, "agent.iterations=1",
                         f"hydra.run.dir={run}"], capture_output=True, text=True, cwd=tmp_path,
                        check=False)
    assert ok.returncode == 0, ok.stderr
    assert json.loads((run / "results.json").read_text())["iterations"] == 1
    assert (run / "policy" / "manifest.json").is_file()
    bad = subprocess.run([sys.executable, str(ROOT / "scripts" / "train.py"),
                          "experiment=muzero_malloc_mapping", "agent.config.k=0",
                          f"hydra.run.dir={tmp_path / 'bad'}"],
                         capture_output=True, text=True, cwd=tmp_path, check=False)
    assert (bad.returncode, bad.stderr) == (
        2, "train.py: error: agent.config.k=0: must be an integer >= 1\n")
    assert not (tmp_path / "bad").exists()


@pytest.mark.parametrize("agent", ["experiment=muzero_malloc_mapping", "agent=alphazero"])
def test_ray_workers_match_in_process_shards_and_resume(tmp_path, agent):
    """agent.workers=2 (2 Ray actors) exports the weights of the same 2 shards played in this
    process (+agent.config.workers=2), straight and resumed with Ray after 1 iteration."""
    ray = pytest.importorskip("ray")
    run = [agent, "agent.iterations=2", "agent.eval_instances=0"]
    serial = train_muzero(_cfg(tmp_path / "serial", *run, "+agent.config.workers=2"))
    train_muzero(_cfg(tmp_path / "resumed", *run, "+agent.config.workers=2",
                      "trainer.stop_after=1"))
    # one local Ray for both runs (a run that starts Ray itself also ends it); it stays up
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, configure_logging=False)
    try:
        ray_run = train_muzero(_cfg(tmp_path / "ray", *run, "agent.workers=2"))
        train_muzero(_cfg(tmp_path / "resumed", *run, "agent.workers=2", "trainer.resume=true"))
        assert ray.is_initialized()
    finally:
        ray.shutdown()
    assert (serial["iterations"], ray_run["iterations"]) == (2, 2)
    ws, wr, wz = (_weights(tmp_path / d) for d in ("serial", "ray", "resumed"))
    assert sorted(ws) == sorted(wr) == sorted(wz)
    assert all(bool((ws[k] == wr[k]).all()) and bool((ws[k] == wz[k]).all()) for k in ws)

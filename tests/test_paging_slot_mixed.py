"""The slot policy's mixed-family training data (env.mix_families, experiment slot_mixed): the
synthetic families' train part joins the BrightKite training users, the held-out parts never."""
import numpy as np
import pytest
from hydra import compose, initialize_config_module
from rich.console import Console

from heurist.agents.paging_predictors.data import SYNTHETIC, family_traces
from heurist.agents.paging_task import PagingTask, mixed_family_traces

pytestmark = pytest.mark.usefixtures("one_thread")


def _cfg(shared_data, run_dir, *extra):
    with initialize_config_module("heurist.configs", version_base="1.3"):
        return compose("train", overrides=[
            "experiment=slot_mixed", "logger=csv",
            f"env.data_dir={shared_data / 'paging' / 'brightkite'}", f"trainer.run_dir={run_dir}",
            "env.mix_traces=2", "env.mix_length=96", *extra])


def test_mixed_traces_are_the_families_train_part():
    """Golden sums, and equal to family_traces(part="train") family by family, in order."""
    got = mixed_family_traces(list(SYNTHETIC), n_traces=2, length=96, seed=0)
    assert [int(t.sum()) for t in got] == [41303, 40857, 3693, 1060, 2302, 4214, 12773, 80684,
                                           8243, 3024]
    assert [t[:4].tolist() for t in got[:3:2]] == [[553, 553, 145, 862], [42, 43, 44, 45]]
    want = [t for f in SYNTHETIC for t in family_traces(f, part="train", n_traces=2, length=96)]
    assert all(np.array_equal(a, b) for a, b in zip(got, want, strict=True))
    held = [t for f in SYNTHETIC for t in family_traces(f, part="test", n_traces=2, length=96)]
    assert not any(np.array_equal(a, b) for a in got for b in held)
    assert mixed_family_traces([], n_traces=2) == []
    for bad in (["brightkite"], ["zipf", "zipf"], ["nope"]):
        with pytest.raises(ValueError, match="env.mix_families"):
            mixed_family_traces(bad)


def test_task_pool_is_brightkite_users_then_families(shared_data, tmp_path):
    """slot_mixed: 60 BrightKite users + 5 x 2 synthetic traces are drawn; validation unchanged;
    without env.mix_families the pool is the users alone (the old experiments, unchanged)."""
    task = PagingTask(_cfg(shared_data, tmp_path), console=Console(quiet=True))
    pool = task.gen_fn.traces
    assert len(pool) == 70 and len(task.split["train"]) == 60 and len(task.split["test"]) == 10
    assert all(np.array_equal(a, b) for a, b in zip(pool[:60], task.split["train"], strict=True))
    assert all(np.array_equal(a, b) for a, b in zip(
        pool[60:], mixed_family_traces(list(SYNTHETIC), n_traces=2, length=96), strict=True))
    assert task.describe()["mix_traces"] == 10
    plain = PagingTask(_cfg(shared_data, tmp_path, "env.mix_families=[]"),
                       console=Console(quiet=True))
    assert len(plain.gen_fn.traces) == 60 and "mix_traces" not in plain.describe()

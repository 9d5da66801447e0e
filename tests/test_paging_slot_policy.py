"""The slot-attention paging policy's training options: the validation split of the training
users, and a learned predictor's causal predictions as inputs (recorded and checked)."""
import json

import numpy as np
import pytest
from hydra import compose, initialize_config_module
from rich.console import Console

from heurist.agents.evaluation import eval_instance
from heurist.agents.paging_task import PagingTask
from heurist.agents.rollout import collect
from heurist.agents.trainer import train
from heurist.policies.paging import simulate
from heurist.policies.paging.learned_policy import (
    LearnedSlotPolicy,
    gap_features_of,
    input_predictor,
    input_predictor_of,
    slot_env,
)
from heurist.policies.paging.learned_predictor import load_predictor

pytestmark = pytest.mark.usefixtures("one_thread")


def _cfg(shared_data, run_dir, *extra):
    with initialize_config_module("heurist.configs", version_base="1.3"):
        return compose("train", overrides=[
            "experiment=no_predictions", "logger=csv",
            f"env.data_dir={shared_data / 'paging' / 'brightkite'}", f"trainer.run_dir={run_dir}",
            "env.train_window=96", "trainer.imitation_iters=1", "trainer.imitation_batch=2",
            "trainer.imitation_epochs=1", "trainer.reinforce_iters=0",
            "trainer.require_beats_lru=false", *extra])


def test_val_users_leave_training_and_replace_the_held_out_users(shared_data, tmp_path):
    """env.val_users=5: the last 5 training users are evaluated, the 30 held-out users unused."""
    task = PagingTask(_cfg(shared_data, tmp_path, "env.val_users=5", "trainer.evaluate=false"),
                      console=Console(quiet=True))
    assert len(task.split["train"]) == 65
    assert task.split["test_names"] == ["bk2959.txt", "bk2989.txt", "bk3052.txt", "bk3055.txt",
                                        "bk3108.txt"]
    assert "bk3109.txt" not in task.split["train_names"] + task.split["test_names"]
    with pytest.raises(ValueError, match="env.val_users=70"):
        PagingTask(_cfg(shared_data, tmp_path, "env.val_users=70"), console=Console(quiet=True))


def test_learned_inputs_are_recorded_and_replayed_exactly(shared_data, tmp_path):
    """A run with env.input_predictor=conditional records the predictor's sha256, and the exported
    policy replays in simulate with exactly the validation misses of the run."""
    res = train(_cfg(shared_data, tmp_path, "env.val_users=2", "env.input_predictor=conditional"),
                console=Console(quiet=True))
    assert res["evaluated_on"] == "validation"
    manifest = json.loads((tmp_path / "policy" / "manifest.json").read_text())
    sha = load_predictor().manifest["weights"]["sha256"]
    assert manifest["provenance"]["input_predictor"] == {"spec": "conditional", "sha256": sha}
    task = PagingTask(_cfg(shared_data, tmp_path, "env.val_users=2"), console=Console(quiet=True))
    policy = LearnedSlotPolicy(artifact=tmp_path / "policy")
    got = sum(simulate(t, 10, policy).misses for t in task.split["test"])
    assert got == res["misses"]["Learned"]


def test_input_predictor_checks_the_recorded_weights():
    """Old artifacts (no input_predictor) read none; a changed predictor is refused by name."""
    assert input_predictor_of({"training": {"env": {"predictor": "none"}}}) == "none"
    pred, sha = input_predictor("learned")
    trace = np.array([0, 1, 0, 2, 1, 0], dtype=np.int64)
    assert pred(trace, cache_size=2) is pred(trace.copy(), cache_size=2)  # cached per trace
    ok = {"training": {"env": {"input_predictor": "learned"}},
          "provenance": {"input_predictor": {"spec": "learned", "sha256": sha}}}
    assert input_predictor_of(ok) is not None
    bad = {"training": {"env": {"input_predictor": "learned"}},
           "provenance": {"input_predictor": {"spec": "learned", "sha256": "0" * 64}}}
    with pytest.raises(ValueError, match="weights are now"):
        input_predictor_of(bad, "ART")
    with pytest.raises(ValueError, match="expected none, learned, conditional"):
        input_predictor("exact")


def test_conditional_channel_is_learned_ftp(shared_data):
    """Evicting the slot of largest conditional log2 gap (channel 6) is LearnedFTP exactly: 707
    misses on held-out user bk3157 at k = 10, as LearnedFTP."""
    from heurist.agents.data import load_split
    from heurist.policies.paging.learned_ftp import LearnedFTP

    split = load_split(shared_data / "paging" / "brightkite", n_train=70)
    trace = split["test"][split["test_names"].index("bk3157.txt")]
    pred, _ = input_predictor("conditional")
    inst = eval_instance([trace], cache_size=10, predictor=pred, seed=0)

    def farthest(td):
        return td["slot_features"][..., 6].masked_fill(~td["action_mask"], -1.0).argmax(-1)

    misses = collect(slot_env(10, pred), inst.clone(), farthest, record=False).misses
    assert float(misses[0]) == 707.0
    assert simulate(trace, 10, LearnedFTP(predictor=pred.predictor)).misses == 707


def test_imitation_lr_cosine(shared_data, tmp_path):
    """agent.imitation_lr_final: cosine from agent.lr to it over the imitation iterations, then
    agent.reinforce_lr; null keeps agent.lr."""
    task = PagingTask(_cfg(shared_data, tmp_path, "agent.imitation_lr_final=0.0001",
                           "trainer.imitation_iters=3", "trainer.reinforce_iters=1"),
                      console=Console(quiet=True))
    assert [round(task.lr(i), 8) for i in range(4)] == [0.002, 0.00105, 0.0001, 0.0002]
    task = PagingTask(_cfg(shared_data, tmp_path), console=Console(quiet=True))
    assert task.lr(0) == 0.002


def test_gap_features_are_recorded_and_replayed_exactly(shared_data, tmp_path):
    """A run with env.gap_features=true exports an 18-channel policy that records the option and
    replays in simulate with exactly the validation misses of the run; its checkpoint re-exports
    to the same weights and scripts/evaluate.py refuses it."""
    res = train(_cfg(shared_data, tmp_path, "env.val_users=2", "+env.gap_features=true"),
                console=Console(quiet=True))
    manifest = json.loads((tmp_path / "policy" / "manifest.json").read_text())
    assert manifest["training"]["env"]["gap_features"] is True
    assert manifest["network"]["config"]["slot_dim"] == 18
    assert gap_features_of(manifest) is True
    task = PagingTask(_cfg(shared_data, tmp_path, "env.val_users=2"), console=Console(quiet=True))
    policy = LearnedSlotPolicy(artifact=tmp_path / "policy")
    got = sum(simulate(t, 10, policy).misses for t in task.split["test"])
    assert got == res["misses"]["Learned"]
    # heurist export of the run's checkpoint rebuilds the 18-channel network: the same weights
    from types import SimpleNamespace

    from heurist.agents.evaluate_run import load_any_policy
    from heurist.cli.export import run as export_run

    export_run(SimpleNamespace(checkpoint=str(tmp_path / "checkpoint.pt"),
                               out=str(tmp_path / "again"), json=False))
    again = json.loads((tmp_path / "again" / "manifest.json").read_text())
    assert again["weights"]["sha256"] == manifest["weights"]["sha256"]
    # scripts/evaluate.py's env has no such channels: the checkpoint is refused in one line
    with pytest.raises(ValueError, match=r"trained with env\.gap_features / env\.input_predictor"):
        load_any_policy(tmp_path / "checkpoint.pt")


def test_gap_feature_option_mismatch_is_refused():
    """An artifact whose recorded gap-feature option disagrees with its network is refused."""
    net = {"class": "SlotAttentionPolicy", "config": {"slot_dim": 11}}
    assert gap_features_of({"network": net}) is False
    bad = {"training": {"env": {"gap_features": True}}, "network": net}
    with pytest.raises(ValueError, match="gap_features=True gives 18 slot features, but the "
                                         "network reads 11"):
        gap_features_of(bad, "p")

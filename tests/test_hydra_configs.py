"""The Hydra configs load from the installed package (``pkg://heurist.configs``)."""
from importlib import resources
from pathlib import Path

import pytest
from hydra import compose, initialize_config_module
from omegaconf import OmegaConf


def test_train_config_composes_from_package():
    """train.yaml composes its env/agent/logger/trainer groups with the documented defaults."""
    with initialize_config_module("heurist.configs", version_base="1.3"):
        cfg = compose("train")
    assert set(cfg) >= {"env", "agent", "logger", "trainer"}
    assert cfg.env.cache_size == 10 and cfg.env.n_train == 70
    assert cfg.env.predictor == "noisy:10"
    assert cfg.logger.kind == "wandb" and cfg.logger.mode == "offline"
    assert cfg.trainer.resume is False and cfg.trainer.seed == 0


@pytest.mark.parametrize("experiment,key,value", [
    ("smoke", "trainer.imitation_iters", 2),
    ("no_predictions", "env.predictor", "none"),
    ("noisy20", "env.predictor", "noisy:20"),
    ("slot_learned_inputs", "env.input_predictor", "conditional"),
    ("slot_gap_features", "env.gap_features", True),
    ("slot_zero_regret", "agent.imitation_target", "zero_regret"),
    ("slot_distance_inputs", "env.input_predictor", "conditional_distance"),
    ("slot_dagger_buffer", "agent.dagger_buffer", 8),
    ("slot_greedy_dagger", "agent.dagger_sample", False),
    ("slot_mixed", "env.mix_traces", 20),
])
def test_experiments_override_globally(experiment, key, value):
    """Each experiment file overrides keys at the global level."""
    with initialize_config_module("heurist.configs", version_base="1.3"):
        cfg = compose("train", overrides=[f"experiment={experiment}"])
    assert OmegaConf.select(cfg, key) == value


def test_group_options_switch():
    """logger=csv switches the logger group; a key override reaches the trainer."""
    with initialize_config_module("heurist.configs", version_base="1.3"):
        cfg = compose("train", overrides=["logger=csv", "trainer.seed=3", "logger.mode=online"])
    assert cfg.logger.kind == "csv" and cfg.trainer.seed == 3 and cfg.logger.mode == "online"


def test_evaluate_config_and_every_yaml_parse():
    """evaluate.yaml composes, and every YAML file shipped in heurist.configs parses."""
    with initialize_config_module("heurist.configs", version_base="1.3"):
        cfg = compose("evaluate", overrides=["policy=/tmp/p.pt"])
    assert list(cfg.cache_sizes) == [5, 10, 20, 40] and cfg.policy == "/tmp/p.pt"
    root = Path(str(resources.files("heurist.configs")))
    yamls = sorted(p.relative_to(root).as_posix() for p in root.rglob("*.yaml"))
    assert yamls == ["agent/alphazero.yaml", "agent/am.yaml", "agent/camp.yaml",
                     "agent/gumbel_muzero.yaml", "agent/muzero.yaml", "agent/pomo.yaml",
                     "agent/ptrnet.yaml",
                     "agent/slot_attention.yaml", "agent/symnco.yaml", "env/brightkite.yaml",
                     "env/cvrp.yaml", "env/pvrp_p.yaml", "env/pvrp_zc.yaml", "env/tsp.yaml",
                     "evaluate.yaml", "experiment/am_cvrp20.yaml",
                     "experiment/am_pvrp_p_n20_m3.yaml",
                     "experiment/am_pvrp_p_n20_m3_pyvrp.yaml", "experiment/am_tsp20.yaml",
                     "experiment/camp_pvrp_p_n20_m3.yaml",
                     "experiment/camp_pvrp_p_n20_m3_pyvrp.yaml",
                     "experiment/camp_pvrp_p_n20_m3_pyvrp_finetune.yaml",
                     "experiment/camp_pvrp_p_n20_m3_pyvrp_k16.yaml",
                     "experiment/camp_pvrp_p_n20_m3_pyvrp_long.yaml",
                     "experiment/camp_pvrp_p_n20_m3_pyvrp_pomo.yaml",
                     "experiment/camp_pvrp_p_n20_m3_pyvrp_pomo_finetune.yaml",
                     "experiment/camp_pvrp_p_n20_m3_retire.yaml",
                     "experiment/camp_pvrp_zc_n20_m3.yaml",
                     "experiment/camp_pvrp_zc_n20_m3_pyvrp.yaml",
                     "experiment/muzero_malloc_mapping.yaml",
                     "experiment/muzero_malloc_mapping_expert.yaml",
                     "experiment/no_predictions.yaml", "experiment/noisy20.yaml",
                     *(["experiment/paging_predictor_slot_k10.yaml"]
                       if (root / "experiment/paging_predictor_slot_k10.yaml").is_file() else []),
                     "experiment/pomo_cvrp20.yaml", "experiment/pomo_pvrp_p_n20_m3.yaml",
                     "experiment/pomo_pvrp_p_n20_m3_pyvrp.yaml",
                     "experiment/routing_smoke.yaml", "experiment/slot_dagger_buffer.yaml",
                     "experiment/slot_distance_inputs.yaml", "experiment/slot_gap_features.yaml",
                     "experiment/slot_greedy_dagger.yaml",
                     "experiment/slot_learned_inputs.yaml", "experiment/slot_mixed.yaml",
                     "experiment/slot_zero_regret.yaml",
                     "experiment/smoke.yaml",
                     "hydra/callbacks/sweep.yaml", "hydra/launcher/local.yaml",
                     "hydra/launcher/slurm.yaml", "logger/csv.yaml",
                     "logger/wandb.yaml", "train.yaml", "trainer/default.yaml",
                     "trainer/routing.yaml"]
    for name in yamls:
        assert OmegaConf.load(root / name) is not None, name

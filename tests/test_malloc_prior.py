"""The shipped distilled prior ``malloc-prior`` (issue 10, expert iteration): it loads by name, is
used as AlphaZero mode's prior by ``heurist plan --method search --policy``, and wrong artifacts
are refused with one line."""
import json
from pathlib import Path

import pytest
import torch

from heurist import policies
from heurist.agents.muzero import plan_mapping
from heurist.agents.muzero.search_policy import load_search_policy
from heurist.agents.muzero.train import MuZeroConfig, build_net
from heurist.cli import main
from heurist.envs.malloc.minimalloc_csv import read_csv, write_csv
from heurist.envs.malloc.plan_check import check_plan
from heurist.envs.malloc.plan_cost import evaluate_plan
from heurist.envs.malloc.synthetic import random_instance
from heurist.policies.export import export_artifact
from heurist.policies.export.manifest import read_verified
from heurist.policies.malloc.search_policies import (
    PRIOR_ROLE,
    resolve_search_policy,
    shipped_search_policies,
)

ARTIFACTS = Path(policies.__file__).parent / "artifacts"
PRIOR = (ARTIFACTS / "malloc-prior").resolve()  # src/heurist links to the tree
SLOT_ARTIFACT = ARTIFACTS / "paging_slot_attention"


def test_shipped_prior_loads_by_name():
    """malloc-prior is the one shipped Malloc artifact; it loads as a K=8 msa-order prior."""
    assert shipped_search_policies() == {"malloc-prior": PRIOR}
    assert resolve_search_policy("malloc-prior") == PRIOR
    pol = load_search_policy("malloc-prior")
    manifest, blob = read_verified(PRIOR)
    assert (pol.role, pol.model, pol.k, pol.order) == (PRIOR_ROLE, "true_simulator", 8, "msa")
    assert (pol.net.obs_dim, pol.net.n_actions) == (manifest["network"]["config"]["obs_dim"], 9)
    assert manifest["training"]["role"] == PRIOR_ROLE and manifest["training"]["seed"] == 0
    assert len(blob) == manifest["weights"]["bytes"] < 2**20 and not pol.net.training
    kw = pol.plan_kwargs()
    assert sorted(kw) == ["k", "order", "prior", "value"] and kw["value"] == "rollout"


def test_wrong_artifacts_are_refused(tmp_path):
    """A non-MuZeroNet artifact, an unknown role and an unknown name: one clear error each."""
    with pytest.raises(ValueError, match="a SlotAttentionPolicy artifact; --method search needs "
                                         "a MuZeroNet"):
        load_search_policy(SLOT_ARTIFACT)
    torch.manual_seed(0)
    art = export_artifact(build_net(MuZeroConfig(latent=8, hidden=16)), tmp_path / "bad",
                          training={"role": "oracle", "config": {"k": 8}})
    with pytest.raises(ValueError, match="training.role 'oracle' is not one of muzero_model, "
                                         "alphazero_prior"):
        load_search_policy(art)
    with pytest.raises(FileNotFoundError, match="no shipped Malloc policy of that name "
                                                r"\(shipped: malloc-prior\)"):
        load_search_policy("malloc-prio")


def test_cli_unknown_policy_exits_2(tmp_path, capsys):
    """heurist plan --policy with an unknown name: exit 2, one line, nothing written."""
    path = tmp_path / "m.csv"
    write_csv(path, random_instance(5, seed=1, capacity_fraction=0.3))
    rc = main(["plan", str(path), "--mode", "mapping", "--method", "search", "--policy",
               "malloc-prio", "--out", str(tmp_path / "o.csv")])
    out, err = capsys.readouterr()
    assert rc == 2 and out == "" and len(err.splitlines()) == 1
    assert err.startswith("heurist plan: error: --policy malloc-prio: no such artifact folder")
    assert not (tmp_path / "o.csv").exists()


def test_cli_plan_with_shipped_prior_equals_library(tmp_path, capsys):
    """--policy malloc-prior plans exactly as plan_mapping with the loaded prior, same seed;
    the plan passes the env's oracles (check_plan, evaluate_plan)."""
    inst = random_instance(40, seed=7, capacity_fraction=0.3)
    path = tmp_path / "m.csv"
    write_csv(path, inst)
    rc = main(["plan", str(path), "--capacity", str(inst.capacity), "--mode", "mapping",
               "--method", "search", "--policy", "malloc-prior", "--simulations", "4",
               "--seed", "3", "--out", str(tmp_path / "o.csv"), "--json"])
    r = json.loads(capsys.readouterr().out)
    inst, _ = read_csv(path, capacity=inst.capacity)
    res, ep = plan_mapping([inst], num_simulations=4, seed=3,
                           **load_search_policy("malloc-prior").plan_kwargs())
    written = read_csv(tmp_path / "o.csv", capacity=inst.capacity)[1]
    assert rc == 0 and written.tolist() == res[0].plan.tolist()
    assert (r["model"], r["role"], r["policy"], r["order"]) == ("true_simulator", PRIOR_ROLE,
                                                                "malloc-prior", "msa")
    assert r["speedup"] == res[0].speedup and r["env_steps"] == ep.env_steps > 0
    assert check_plan(inst, written, mode="mapping").valid
    assert evaluate_plan(inst, written).speedup == res[0].speedup
    assert res[0].speedup == pytest.approx(1.3816395043118421, rel=1e-12)
    # the prior is used: the uniform-prior search maps 6 buffers differently (same speedup here)
    uniform, _ = plan_mapping([inst], num_simulations=4, seed=3, order="msa")
    assert int((uniform[0].plan != written).sum()) == 6

"""scripts/benchmark_rl4co.py: without rl4co it exits 2 with one line saying how to install it, bad
flags exit 2 with one line, and rl4co's decoded actions become routes that our check_routes accepts
with rl4co's own cost (the conversion every rl4co number in the benchmark goes through)."""
from __future__ import annotations

import importlib.util

import pytest
import torch
from script_module import load_script

pytestmark = pytest.mark.usefixtures("one_thread")


def _script():
    return load_script("benchmark_rl4co")


def test_missing_rl4co_exits_2_with_the_install_line(monkeypatch, capsys):
    """find_spec('rl4co') is None -> exit 2, one stderr line with the bare-install command."""
    mod = _script()
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: None if name == "rl4co" else real(name, *a))
    assert mod.main(["--budget", "1"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1
    assert err.startswith("benchmark_rl4co: rl4co is not installed")
    assert "pip install --no-deps rl4co lightning" in err


@pytest.mark.parametrize("argv, message", [
    (["--runs", "ours-am,rl4co-tsp"], "--runs: unknown rl4co-tsp"),
    (["--budget", "0"], "--budget, --test-size and --threads must be positive"),
    (["--pyvrp-instances", "300"], "--pyvrp-instances must be in 0..--test-size (256)"),
])
def test_bad_flags_exit_2_with_one_line(argv, message, capsys):
    """Each bad flag: exit 2 and one stderr line naming it."""
    with pytest.raises(SystemExit) as exc:
        _script().main(argv)
    assert exc.value.code == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and message in err, err


@pytest.mark.optional  # rl4co is a bare-installed benchmark peer (README "Install"), not in CI's env
def test_rl4co_solutions_are_checked_as_our_routes():
    """An untrained rl4co AM (greedy) and POMO (20 starts x 8 copies) on 4 of the test instances:
    every solution passes check_routes, whose objective equals rl4co's own cost (float32)."""
    pytest.importorskip("rl4co")
    from rl4co.envs import CVRPEnv
    from rl4co.models import POMO, AttentionModel

    mod = _script()
    inst = mod.test_set(4, 20250901)
    torch.manual_seed(0)
    env = CVRPEnv(generator_params={"num_loc": 20})
    small = {"embed_dim": 32, "num_heads": 4, "feedforward_hidden": 64}
    for model, module in (("am", AttentionModel(env, policy_kwargs={**small,
                                                                   "num_encoder_layers": 1})),
                          ("pomo", POMO(env, policy_kwargs={**small, "num_encoder_layers": 1}))):
        objs, _, worst = mod.decode_rl4co(module, model, inst)
        assert objs.shape == (4,) and worst < 1e-4, (model, worst)
        assert (objs > 0).all()

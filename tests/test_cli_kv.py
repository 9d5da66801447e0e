"""``heurist kv evaluate``/``parity`` on the real model and a real text: JSON keys and exact
full-cache values, and clean errors for bad input."""
import json
import os
import subprocess
import sys

import pytest
import torch

from heurist.cli import kv as kv_cli
from heurist.cli import main
from heurist.policies.kv.shared import shared_model


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    """Loads the shared model once, on one thread (2 oversubscribed shared cores)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    shared_model()
    yield
    torch.set_num_threads(threads)


def test_evaluate_json_keys_and_full_cache(capsys):
    """--json prints one object per (policy, budget) with the six keys; full has kl 0 and recall 1."""
    rc = main(["kv", "evaluate", "--text", os.__file__, "--tokens", "64", "--continuation", "8",
               "--budget", "0.25,0.5", "--policy", "full,streaming,random", "--seed", "0,1",
               "--greedy", "2", "--json"])
    assert rc == 0
    rows = json.loads(capsys.readouterr().out)
    assert [(r["policy"], r["budget"]) for r in rows] == [
        ("full", 0.25), ("full", 0.5), ("streaming", 0.25), ("streaming", 0.5),
        ("random", 0.25), ("random", 0.5)]
    for r in rows:
        assert {"policy", "budget", "recall", "kl", "ppl", "agreement"} <= r.keys()
    full = rows[0]
    assert (full["kl"], full["recall"], full["agreement"]) == (0.0, 1.0, 1.0)
    assert rows[4]["seeds"] == [0, 1] and rows[2]["kl"] > 0.0


def test_evaluate_table_names_every_policy(capsys):
    """Without --json a table lists each requested policy."""
    rc = main(["kv", "evaluate", "--text", os.__file__, "--tokens", "32", "--continuation", "4",
               "--budget", "0.5", "--policy", "full,knorm", "--greedy", "0"])
    out = capsys.readouterr().out
    assert rc == 0 and "full" in out and "knorm" in out


def test_evaluate_without_greedy_gives_null_agreement_and_kvpress_parity_runs(capsys):
    """--greedy 0 reports agreement null (random over seeds too); --parity kvpress runs."""
    rc = main(["kv", "evaluate", "--text", os.__file__, "--tokens", "32", "--continuation", "4",
               "--budget", "0.5", "--policy", "tova,random", "--seed", "1,2", "--greedy", "0",
               "--parity", "kvpress", "--json"])
    rows = json.loads(capsys.readouterr().out)
    assert rc == 0 and [r["agreement"] for r in rows] == [None, None]
    assert rows[0]["kl"] > 0.0 and rows[1]["seeds"] == [1, 2]


def test_parity_command_reports_identical_sets(capsys):
    """`heurist kv parity --json` reports 1.0 identical kept sets for StreamingLLM and key norm."""
    rc = main(["kv", "parity", "--text", os.__file__, "--tokens", "48", "--budget", "0.25",
               "--policy", "streaming,knorm", "--json"])
    rows = json.loads(capsys.readouterr().out)
    assert rc == 0 and [r["identical_sets"] for r in rows] == [1.0, 1.0]


def test_bad_input_exits_2_with_a_clear_message(tmp_path, capsys):
    """Missing/short texts, an unknown policy and --tokens < 8 exit 2 naming the problem."""
    assert main(["kv", "evaluate", "--text", str(tmp_path / "nope.txt")]) == 2
    assert "nope.txt" in capsys.readouterr().err
    short = tmp_path / "short.txt"
    short.write_text("only a few words", encoding="utf-8")
    assert main(["kv", "evaluate", "--text", str(short), "--tokens", "64"]) == 2
    assert "short.txt: 16 bytes, fewer than the 129 tokens needed" in capsys.readouterr().err
    spaces = tmp_path / "spaces.txt"  # 200 bytes, but runs of spaces merge into a few tokens
    spaces.write_text(" " * 200, encoding="utf-8")
    assert main(["kv", "evaluate", "--text", str(spaces), "--tokens", "64", "--continuation",
                 "8", "--threads", "1"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "spaces.txt:" in err and "fewer than the 73 needed" in err
    assert main(["kv", "evaluate", "--text", os.__file__, "--policy", "lru"]) == 2
    assert "lru" in capsys.readouterr().err
    for tokens in ("0", "-5"):
        assert main(["kv", "parity", "--text", os.__file__, "--tokens", tokens]) == 2
        assert f"--tokens must be >= 8, got {tokens}" in capsys.readouterr().err


def test_limits_match_the_loaded_model():
    """The CLI's context limit and attention-map count (kept torch-free) equal the model's config."""
    model, _ = shared_model()
    assert kv_cli.MAX_CONTEXT == model.config.max_position_embeddings == 8192
    assert kv_cli.ATTENTION_MAPS == model.config.num_hidden_layers * model.config.num_attention_heads


def test_attention_bytes_exact():
    """4 bytes x 270 maps x (T^2 + 2 C (T + C)): 512 + 64 tokens -> 362,741,760 bytes."""
    assert kv_cli.attention_bytes(512, 64) == 4 * 270 * (512 * 512 + 2 * 64 * 576) == 362_741_760
    assert kv_cli.attention_bytes(8192) == 72_477_573_120


def test_tokens_beyond_the_context_exit_2_with_one_line(capsys):
    """--tokens past 8,192 (with the continuation or the greedy steps) exits 2 with one line."""
    for argv, msg in (
            (["evaluate", "--tokens", "9000"], ("--tokens 9000 + --continuation 64 exceeds "
                                                "SmolLM2-135M's 8192-token context; use at most "
                                                "8128 context tokens")),
            (["evaluate", "--tokens", "8100", "--continuation", "8", "--greedy", "100"],
             "--tokens 8100 + --greedy 100 exceeds"),
            (["parity", "--tokens", "8193"], "--tokens 8193 exceeds")):
        assert main(["kv", *argv, "--text", os.__file__]) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and msg in err


def test_parity_needs_65_tokens_with_snapkv_and_runs_below_without(capsys):
    """snapkv under 65 tokens is refused in one line; without it 8-token parity is exact."""
    assert main(["kv", "parity", "--text", os.__file__, "--tokens", "64"]) == 2
    err = capsys.readouterr().err
    assert err == ("heurist kv: error: --tokens must be >= 65 for snapkv (kvpress's SnapKV needs "
                   "more tokens than its 64-token window), got 64; raise --tokens or drop snapkv "
                   "from --policy\n")
    assert main(["kv", "evaluate", "--text", os.__file__, "--tokens", "64", "--policy", "snapkv",
                 "--parity", "kvpress"]) == 2
    assert "--tokens must be >= 65 for snapkv --parity kvpress" in capsys.readouterr().err
    rc = main(["kv", "parity", "--text", os.__file__, "--tokens", "8", "--budget", "0.25,1",
               "--policy", "streaming,tova,knorm,observed,random", "--json"])
    rows = json.loads(capsys.readouterr().out)
    assert rc == 0 and [r["identical_sets"] for r in rows] == [1.0] * 10


def test_validation_and_help_import_neither_torch_nor_transformers():
    """`heurist kv evaluate --help` and a refused flag import no torch, transformers or rich."""
    code = ("import os, sys\nfrom heurist.cli import main\n"
            "for argv in (['kv', 'evaluate', '--help'], ['kv', 'parity', '--help'],\n"
            "             ['kv', 'evaluate', '--text', os.__file__, '--budget', '0']):\n"
            "    try:\n        main(argv)\n    except SystemExit:\n        pass\n"
            "print([m for m in ('torch', 'transformers', 'rich') if m in sys.modules])")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip().splitlines()[-1] == "[]"


def test_allocation_flag_splits_the_same_budget_and_uniform_changes_nothing(capsys):
    """--allocation ada,s0.75 names its rows policy+split at the same kept count; uniform gives
    the equal split's exact KL."""
    argv = ["kv", "evaluate", "--text", os.__file__, "--tokens", "64", "--continuation", "8",
            "--budget", "0.25", "--policy", "observed", "--greedy", "0", "--json"]
    assert main(argv) == 0
    equal = json.loads(capsys.readouterr().out)
    assert main([*argv, "--allocation", "uniform"]) == 0
    assert json.loads(capsys.readouterr().out) == equal
    assert main([*argv, "--allocation", "ada,s0.75"]) == 0
    (split,) = json.loads(capsys.readouterr().out)
    assert split["policy"] == "observed+ada,s0.75" and split["n_kept"] == equal[0]["n_kept"] == 16
    assert split["kl"] > 0.0 and split["kl"] != equal[0]["kl"]


@pytest.mark.parametrize("extra,message", [
    (["--allocation", "ada,x1"], "--allocation: allocation 'ada,x1': expected parts uniform, ada,"),
    (["--allocation", "s0.5", "--mode", "decode"], "--allocation s0.5 runs in --mode prefill only"),
])
def test_bad_allocation_exits_2_with_one_line(capsys, extra, message):
    """An unknown split or a split in decode mode exits 2 with one line, before the model runs."""
    assert main(["kv", "evaluate", "--text", os.__file__, "--tokens", "64", *extra]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and message in err

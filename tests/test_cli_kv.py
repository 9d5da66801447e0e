"""``heurist kv evaluate``/``parity`` on the real model and a real text: JSON keys and exact
full-cache values, and clean errors for bad input."""
import json
import os

import pytest
import torch

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
    """A missing file, a too-short text, an unknown policy and a parity --tokens below 8 each exit
    2 naming the problem."""
    assert main(["kv", "evaluate", "--text", str(tmp_path / "nope.txt")]) == 2
    assert "nope.txt" in capsys.readouterr().err
    short = tmp_path / "short.txt"
    short.write_text("only a few words", encoding="utf-8")
    assert main(["kv", "evaluate", "--text", str(short), "--tokens", "64"]) == 2
    assert "short.txt" in capsys.readouterr().err
    assert main(["kv", "evaluate", "--text", os.__file__, "--policy", "lru"]) == 2
    assert "lru" in capsys.readouterr().err
    for tokens in ("0", "-5"):
        assert main(["kv", "parity", "--text", os.__file__, "--tokens", tokens]) == 2
        assert f"need --tokens >= 8, got {tokens}" in capsys.readouterr().err

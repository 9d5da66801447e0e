"""``heurist simulate``: JSON and table output, predictors, and clean errors."""
from __future__ import annotations

import json

import numpy as np

from heurist.cli import main
from heurist.envs.paging import write_oracle_general


def run_json(capsys, argv):
    assert main(argv) == 0
    return json.loads(capsys.readouterr().out)


def test_json_rows_hold_the_required_keys(tmp_path, capsys):
    """--json prints one object per (trace, policy) with exact miss counts."""
    path = tmp_path / "t.txt"
    path.write_text("\n".join(map(str, [1, 2, 3, 4, 1, 2, 5, 1, 2, 3, 4, 5])))
    rows = run_json(capsys, ["simulate", str(path), "--cache-size", "3", "--policy",
                             "opt,LRU,fifo", "--json"])
    assert [(r["policy"], r["misses"]) for r in rows] == [("OPT", 7), ("LRU", 10), ("FIFO", 9)]
    for row in rows:
        assert row["trace"] == str(path) and row["cache_size"] == 3 and row["requests"] == 12


def test_predictor_and_multiple_traces(tmp_path, capsys):
    """--predictor feeds the learning-augmented policies; several traces give several rows."""
    a = tmp_path / "a.txt"
    a.write_text("1\n2\n3\n1\n2\n3\n")
    b = write_oracle_general(tmp_path / "b.bin", np.array([5, 6, 5, 7, 6, 5]))
    rows = run_json(capsys, ["simulate", str(a), str(b), "-k", "2", "--policy",
                             "blindoracle,discard,opt", "--predictor", "exact+discard:0", "--json"])
    assert len(rows) == 6
    by = {(r["trace"], r["policy"]): r["misses"] for r in rows}
    for trace in (str(a), str(b)):
        assert by[(trace, "BlindOracle")] == by[(trace, "Discard")] == by[(trace, "OPT")]
    assert by[(str(a), "OPT")] == 4


def test_all_without_predictor_skips_predictive_policies(tmp_path, capsys):
    """--policy all without a predictor runs only the policies that need no predictions."""
    path = tmp_path / "t.txt"
    path.write_text("1\n2\n1\n")
    rows = run_json(capsys, ["simulate", str(path), "-k", "1", "--policy", "all", "--json"])
    names = {r["policy"] for r in rows}
    assert {"OPT", "LRU", "ARC", "S3-FIFO", "Marker"} <= names
    assert "BlindOracle" not in names and "Discard" not in names


def test_table_output(tmp_path, capsys):
    """Without --json a table names the policies and counts."""
    path = tmp_path / "t.txt"
    path.write_text("1\n2\n1\n")
    assert main(["simulate", str(path), "-k", "1", "--policy", "lru"]) == 0
    out = capsys.readouterr().out
    assert "LRU" in out and "t.txt" in out


def test_errors_exit_2_with_message(tmp_path, capsys):
    """Unknown policies list valid names; missing predictions and bad files exit 2 cleanly."""
    path = tmp_path / "t.txt"
    path.write_text("1\n2\n")
    assert main(["simulate", str(path), "-k", "2", "--policy", "lru,nope"]) == 2
    err = capsys.readouterr().err
    assert "unknown paging policy 'nope'" in err and "S3-FIFO" in err
    assert main(["simulate", str(path), "-k", "2", "--policy", "blindoracle"]) == 2
    assert "needs predictions" in capsys.readouterr().err
    assert main(["simulate", str(tmp_path / "missing.txt"), "-k", "2"]) == 2
    assert "not found" in capsys.readouterr().err
    assert main(["simulate", str(path), "-k", "2", "--predictor", "psychic"]) == 2
    assert "bad predictor" in capsys.readouterr().err


def test_huge_cache_needs_no_memory_and_counts_compulsory_misses(tmp_path, capsys):
    """-k 2**70 runs every policy (predictive ones too) with one miss per distinct page, exactly
    as at k = #pages, instead of allocating 2**70 slots."""
    path = tmp_path / "t.txt"
    path.write_text("\n".join(str(i % 7) for i in range(50)) + "\n")
    base = ["simulate", str(path), "--policy", "all", "--predictor", "exact+discard:0+phase:0",
            "--json"]
    huge = run_json(capsys, [*base, "-k", str(2**70)])
    exact = run_json(capsys, [*base, "-k", "7"])
    assert len(huge) == 20 and {r["misses"] for r in huge} == {7}
    assert [r["misses"] for r in huge] == [r["misses"] for r in exact]
    assert {r["cache_size"] for r in huge} == {2**70}


def test_all_with_a_predictor_runs_the_policies_it_can_feed(tmp_path, capsys):
    """'all' with next-arrival predictions only skips the discard- and phase-bit policies."""
    path = tmp_path / "t.txt"
    path.write_text("\n".join(str(i % 5) for i in range(40)) + "\n")
    rows = run_json(capsys, ["simulate", str(path), "-k", "3", "--policy", "all",
                             "--predictor", "exact", "--json"])
    names = {r["policy"] for r in rows}
    assert "BlindOracle" in names and "Discard" not in names and "Mark&Predict" not in names
    assert len(names) == 17

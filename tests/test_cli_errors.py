"""Argument errors anywhere in the ``heurist`` command line: exit 2 and one stderr line that says
where to look, never argparse's usage block."""
from __future__ import annotations

import pytest

from heurist.cli import main

BK0 = "envs/data/paging/brightkite/bk0.txt"


def exit_code(argv: list[str]) -> int:
    try:
        return main(argv)
    except SystemExit as stop:  # argparse exits from inside parse_args
        return int(stop.code)


@pytest.mark.parametrize("argv, where", [
    ([], "heurist"),
    (["bogus"], "heurist"),
    (["--bogus"], "heurist"),
    (["kv"], "heurist kv"),
    (["kv", "bogus"], "heurist kv"),
    (["kv", "evaluate"], "heurist kv evaluate"),
    (["simulate"], "heurist simulate"),
    (["simulate", BK0, "-k", "x"], "heurist simulate"),
    (["simulate", BK0, "-k", "10", "--bogus"], "heurist"),
    (["plan", "x.csv", "--seed", "1"], "heurist plan"),
    (["route", "x.npz", "--method", "pyvrp", "--weights", "0.9", "--out", "r.json"],
     "heurist route"),
    (["route", "x.npz", "--method", "nope", "--out", "r.json"], "heurist route"),
])
def test_argument_errors_are_one_line(capsys, argv, where):
    """Exit 2, one stderr line naming the command and its --help, nothing on stdout."""
    assert exit_code(argv) == 2
    out, err = capsys.readouterr()
    assert out == "" and err.count("\n") == 1
    assert err.startswith(f"{where}: error: ") and f"see '{where} --help'" in err


def test_a_warning_is_one_line(tmp_path):
    """A skipped '#' header warns in one stderr line naming the file and line; the run succeeds."""
    import subprocess
    import sys

    path = tmp_path / "t.txt"
    path.write_text("#id\n1\n2\n1\n")
    done = subprocess.run([sys.executable, "-m", "heurist.cli", "simulate", str(path), "-k", "1",
                           "--json"], capture_output=True, text=True, check=False)
    assert done.returncode == 0
    assert done.stderr == (f"heurist simulate: warning: {path}:1: skipped 1 line(s) starting "
                           "with '#' (a header or comment, not a page id)\n")

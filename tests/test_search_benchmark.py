"""scripts/benchmark_search.py: its planning-quality measure and its command line (a tiny run
writes the table; bad flags exit 2 with one line on stderr). No timing is asserted here."""
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "scripts" / "benchmark_search.py"


def run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(SCRIPT), *args], cwd=ROOT, capture_output=True,
                          text=True, check=False)


def test_quality_measure_is_exact_and_deterministic():
    """At 64 sims per move, Gumbel (g = 0) solves 51 of the 64 seeded games and PUCT 38."""
    sys.path.insert(0, str(ROOT / "scripts"))
    try:
        import benchmark_search
    finally:
        sys.path.remove(str(ROOT / "scripts"))
    assert benchmark_search.solved_fraction("gumbel", 64)[0] == 51 / 64
    assert benchmark_search.solved_fraction("puct", 64)[0] == 38 / 64


def test_tiny_run_writes_the_table(tmp_path):
    """B 2, A 3, 4 sims, one repeat: four rows (2 policies x 2 models) in the markdown table."""
    out = tmp_path / "search.md"
    proc = run("--batch", "2", "--actions", "3", "--simulations", "4", "--repeats", "1",
               "--out", str(out))
    assert proc.returncode == 0, proc.stderr
    rows = [line for line in out.read_text().splitlines() if line.startswith("| ")]
    assert [r.split(" | ")[:4] for r in rows[1:]] == [
        ["| gumbel", "mlp", "2", "3"], ["| puct", "mlp", "2", "3"],
        ["| gumbel", "noop", "2", "3"], ["| puct", "noop", "2", "3"]]


@pytest.mark.parametrize("args, flag", [
    (["--actions", "0"], "--actions"),
    (["--batch", "0"], "--batch"),
    (["--out", "/nonexistent-dir/x.md"], "/nonexistent-dir"),
])
def test_bad_flags_exit_2_with_one_line(args, flag):
    """A bad flag exits 2 before any work, with one stderr line naming it."""
    proc = run(*args)
    assert proc.returncode == 2
    assert len(proc.stderr.strip().splitlines()) == 1 and flag in proc.stderr

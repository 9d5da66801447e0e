"""The suite's skip rule (tests/conftest.py): a skip fails unless the test is marked optional,
and a module that skips at import is a collection error, so CI cannot go silently green."""
import shutil
import subprocess
import sys
from pathlib import Path

CONFTEST = Path(__file__).resolve().parent / "conftest.py"
TESTS = '''
import pytest
def test_ok(): pass
def test_skipped(): pytest.skip("no libfoo")
@pytest.mark.optional
def test_optional(): pytest.skip("no model")
@pytest.mark.skipif(True, reason="never runs")
def test_skipif(): pass
'''


def _pytest(folder: Path, *args: str) -> subprocess.CompletedProcess:
    shutil.copy(CONFTEST, folder / "conftest.py")
    (folder / "pytest.ini").write_text("[pytest]\nmarkers =\n    optional: may skip\n")
    return subprocess.run([sys.executable, "-m", "pytest", "-p", "no:cacheprovider", *args],
                          cwd=folder, check=False, capture_output=True, text=True, timeout=120)


def test_unmarked_skips_fail_and_optional_ones_may_skip(tmp_path):
    """pytest.skip and skipif fail the run; only the optional test is reported skipped."""
    (tmp_path / "test_a.py").write_text(TESTS)
    proc = _pytest(tmp_path, "-rfEs")
    assert proc.returncode == 1
    last = proc.stdout.strip().splitlines()[-1]
    assert last.startswith("=") and " 1 failed, 1 passed, 1 skipped, 1 error in " in last
    assert "skipped, but the test is not marked @pytest.mark.optional: Skipped: no libfoo" \
        in proc.stdout
    assert "SKIPPED [1] test_a.py:6: no model" in proc.stdout


def test_module_skipping_at_import_is_a_collection_error(tmp_path):
    """A module-level importorskip stops the run with a collection error (exit 2)."""
    (tmp_path / "test_b.py").write_text(
        'import pytest\npytest.importorskip("no_such_module_xyz")\ndef test_x(): pass\n')
    proc = _pytest(tmp_path)
    assert proc.returncode == 2
    assert ("test_b.py skipped at collection; skip single tests marked @pytest.mark.optional "
            "instead: Skipped: could not import 'no_such_module_xyz'") in proc.stdout

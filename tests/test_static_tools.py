"""Static tools see the package: jedi and mypy resolve ``heurist.*`` from outside the repository
through the editable install's plain path entry (``src/``), and the wheel ships ``py.typed``."""
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import jedi

import heurist
import heurist.envs

ROOT = Path(__file__).resolve().parents[1]
MYPY_TARGETS = ["-p", "heurist.envs.common", "-m", "heurist.envs", "-m", "heurist.cli",
                "-m", "heurist"]


def test_heurist_is_a_regular_package_in_the_repo():
    """``heurist.__file__`` is the link farm's __init__.py and ``heurist.envs`` is envs/."""
    assert Path(heurist.__file__) == ROOT / "src" / "heurist" / "__init__.py"
    assert Path(heurist.envs.__file__).resolve() == ROOT / "envs" / "__init__.py"


def test_jedi_goes_to_make_from_outside_the_repo(tmp_path):
    """jedi's goto-definition of ``heurist.envs.make`` in a script outside the repo lands in envs/."""
    script = tmp_path / "use_heurist.py"
    script.write_text("from heurist.envs import make\nmake\n")
    env = jedi.create_environment(sys.executable, safe=False)
    found = jedi.Script(script.read_text(), path=script, environment=env).goto(
        2, 1, follow_imports=True)
    assert [(Path(d.module_path).resolve(), d.name, d.type) for d in found] == [
        (ROOT / "envs" / "common" / "registry.py", "make", "function")]


def test_mypy_is_clean_on_the_public_api(tmp_path):
    """mypy, run outside the repo with mypy.ini, finds no issue in envs/common and the public APIs."""
    proc = subprocess.run([sys.executable, "-m", "mypy", "--config-file", str(ROOT / "mypy.ini"),
                           "--cache-dir", str(ROOT / ".mypy_cache"), *MYPY_TARGETS],
                          cwd=tmp_path, capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]
    assert proc.stdout.startswith("Success: no issues found in ")


def test_wheel_ships_py_typed(tmp_path):
    """The built wheel carries heurist/py.typed (PEP 561), so users' type checkers read it."""
    # setuptools' build and egg-info folders go to tmp_path too: a stale build/ in the repo
    # could otherwise put files into the wheel that the sources no longer have
    extra = tmp_path / "extra.cfg"
    extra.write_text(f"[build]\nbuild_base = {tmp_path / 'build'}\n"
                     f"[egg_info]\negg_base = {tmp_path}\n")
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation",
                    "-q", "-w", str(tmp_path / "dist"), str(ROOT)], check=True,
                   capture_output=True, env=dict(os.environ, DIST_EXTRA_CONFIG=str(extra)))
    names = zipfile.ZipFile(next((tmp_path / "dist").glob("heurist-*.whl"))).namelist()
    assert "heurist/py.typed" in names and "heurist/__init__.py" in names

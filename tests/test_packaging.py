"""The package installs as the ``heurist`` namespace, with a computed package list and configs."""
import importlib
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
TOP = ("envs", "agents", "policies", "configs", "cli")


@pytest.mark.parametrize("name", ["envs", "agents", "policies", "cli"])
def test_bare_top_level_import_fails(name):
    """Only ``heurist.<name>`` is importable; a bare ``import <name>`` must fail."""
    code = f"import sys; sys.path = [p for p in sys.path if p not in ('', '.')]; import {name}"
    proc = subprocess.run([sys.executable, "-c", code], check=False, cwd="/", capture_output=True,
                          text=True)
    assert proc.returncode != 0, f"bare `import {name}` succeeded: {proc.stdout}"
    assert "ModuleNotFoundError" in proc.stderr


@pytest.mark.parametrize("name", TOP)
def test_namespace_import_works(name):
    """Each top-level folder imports as ``heurist.<name>`` and exports ``__all__``."""
    module = importlib.import_module(f"heurist.{name}")
    assert Path(module.__file__).resolve().parent == ROOT / name
    assert isinstance(module.__all__, list) and all(hasattr(module, n) for n in module.__all__)


def _folders_with_init(top: str) -> set[str]:
    return {".".join(("heurist",) + p.parent.relative_to(ROOT).parts)
            for p in (ROOT / top).rglob("__init__.py") if "__pycache__" not in p.parts}


# Generated at the top of a working tree; a wheel built there must not depend on them.
_TOP_GENERATED = {".git", "build", "dist", "data", "outputs", "multirun", "wandb", "runs"}
_CACHES = {"__pycache__", ".pytest_cache", ".hypothesis", ".mypy_cache", ".ruff_cache",
           ".import_linter_cache"}


def _ignore_generated(src: str, names: list[str]) -> set[str]:
    top = Path(src) == ROOT
    return {n for n in names if n in _CACHES or n.endswith(".egg-info")
            or (top and n in _TOP_GENERATED)}


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> zipfile.ZipFile:
    """The wheel of a copy of the source tree, built entirely under a temporary folder (setuptools
    builds in the source tree: a build/ left in the repo could be packed)."""
    tmp = tmp_path_factory.mktemp("wheel")
    src, out = tmp / "src", tmp / "dist"
    shutil.copytree(ROOT, src, symlinks=True, ignore=_ignore_generated)  # keeps src/heurist's links
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation",
                    "-q", "-w", str(out), str(src)], check=True, capture_output=True)
    return zipfile.ZipFile(next(out.glob("heurist-*.whl")))


def test_wheel_ships_data_licences_and_cli(wheel):
    """The shipped data sets (every file of envs/data, MiniMalloc's LICENSE among them) and the
    CLI package are in the wheel."""
    names = set(wheel.namelist())
    for path in ("heurist/envs/data/paging/brightkite/bk0.txt",
                 "heurist/envs/data/malloc/minimalloc-challenging/LICENSE",
                 "heurist/cli/__init__.py"):
        assert path in names, path
    shipped = {"heurist/envs/" + p.relative_to(ROOT / "envs").as_posix()
               for p in (ROOT / "envs" / "data").rglob("*") if p.is_file()}
    assert shipped - names == set()
    assert len([n for n in shipped if n.endswith(".txt") and "/brightkite/" in n]) == 100


def test_wheel_contains_every_subpackage(wheel):
    """Every folder with an ``__init__.py`` lands in the wheel (the package list is computed)."""
    names = set(wheel.namelist())
    expected = set().union(*(_folders_with_init(t) for t in TOP))
    missing = [p for p in expected if p.replace(".", "/") + "/__init__.py" not in names]
    assert not missing, f"sub-packages missing from the wheel: {missing}"


def test_wheel_ships_hydra_configs(wheel):
    """Every YAML config under configs/ ships as package data of ``heurist.configs``."""
    names = set(wheel.namelist())
    yamls = [p.relative_to(ROOT) for p in (ROOT / "configs").rglob("*.yaml")]
    missing = [str(p) for p in yamls if "heurist/" + p.as_posix() not in names]
    assert not missing, f"configs missing from the wheel: {missing}"


@pytest.mark.parametrize("imports", [
    "gymnasium, heurist.envs", "heurist.envs, gymnasium",
    # torchrl asks find_spec("gymnasium") first, which imports nothing
    "heurist.envs, importlib.util; importlib.util.find_spec('gymnasium'); import gymnasium"])
def test_gym_ids_exist_after_importing_heurist_envs(imports):
    """``gymnasium.make("heurist/<Name>-v0")`` works right after ``import heurist.envs`` (README),
    whether gymnasium was imported before or after (then through the import hook)."""
    code = (f"import sys, {imports}; "
            "gymnasium.make('heurist/Paging-v0', cache_size=4); "
            "print(sorted(i for i in gymnasium.registry if i.startswith('heurist/')))")
    proc = subprocess.run([sys.executable, "-c", code], check=False, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.strip() == str(["heurist/KVCache-v0", "heurist/Malloc-v0", "heurist/PVRP-v0",
                                       "heurist/PVRPSequential-v0", "heurist/Paging-v0"])

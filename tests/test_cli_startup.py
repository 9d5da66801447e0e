"""``heurist --help`` answers without importing the heavy stack, and the CLI's static command
table agrees with the sub-command modules."""
import argparse
import importlib
import pkgutil
import re
import subprocess
import sys
from pathlib import Path

import pytest

from heurist import cli

HEAVY = ("torch", "torchrl", "tensordict", "numba", "numpy", "heurist.envs", "heurist.policies")


def _modules_after(code: str) -> set[str]:
    proc = subprocess.run([sys.executable, "-c", code + "\nimport sys; print(' '.join(sys.modules))"],
                          capture_output=True, text=True, check=True)
    return set(proc.stdout.split())


def test_help_imports_nothing_heavy():
    """Building the parser for ``heurist --help`` imports no torch, numba, numpy or env."""
    loaded = _modules_after("from heurist.cli import build_parser; build_parser('').format_help()")
    assert sorted(m for m in HEAVY if m in loaded) == []


def test_import_heurist_envs_imports_no_torch():
    """``import heurist.envs`` registers every env without torch, torchrl or gymnasium (its Gym
    ids wait for gymnasium's own import)."""
    loaded = _modules_after("import heurist.envs; assert len(heurist.envs.registered()) == 5")
    assert sorted(m for m in ("gymnasium", "torch", "torchrl", "tensordict") if m in loaded) == []


def _sub_help(parser: argparse.ArgumentParser) -> dict[str, str]:
    action = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return {c.dest: c.help for c in action._choices_actions}


def test_command_table_matches_the_modules():
    """COMMANDS names every sub-command module, with the help line its parser registers."""
    names = [m.name for m in pkgutil.iter_modules(cli.__path__) if m.name != "__main__"]
    modules = sorted(n for n in names
                     if hasattr(importlib.import_module(f"heurist.cli.{n}"), "register"))
    assert sorted(c.replace("-", "_") for c in cli.COMMANDS) == modules  # serve-bench: serve_bench.py
    assert _sub_help(cli.build_parser()) == cli.COMMANDS


def test_python_dash_m_runs_the_cli():
    """``python -m heurist.cli --help`` lists the sub-commands and exits 0."""
    proc = subprocess.run([sys.executable, "-m", "heurist.cli", "--help"], capture_output=True,
                          text=True, check=False)
    assert proc.returncode == 0
    assert re.search(r"simulate +replay paging traces through eviction policies", proc.stdout)


DATA = Path(__file__).resolve().parents[1] / "envs" / "data"
TORCH = ("torch", "torchrl", "tensordict")


@pytest.mark.parametrize("argv", [
    ["simulate", str(DATA / "paging" / "brightkite" / "bk0.txt"), "-k", "10", "--policy", "lru"],
    ["plan", str(DATA / "malloc" / "minimalloc-challenging" / "input.12.csv"), "--method",
     "greedy_size", "--out", "{out}"],
], ids=["simulate", "plan"])
def test_numeric_commands_import_no_torch(argv, tmp_path):
    """``heurist simulate`` and ``heurist plan`` run without importing torch (seconds of start-up)."""
    argv = [a.replace("{out}", str(tmp_path / "plan.csv")) for a in argv]
    loaded = _modules_after(f"from heurist.cli import main; assert main({argv!r}) == 0")
    assert sorted(m for m in TORCH if m in loaded) == []

"""Imports flow one way (cli > agents > policies > envs), enforced by import-linter's contract in
``.importlinter``; the package never imports ``scripts/`` or ``tests/``."""
import ast
import os
import subprocess
import sys
import textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGE_DIRS = ("envs", "policies", "agents", "cli", "configs")


def _lint(cwd: Path, config: Path, pythonpath: str | None = None) -> subprocess.CompletedProcess:
    env = dict(os.environ)
    if pythonpath:
        env["PYTHONPATH"] = pythonpath
    code = "import sys; from importlinter.cli import lint_imports_command; lint_imports_command()"
    return subprocess.run([sys.executable, "-c", code, str(config), "--no-cache"],
                          cwd=cwd, env=env, capture_output=True, text=True, check=False)


def test_package_imports_flow_one_way():
    """lint-imports keeps the layers contract of .importlinter on the real package."""
    proc = _lint(ROOT, ROOT / ".importlinter")
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]
    assert "Contracts: 1 kept, 0 broken." in proc.stdout


def test_contract_catches_an_upward_import_inside_a_function(tmp_path):
    """The same kind of contract breaks on a lower layer importing a higher one lazily."""
    pkg = tmp_path / "toy"
    (pkg / "envs").mkdir(parents=True)
    (pkg / "policies").mkdir()
    for d in (pkg, pkg / "envs", pkg / "policies"):
        (d / "__init__.py").write_text("")
    (pkg / "policies" / "greedy.py").write_text("import toy.envs\n")
    (pkg / "envs" / "oracle.py").write_text(textwrap.dedent("""
        def check():
            from toy.policies import greedy  # upward, deferred into a function
            return greedy
        """))
    config = tmp_path / ".importlinter"
    config.write_text(textwrap.dedent("""
        [importlinter]
        root_package = toy
        [importlinter:contract:layers]
        name = toy layers
        type = layers
        layers =
            toy.policies
            toy.envs
        """))
    proc = _lint(tmp_path, config, pythonpath=str(tmp_path))
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "Contracts: 0 kept, 1 broken." in proc.stdout
    assert "toy.envs.oracle -> toy.policies.greedy" in proc.stdout


def _imported_roots(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module)
    return names


def test_package_never_imports_scripts_or_tests():
    """No module of the package imports scripts/ or tests/ (they sit on top, outside it)."""
    bad = []
    for top in PACKAGE_DIRS:
        for path in sorted((ROOT / top).rglob("*.py")):
            for name in _imported_roots(path):
                parts = name.split(".")
                if parts[0] in ("scripts", "tests") or parts[:2] in (["heurist", "scripts"],
                                                                     ["heurist", "tests"]):
                    bad.append(f"{path.relative_to(ROOT)} imports {name}")
    assert bad == []

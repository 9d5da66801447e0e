"""Every env folder has the same shape: the same six files and a README with the same headings."""
import re
from pathlib import Path

import pytest

import heurist.envs

ROOT = Path(__file__).resolve().parents[1]
ENVS = ROOT / "envs"
FILES = ("env.py", "state.py", "generator.py", "oracle.py", "render.py", "README.md")
HEADINGS = ["## Decision", "## State and observation", "## Actions and mask",
            "## Reward and oracles", "## Instances and data", "## Baselines", "## Files"]
FOLDERS = sorted(p.name for p in ENVS.iterdir()
                 if p.is_dir() and p.name not in ("common", "data", "__pycache__"))


def test_every_registered_env_lives_in_an_env_folder():
    """The folders found here are exactly the ones the registry's envs live in."""
    homes = {target.split(".")[2] for target, _ in heurist.envs.ENVS.values()}
    assert FOLDERS == sorted(homes)


@pytest.mark.parametrize("folder", FOLDERS)
def test_env_folder_has_the_common_files(folder):
    """env.py, state.py, generator.py, oracle.py, render.py and README.md are all there."""
    assert [f for f in FILES if not (ENVS / folder / f).is_file()] == []


@pytest.mark.parametrize("folder", FOLDERS)
def test_env_readme_has_the_common_headings(folder):
    """The README's level-2 headings are exactly the common ones, in order."""
    text = (ENVS / folder / "README.md").read_text(encoding="utf-8")
    # a "## " line inside a code block is not a heading
    text = re.sub(r"^```.*?^```", "", text, flags=re.DOTALL | re.MULTILINE)
    assert [line.rstrip() for line in text.splitlines() if line.startswith("## ")] == HEADINGS

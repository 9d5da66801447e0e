"""Packages the top-level folders as ``heurist.<folder>``.

``src/heurist/`` is a link farm: one symlink per top-level folder of code (``envs -> ../../envs``,
...) next to the package's own ``__init__.py`` and ``py.typed``. Packaging ``src/`` the ordinary
way makes the editable install a plain path entry (``src/`` in a ``.pth`` file) instead of an
import hook, so jedi, mypy and IDEs resolve ``heurist.*``, and ``import envs`` stays impossible.
The package list is computed from the links, so a new sub-package can never be missing from the
wheel, and a new top-level folder needs only its link. See docs/ARCHITECTURE.md.
"""
from pathlib import Path

from setuptools import find_packages, setup

FARM = Path(__file__).resolve().parent / "src" / "heurist"
TOP = sorted(p.name for p in FARM.iterdir() if p.is_symlink())
if not TOP:
    raise ValueError(f"{FARM} has no links to the top-level folders: is this a clone with "
                     "symlinks disabled (git config core.symlinks)?")

packages = ["heurist"]
for top in TOP:
    packages.append(f"heurist.{top}")
    packages += [f"heurist.{top}.{sub}" for sub in find_packages(str(FARM / top))]

setup(
    packages=packages,
    package_dir={"": "src"},
    package_data={"heurist": ["py.typed"], "heurist.configs": ["*.yaml", "**/*.yaml"],
                  "heurist.envs": ["data/**/*"], "heurist.policies": ["artifacts/**/*"],
                  "": ["*.md"]},
    include_package_data=True,
)

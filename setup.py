"""Maps the top-level folders onto the ``heurist`` namespace.

The package list is computed, so a new sub-package can never be missing from the wheel.
"""
from setuptools import find_packages, setup

TOP = ("envs", "agents", "policies", "configs", "cli")

package_dir = {f"heurist.{top}": top for top in TOP}
packages = []
for top in TOP:
    packages.append(f"heurist.{top}")
    packages += [f"heurist.{top}.{sub}" for sub in find_packages(top)]

setup(
    packages=packages,
    package_dir=package_dir,
    package_data={"heurist.configs": ["*.yaml", "**/*.yaml"],
                  "heurist.envs": ["data/**/*"], "": ["*.md"]},
    include_package_data=True,
)

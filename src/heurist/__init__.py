"""heurist: resource decisions of ML systems as RL problems.

The code lives in the repository's top-level folders (``envs/``, ``policies/``, ``agents/``,
``configs/``, ``cli/``); this folder links them under one importable package, so the editable
install is a plain path entry that static tools (jedi, mypy, IDEs) follow. See docs/ARCHITECTURE.md.
"""

__all__: list[str] = []

"""The artifacts shipped inside the package (``heurist/policies/artifacts/NAME``): which belong to
which env, and how a ``NAME|PATH`` spec resolves to a folder.

JSON and paths only, no torch, so the CLI can resolve names before it imports any network.
"""
from __future__ import annotations

import json
from pathlib import Path

__all__ = ["ARTIFACTS", "read_manifest_or_none", "resolve_artifact", "shipped_artifacts"]

#: the package's shipped artifacts, one folder each (every env's)
ARTIFACTS = Path(__file__).resolve().parent / "artifacts"


def read_manifest_or_none(folder: Path) -> dict | None:
    """The folder's ``manifest.json`` as a dict, or ``None`` when it is missing or not a JSON object."""
    try:
        m = json.loads((folder / "manifest.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return m if isinstance(m, dict) else None


def shipped_artifacts(env_names: tuple[str, ...]) -> dict[str, Path]:
    """Name -> folder of the shipped artifacts whose manifest's ``env.name`` is one of ``env_names``."""
    out = {}
    for p in sorted(ARTIFACTS.iterdir()) if ARTIFACTS.is_dir() else ():
        m = read_manifest_or_none(p)
        env = m.get("env") if m else None
        if isinstance(env, dict) and env.get("name") in env_names:
            out[p.name] = p
    return out


def resolve_artifact(spec: str, shipped: dict[str, Path]) -> Path | None:
    """The folder of ``spec``: a shipped name first, else an existing folder; ``None`` otherwise
    (the caller words the error, naming what ships)."""
    if spec in shipped:
        return shipped[spec]
    path = Path(spec).expanduser()
    return path if path.is_dir() else None

"""Where the real data sets are: shipped inside the package, or under ``$HEURIST_DATA``.

``data_dir("paging/brightkite")`` is the folder of that set. ``$HEURIST_DATA``, when set, is a
folder with the same layout (``paging/...``, ``malloc/...``) and takes precedence, so a user can
point every default at a newer or larger copy without editing configs.
"""
from __future__ import annotations

import os
from pathlib import Path

__all__ = ["SHIPPED", "data_dir"]

SHIPPED = Path(__file__).resolve().parents[1] / "data"


def data_dir(name: str) -> Path:
    """The folder of data set ``name`` (e.g. ``"paging/brightkite"``,
    ``"malloc/minimalloc-challenging"``); ``FileNotFoundError`` says where it looked."""
    root = Path(os.environ["HEURIST_DATA"]) if os.environ.get("HEURIST_DATA") else SHIPPED
    path = root / name
    if not path.is_dir():
        hint = ("unset HEURIST_DATA to use the shipped copy" if root != SHIPPED
                else "reinstall heurist: the shipped data is missing")
        raise FileNotFoundError(f"data set {name!r} not found at {path} ({hint})")
    return path

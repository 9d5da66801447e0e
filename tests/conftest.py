"""Shared fixtures: where the read-only real data lies (``../shared/data`` from the repo root,
or ``$HEURIST_DATA``); data-driven tests skip cleanly when it is absent."""
import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DATA = Path(os.environ.get("HEURIST_DATA", ROOT.parent / "shared" / "data"))


@pytest.fixture(scope="session")
def shared_data() -> Path:
    if not DATA.is_dir():
        pytest.skip(f"shared data not found at {DATA} (set HEURIST_DATA)")
    return DATA

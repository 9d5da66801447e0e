"""Shared fixtures: the real data sets, shipped inside the package (``heurist.envs`` ``data/``)
or under ``$HEURIST_DATA`` when that is set. Nothing skips for missing data: it always ships."""
from pathlib import Path

import pytest

from heurist.envs.common.data import SHIPPED

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The root of the data sets (``paging/brightkite``, ``malloc/minimalloc-challenging``)."""
    import os

    return Path(os.environ["HEURIST_DATA"]) if os.environ.get("HEURIST_DATA") else SHIPPED

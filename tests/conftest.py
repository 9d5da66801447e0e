"""Shared fixtures and the suite's one rule on skips.

The data sets ship inside the package (``heurist.envs`` ``data/``; ``$HEURIST_DATA`` overrides), so
nothing skips for missing data. A skip is a failure unless the test is marked
``@pytest.mark.optional`` (for something a reader may legitimately lack): a skipped test that was
meant to run is a silent green. A whole module may never skip at import
(``pytest.importorskip`` at module level): that is reported as a collection error.
"""
from pathlib import Path

import pytest

from heurist.envs.common.data import SHIPPED

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The root of the data sets (``paging/brightkite``, ``malloc/minimalloc-challenging``)."""
    import os

    return Path(os.environ["HEURIST_DATA"]) if os.environ.get("HEURIST_DATA") else SHIPPED


@pytest.fixture
def one_thread():
    """Tiny tensors: torch's thread pool only adds contention on the shared cores (10x here).
    Modules with small networks use it for every test: ``pytestmark = usefixtures("one_thread")``."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def _reason(report) -> str:
    longrepr = report.longrepr
    return longrepr[2] if isinstance(longrepr, tuple) and len(longrepr) == 3 else str(longrepr)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    """Turns the skip of a test not marked ``optional`` into a failure that says why."""
    outcome = yield
    report = outcome.get_result()
    if (report.skipped and not hasattr(report, "wasxfail")
            and item.get_closest_marker("optional") is None):
        report.outcome = "failed"
        report.longrepr = (f"skipped, but the test is not marked @pytest.mark.optional: "
                           f"{_reason(report)}")


@pytest.hookimpl(hookwrapper=True)
def pytest_make_collect_report(collector):
    """A module that skips as a whole at import becomes a collection error."""
    outcome = yield
    report = outcome.get_result()
    if report.skipped:
        report.outcome = "failed"
        report.longrepr = (f"{collector.nodeid} skipped at collection; skip single tests marked "
                           f"@pytest.mark.optional instead: {_reason(report)}")

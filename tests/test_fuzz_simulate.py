"""Fuzzing the trace loaders and ``heurist simulate`` with generated good and bad files."""
from __future__ import annotations

import itertools
import json

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from heurist.cli import main
from heurist.envs.paging import load_trace

TOKENS = st.one_of(
    st.integers(0, 30).map(str),
    st.sampled_from(["", " ", "#id", "# comment", "-1", "007", "18446744073709551616", "a,b",
                     "x y", "1.5", "\t", "\ufeff1"]),
    st.binary(min_size=1, max_size=3).map(lambda b: b.decode("latin-1")),
)
TEXT = st.lists(TOKENS, max_size=12).map("\n".join)
SUFFIX = st.sampled_from([".txt", ".csv", ".bin"])
SETTINGS = settings(max_examples=120, deadline=None,
                    suppress_health_check=[HealthCheck.function_scoped_fixture,
                                           HealthCheck.too_slow])
_files = itertools.count()


def write(tmp_path, body: bytes, suffix: str):
    path = tmp_path / f"fuzz{next(_files)}{suffix}"
    path.write_bytes(body)
    return path


@SETTINGS
@given(st.one_of(TEXT.map(lambda t: t.encode("utf-8", "replace")), st.binary(max_size=80)),
       SUFFIX)
def test_loader_returns_or_names_the_file(tmp_path, body, suffix):
    """load_trace either loads dense ids or raises one ValueError naming the file."""
    path = write(tmp_path, body, suffix)
    try:
        trace = load_trace(path)
    except ValueError as exc:
        message = str(exc)
        assert str(path) in message and "\n" not in message.strip()
    else:  # dense ids in order of first appearance
        seen = 0
        for page in trace.tolist():
            assert page <= seen
            seen = max(seen, page + 1)


@SETTINGS
@given(st.one_of(TEXT.map(lambda t: t.encode("utf-8", "replace")), st.binary(max_size=80)),
       SUFFIX, st.sampled_from(["1", "3", str(2**70)]),
       st.sampled_from(["lru", "opt,arc", "s3fifo,clock", "all"]))
def test_simulate_exit_codes_on_generated_files(tmp_path, capsys, body, suffix, k, policy):
    """heurist simulate on any file: JSON rows (exit 0) with misses <= requests, or exit 2 with
    one stderr line naming the file, and no traceback."""
    path = write(tmp_path, body, suffix)
    rc = main(["simulate", str(path), "-k", k, "--policy", policy, "--json"])
    captured = capsys.readouterr()
    if rc == 2:
        lines = captured.err.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("heurist simulate: error: ")
        assert path.name in lines[0] and "Traceback" not in captured.err
    else:
        assert rc == 0
        rows = json.loads(captured.out)
        assert rows and all(0 < r["misses"] <= r["requests"] for r in rows)

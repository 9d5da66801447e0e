"""Fuzzing the MiniMalloc CSV loader and ``heurist plan`` with generated good and bad files."""
import csv
import io
import itertools

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from heurist.cli import main
from heurist.envs.malloc import read_csv

# Field tokens: valid integers, edge integers around int64, garbage, quoting, bad bytes.
FIELDS = st.one_of(
    st.integers(0, 40).map(str),
    st.sampled_from(["-1", "-5", "0", "07", "+3", "9223372036854775807", "9223372036854775808",
                     "-9223372036854775809", "1" * 30, "16777217", "", " ", "x", "1.5", "1e3",
                     "nan", '"a,b"', '"q""x"', '"', "a b", "#id"]),
    st.binary(min_size=1, max_size=3).map(lambda b: b.decode("latin-1")),
)
HEADERS = st.sampled_from(["id,lower,upper,size", "id,lower,upper,size,offset", "id,lower,size",
                           "lower,upper,size,id", "\ufeffid,lower,upper,size", "", "id;lower"])
GOOD_ROW = st.tuples(st.integers(0, 10**6), st.integers(0, 20), st.integers(1, 20),
                     st.integers(0, 16)).map(lambda r: f"{r[0]},{r[1]},{r[1] + r[2]},{r[3]}")
ROWS = st.lists(st.one_of(GOOD_ROW, st.lists(FIELDS, min_size=0, max_size=6).map(",".join)),
                max_size=8)
ENCODINGS = st.sampled_from(["utf-8", "latin-1"])
SETTINGS = settings(max_examples=120, deadline=None,
                    suppress_health_check=[HealthCheck.function_scoped_fixture,
                                           HealthCheck.too_slow])


def csv_bytes(header: str, rows: list[str], encoding: str) -> bytes:
    return "\n".join([header, *rows]).encode(encoding, errors="replace")


_files = itertools.count()


@SETTINGS
@given(HEADERS, ROWS, ENCODINGS)
def test_loader_returns_or_names_the_file(tmp_path, header, rows, encoding):
    """read_csv either loads a file or raises one ValueError naming it (never another error)."""
    path = tmp_path / f"fuzz{next(_files)}.64.csv"
    path.write_bytes(csv_bytes(header, rows, encoding))
    try:
        inst, _ = read_csv(path)
    except ValueError as exc:
        message = str(exc)
        assert message.startswith(f"{path}:") and "\n" not in message.strip()
    else:  # one buffer per non-blank record after the header
        text = path.read_bytes().decode("utf-8-sig")
        records = list(csv.reader(io.StringIO(text, newline="")))[1:]
        assert inst.n == sum(1 for r in records if any(f.strip() for f in r))


@SETTINGS
@given(HEADERS, ROWS, ENCODINGS, st.sampled_from(["greedy_size", "first_fit", "msa"]))
def test_plan_exit_codes_on_generated_files(tmp_path, capsys, header, rows, encoding, method):
    """heurist plan on any file: exit 2 with one stderr line naming the file and an untouched
    output, or a plan (exit 0/1) that reads back with every buffer."""
    src = tmp_path / f"fuzz{next(_files)}.64.csv"
    src.write_bytes(csv_bytes(header, rows, encoding))
    out = tmp_path / "out.csv"
    out.write_text("old plan\n")
    rc = main(["plan", str(src), "--method", method, "--out", str(out)])
    captured = capsys.readouterr()
    if rc == 2:
        lines = captured.err.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("heurist plan: error: ")
        assert src.name in lines[0] and "Traceback" not in captured.err
        assert out.read_text() == "old plan\n"
    else:
        assert rc in (0, 1)
        assert read_csv(out, capacity=64)[0].n == read_csv(src)[0].n


@pytest.mark.parametrize("argv, msg", [
    (["--seed", str(2**70)], "--seed must be in 0..2147483647"),
    (["--seed", "-1"], "--seed must be in 0..2147483647"),
    (["--capacity", str(2**63)], "--capacity must be in 0..2^63-1"),
    (["--workers", "0"], "--workers must be in 1.."),
    (["--time-limit=-inf"], "--time-limit must be finite and > 0"),
])
def test_bad_flags_are_checked_before_the_file_is_read(tmp_path, capsys, argv, msg):
    """Flag errors come first, even when the input does not exist: one line, exit 2."""
    out = tmp_path / "o.csv"
    rc = main(["plan", str(tmp_path / "missing.8.csv"), "--method", "msa", *argv, "--out",
               str(out)])
    err = capsys.readouterr().err
    assert rc == 2 and err.count("\n") == 1 and msg in err and not out.exists()

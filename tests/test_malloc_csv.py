"""MiniMalloc CSV reading and writing, on hand-made and the real A..K files."""
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from heurist.envs.malloc import (
    SLOW,
    MallocInstance,
    MemoryConfig,
    capacity_from_name,
    read_csv,
    write_csv,
)
from heurist.envs.malloc.oracle import peak_live_bytes

CHALLENGING = "malloc/minimalloc-challenging"


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def test_capacity_from_file_name():
    """The capacity is the number among the dot-separated parts of the file name."""
    assert capacity_from_name("A.1048576.csv") == 1048576
    assert capacity_from_name("/x/input.12.csv") == 12
    assert capacity_from_name("plain.csv") is None


@settings(max_examples=40, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.tuples(st.integers(0, 50), st.integers(1, 30), st.integers(0, 1000),
                          st.integers(-1, 5000)), min_size=0, max_size=25),
       st.booleans(), st.booleans())
def test_round_trip(tmp_path, rows, with_offsets, text_ids):
    """write_csv then read_csv gives back the same buffers, ids and offsets."""
    n = len(rows)
    lower = [r[0] for r in rows]
    upper = [r[0] + r[1] for r in rows]
    inst = MallocInstance.from_intervals([r[2] for r in rows], lower, upper,
                                         ids=np.arange(n) * 3 + 7,
                                         labels=tuple(f"b{i}" for i in range(n)) if text_ids
                                         else (), memory=MemoryConfig(capacity=99))
    offsets = np.array([r[3] for r in rows], dtype=np.int64) if with_offsets else None
    path = tmp_path / "rt.99.csv"
    write_csv(path, inst, offsets)
    back, back_offsets = read_csv(path)
    assert back.capacity == 99
    for field in ("size", "start", "end"):
        assert getattr(back, field).tolist() == getattr(inst, field).tolist()
    if text_ids:
        assert back.labels == inst.labels
    else:
        assert back.ids.tolist() == inst.ids.tolist()
    if with_offsets:
        assert back_offsets.tolist() == offsets.tolist()
    else:
        assert back_offsets is None


@pytest.mark.parametrize("body, match", [
    ("id,lower,size\n0,0,4\n", r":1: missing column 'upper'"),
    ("id,lower,upper,size\n0,0,3,4\n1,0,2,-4\n", r":3: negative size -4"),
    ("id,lower,upper,size\n0,3,3,4\n", r":2: upper 3 <= lower 3"),
    ("id,lower,upper,size\n0,0,3,4\n1,1,2,4\n0,5,6,1\n", r":4: duplicate id 0 \(first on line 2\)"),
    ("id,lower,upper,size\n0,0,3,4.5\n", r":2: column 'size' must be an integer"),
    ("id,lower,upper,size\n0,0,x,4\n", r":2: column 'upper' must be an integer"),
    ("id,lower,upper,size\n0,0,3\n", r":2: 3 fields, header has 4"),
    ("id,lower,upper,size,offset\n0,0,3,4,-2\n", r":2: offset -2 is negative"),
    ("", r":1: empty file"),
])
def test_bad_input_names_file_and_line(tmp_path, body, match):
    """Malformed CSVs raise ValueError with 'FILE:LINE: reason'."""
    path = write(tmp_path, "bad.16.csv", body)
    with pytest.raises(ValueError, match=rf"bad\.16\.csv{match}"):
        read_csv(path)


# Labels a MiniMalloc id may hold: commas, quotes and line breaks included (surrounding spaces are
# dropped on reading, and all-digit labels read back as integer ids, so neither is generated).
LABELS = st.text(alphabet='ab,"\' ;\n\r', min_size=1, max_size=6).filter(
    lambda x: x == x.strip() and not x.isdigit())


@settings(max_examples=60, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(LABELS, min_size=1, max_size=8, unique=True))
def test_round_trip_of_quoted_labels(tmp_path, labels):
    """Ids with commas, quotes or line breaks are written quoted and read back unchanged."""
    n = len(labels)
    inst = MallocInstance.from_intervals([4] * n, [0] * n, [2] * n, labels=tuple(labels),
                                         memory=MemoryConfig(capacity=99))
    write_csv(tmp_path / "q.99.csv", inst, np.arange(n) * 4)
    back, offsets = read_csv(tmp_path / "q.99.csv")
    assert back.labels == tuple(labels) and offsets.tolist() == (np.arange(n) * 4).tolist()


@pytest.mark.parametrize("body, match", [
    (b"id,lower,upper,size\n0,0,2,9223372036854775808\n",
     r":2: column 'size' value 9223372036854775808 is out of range"),
    (b"id,lower,upper,size\n0,0,2," + b"9" * 5000 + b"\n", r":2: column 'size' value 9{40} is out"),
    (b"id,lower,upper,size\n0,0,2,9223372036854775807\n1,0,2,1\n",
     r":3: the sizes so far sum to 9223372036854775808 >= 2\^63"),
    (b"id,lower,upper,size\n0,0,16777217,4\n", r":2: upper 16777217 is beyond 16777216 op steps"),
    (b"id,lower,upper,size\n0,0,2,4\n1,0,\xff2,4\n", r":3: not UTF-8 text \(byte 0xff at offset 32\)"),
    (b"id,lower,upper,size\n" + b"x" * 200_000 + b",0,2,4\n",
     r":2: malformed CSV \(field larger than field limit"),
])
def test_out_of_range_and_undecodable_files_name_file_and_line(tmp_path, body, match):
    """Values beyond int64, size sums that would wrap, huge times and non-UTF-8 bytes name the
    file and line instead of overflowing or failing later."""
    path = tmp_path / "bad.16.csv"
    path.write_bytes(body)
    with pytest.raises(ValueError, match=rf"bad\.16\.csv{match}"):
        read_csv(path)


def test_directory_and_bom(tmp_path):
    """A directory says so (not 'not found'); a UTF-8 byte-order mark before the header is fine."""
    (tmp_path / "d.4.csv").mkdir()
    with pytest.raises(ValueError, match=r"d\.4\.csv: is a directory"):
        read_csv(tmp_path / "d.4.csv")
    (tmp_path / "bom.4.csv").write_bytes(b"\xef\xbb\xbfid,lower,upper,size\n0,0,2,4\n")
    assert read_csv(tmp_path / "bom.4.csv")[0].size.tolist() == [4]


def test_capacity_sources(tmp_path):
    """--capacity beats the file name; no capacity anywhere is a clear error."""
    body = "id,lower,upper,size\n0,0,3,4\n"
    assert read_csv(write(tmp_path, "x.16.csv", body), capacity=5)[0].capacity == 5
    assert read_csv(write(tmp_path, "x.16.csv", body))[0].capacity == 16
    mem = MemoryConfig(capacity=3, alignment=2)
    assert read_csv(write(tmp_path, "y.csv", body), memory=mem)[0].memory == mem
    with pytest.raises(ValueError, match="no capacity"):
        read_csv(write(tmp_path, "y.csv", body))


def test_missing_file_is_file_not_found(tmp_path):
    """A missing file raises FileNotFoundError naming it."""
    with pytest.raises(FileNotFoundError, match="nope.csv"):
        read_csv(tmp_path / "nope.csv")


def test_example_input_12(shared_data):
    """MiniMalloc's 5-buffer example loads with text ids, capacity 12 and peak live 12."""
    inst, offsets = read_csv(shared_data / CHALLENGING / "input.12.csv")
    assert offsets is None
    assert inst.labels == ("b1", "b2", "b3", "b4", "b5")
    assert inst.capacity == 12 and inst.size.tolist() == [4] * 5
    assert inst.start.tolist() == [0, 3, 0, 9, 0] and inst.end.tolist() == [3, 9, 9, 21, 21]
    assert peak_live_bytes(inst) == 12


def test_real_challenging_files(shared_data):
    """A..K load with 154-454 buffers each; peak live bytes equal the capacity on exactly 8."""
    files = sorted((shared_data / CHALLENGING).glob("[A-K].1048576.csv"))
    assert [f.name[0] for f in files] == list("ABCDEFGHIJK")
    counts, zero_slack = [], []
    for f in files:
        inst, _ = read_csv(f)
        assert inst.capacity == 1048576
        counts.append(inst.n)
        zero_slack.append(peak_live_bytes(inst) == inst.capacity)
    assert min(counts) == 154 and max(counts) == 454
    assert counts == sorted(counts)
    assert sum(zero_slack) == 8
    assert [f.name[0] for f, z in zip(files, zero_slack) if not z] == ["C", "D", "J"]


def test_slow_offsets_survive_write(tmp_path):
    """A plan with SLOW (-1) entries is written and read back unchanged."""
    inst = MallocInstance.from_intervals([4, 4], [0, 0], [2, 2], memory=MemoryConfig(capacity=4))
    write_csv(tmp_path / "p.4.csv", inst, np.array([0, SLOW]))
    assert read_csv(tmp_path / "p.4.csv")[1].tolist() == [0, SLOW]

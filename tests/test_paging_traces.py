"""Trace loaders, densification and the synthetic generators of heurist.envs.paging."""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from heurist.envs.paging import (
    densify,
    generators,
    load_trace,
    next_arrival_indices,
    phase_ids,
    read_oracle_general,
    write_oracle_general,
)


def test_densify_numbers_ids_by_first_appearance():
    """densify maps ids to 0..n-1 in order of first appearance, for strings and integers."""
    assert densify(np.array(["b", "a", "b", "c", "a"])).tolist() == [0, 1, 0, 2, 1]
    assert densify(np.array([70, -3, 70, 5])).tolist() == [0, 1, 0, 2]
    assert densify(np.array([], dtype=np.int64)).tolist() == []


@settings(max_examples=60, deadline=None)
@given(st.lists(st.integers(-5, 5), max_size=40))
def test_densify_preserves_equality_structure(ids):
    """densify keeps exactly which requests share a page, and first appearances count up by one."""
    out = densify(np.array(ids, dtype=np.int64))
    for i in range(len(ids)):
        for j in range(len(ids)):
            assert (out[i] == out[j]) == (ids[i] == ids[j])
    firsts = [out[i] for i in range(len(ids)) if ids[i] not in ids[:i]]
    assert firsts == list(range(len(firsts)))


def test_lines_loader_skips_blank_lines(tmp_path):
    """The lines format reads one token per line, skipping blank lines."""
    path = tmp_path / "t.txt"
    path.write_text("ff01\n\nab\nff01\n  cd  \n")
    assert load_trace(path).tolist() == [0, 1, 0, 2]


def test_lines_loader_names_file_and_line_on_two_tokens(tmp_path):
    """A line with two fields is a ValueError naming the file and the line number."""
    path = tmp_path / "bad.txt"
    path.write_text("1\n2\n3 4\n")
    with pytest.raises(ValueError, match=r"bad\.txt:3"):
        load_trace(path)


def test_csv_loader_by_header_name_and_index(tmp_path):
    """csv picks its id column by header name or index; a header row is detected, also above
    non-integer ids."""
    path = tmp_path / "t.csv"
    path.write_text("time,obj\n0,7\n1,9\n2,7\n")
    assert load_trace(path, column="obj").tolist() == [0, 1, 0]
    assert load_trace(path, column=1).tolist() == [0, 1, 0]
    assert load_trace(path).tolist() == [0, 1, 2]  # column 0 holds the times
    path.write_text("obj,size\nab12,10\nff03,20\nab12,10\n")  # hashed ids under a header
    assert load_trace(path).tolist() == [0, 1, 0]
    path.write_text("ab12,10\nff03,20\nab12,10\n")  # the same without one
    assert load_trace(path).tolist() == [0, 1, 0]


def test_csv_loader_errors_name_line(tmp_path):
    """Missing column, short row and empty id are ValueErrors naming file and line."""
    path = tmp_path / "t.csv"
    path.write_text("time,obj\n0,7\n1\n")
    with pytest.raises(ValueError, match=r"t\.csv:3"):
        load_trace(path, column="obj")
    with pytest.raises(ValueError, match=r"no column 'nope'"):
        load_trace(path, column="nope")
    path.write_text("a,b\n1,\n")
    with pytest.raises(ValueError, match=r"t\.csv:2: empty page id"):
        load_trace(path, column="b")


def test_oracle_general_round_trip(tmp_path):
    """Writing an oracleGeneral file and loading it returns the densified trace and next accesses."""
    trace = np.array([40, 7, 40, 40, 9, 7], dtype=np.int64)
    path = write_oracle_general(tmp_path / "t.oracleGeneral.bin", trace)
    assert path.stat().st_size == 24 * trace.size
    assert load_trace(path).tolist() == densify(trace).tolist()
    records = read_oracle_general(path)
    assert records["next_access_vtime"].tolist() == [2, 5, 3, -1, -1, -1]
    assert records["obj_id"].tolist() == trace.tolist()


def test_oracle_general_errors_name_record(tmp_path):
    """A truncated record or a next access in the past is a ValueError naming the record."""
    path = write_oracle_general(tmp_path / "t.bin", np.array([1, 2, 1]))
    raw = path.read_bytes()
    (tmp_path / "cut.bin").write_bytes(raw[:-5])
    with pytest.raises(ValueError, match=r"cut\.bin: record 2: truncated"):
        load_trace(tmp_path / "cut.bin")
    records = read_oracle_general(path).copy()
    records["next_access_vtime"][1] = 0
    records.tofile(tmp_path / "past.bin")
    with pytest.raises(ValueError, match=r"past\.bin: record 1"):
        load_trace(tmp_path / "past.bin")


def test_loader_rejects_bad_arguments(tmp_path):
    """Unknown formats, empty files, missing files and binary text are clear errors."""
    path = tmp_path / "e.txt"
    path.write_text("\n\n")
    with pytest.raises(ValueError, match="empty trace"):
        load_trace(path)
    with pytest.raises(ValueError, match="unknown trace format"):
        load_trace(path, fmt="parquet")
    with pytest.raises(FileNotFoundError):
        load_trace(tmp_path / "missing.txt")
    (tmp_path / "b.txt").write_bytes(b"\xff\xfe\x00")
    with pytest.raises(ValueError, match="not a UTF-8"):
        load_trace(tmp_path / "b.txt")


def test_brightkite_files_load(shared_data):
    """The 100 BrightKite traces load with 2,100 requests each and dense ids."""
    files = sorted((shared_data / "paging" / "brightkite").glob("*.txt"))
    assert len(files) == 100
    trace = load_trace(files[0])
    assert trace.shape == (2100,) and trace.dtype == np.int64
    assert trace[0] == 0 and trace.max() == np.unique(trace).size - 1


GENERATORS = [
    (generators.zipf, {"n_pages": 50, "alpha": 1.0}),
    (generators.loop, {"n_pages": 7, "noise": 0.1}),
    (generators.scan, {"n_hot": 5, "scan_length": 10, "scan_prob": 0.05}),
    (generators.marking_adversary, {"cache_size": 4, "n_new": 2}),
    (generators.prefix_cache_blocks, {}),
]


@pytest.mark.parametrize(("fn", "kwargs"), GENERATORS, ids=lambda x: getattr(x, "__name__", ""))
def test_generators_are_seeded_int64(fn, kwargs):
    """Each generator returns int64 [length] and repeats itself for the same seed."""
    a = fn(300, rng=np.random.default_rng(3), **kwargs)
    b = fn(300, rng=np.random.default_rng(3), **kwargs)
    assert a.dtype == np.int64 and a.shape == (300,) and (a >= 0).all()
    assert np.array_equal(a, b)


def test_zipf_popularity_is_skewed():
    """Zipf with alpha=1 over 100 pages: the top page takes about 1/H_100 = 19% of requests."""
    trace = generators.zipf(20000, n_pages=100, alpha=1.0, rng=np.random.default_rng(0))
    share = np.bincount(trace).max() / trace.size
    assert 0.17 < share < 0.21
    assert trace.max() < 100


def test_loop_cycles():
    """loop without noise is a cyclic scan."""
    trace = generators.loop(20, n_pages=6, rng=np.random.default_rng(1))
    assert np.array_equal(np.diff(trace) % 6, np.ones(19, dtype=np.int64))


def test_marking_adversary_phases_have_k_distinct_pages():
    """Every phase of the adversary holds k distinct pages, n_new of them absent from the last."""
    k, n_new = 5, 2
    trace = generators.marking_adversary(5 * 12, cache_size=k, n_new=n_new,
                                         rng=np.random.default_rng(2))
    phases = phase_ids(trace, k)
    assert phases.max() == 11
    previous = None
    for p in range(12):
        pages = set(trace[phases == p].tolist())
        assert len(pages) == k and (phases == p).sum() == k
        if previous is not None:
            assert len(pages - previous) == n_new
        previous = pages


def test_prefix_cache_blocks_share_system_prompts():
    """Prefix-cache traces re-read shared system-prompt blocks and re-read history on later turns."""
    trace = generators.prefix_cache_blocks(3000, n_system_prompts=4, system_blocks=8,
                                           rng=np.random.default_rng(5))
    system = trace < 4 * 8
    assert system.mean() > 0.2  # system prompt blocks are a large shared part
    private = trace[~system]
    assert np.unique(private).size < private.size  # history blocks are re-read
    assert (next_arrival_indices(trace) >= 0).mean() > 0.5


def test_multi_tenant_keeps_tenants_disjoint():
    """multi_tenant offsets tenants into disjoint id ranges and keeps each tenant's order."""
    a, b = np.array([0, 1, 2]), np.array([0, 0, 1])
    out = generators.multi_tenant(30, tenants=[a, b], weights=[1, 1], rng=np.random.default_rng(0))
    from_a = out[out < 3]
    assert np.array_equal(from_a, np.resize(a, from_a.size))
    assert np.array_equal(out[out >= 3] - 3, np.resize(b, (out >= 3).sum()))


def test_generator_argument_errors():
    """Generators reject bad sizes and probabilities with ValueError."""
    rng = np.random.default_rng(0)
    with pytest.raises(ValueError, match="n_pages"):
        generators.zipf(10, n_pages=0, alpha=1.0, rng=rng)
    with pytest.raises(ValueError, match="scan_prob"):
        generators.scan(10, n_hot=2, scan_length=2, scan_prob=2.0, rng=rng)
    with pytest.raises(ValueError, match="n_new"):
        generators.marking_adversary(10, cache_size=2, n_new=3, rng=rng)
    with pytest.raises(ValueError, match="weights"):
        generators.multi_tenant(10, tenants=[np.arange(2)], weights=[1, 1], rng=rng)

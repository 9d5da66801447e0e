"""Fuzz of ``heurist kv evaluate`` and ``kv parity`` flags, in process: one bad flag or file on an
otherwise valid call exits 2 with one stderr line naming the flag or file, no traceback, and the
model is never asked for (flags are checked before anything heavy loads)."""
import os
import string

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from heurist.cli import main
from heurist.cli.kv import MAX_CONTEXT
from heurist.policies.kv.registry import PARITY_POLICIES, POLICY_NAMES
from heurist.policies.kv.shared import shared_model

TEXT = os.__file__  # a real UTF-8 text of tens of kilobytes
BASE = {"evaluate": ["--tokens", "64", "--continuation", "8", "--budget", "0.5",
                     "--policy", "full", "--greedy", "0", "--json"],
        "parity": ["--tokens", "80", "--budget", "0.5", "--policy", "knorm", "--json"]}

ints = st.integers(min_value=-(2**80), max_value=2**80)
not_int = st.text(string.ascii_letters + ".-e ", min_size=1, max_size=6).filter(
    lambda s: not s.strip().lstrip("-").isdigit())
bad_fraction = st.one_of(
    st.floats(max_value=0.0, allow_nan=False).map(repr),
    st.floats(min_value=1.0, exclude_min=True).map(repr),
    st.sampled_from(["nan", "inf", "-inf", "", ",", "a", "0.5,x", "1e400"]))
name = st.text(min_size=1, max_size=8)  # any characters: newlines, surrogates, commas


def _names_only(spec, known):
    """True when ``spec`` is a valid comma list of ``known`` names (not a bad value)."""
    parts = [p.strip() for p in spec.split(",") if p.strip()]
    return bool(parts) and all(p in known for p in parts)


def _bad_flag(command):
    """(flag, value, what the error must name) for one bad value of one flag."""
    known = POLICY_NAMES if command == "evaluate" else tuple(PARITY_POLICIES)
    cases = [
        st.tuples(st.just("--tokens"), st.one_of(
            st.integers(max_value=7), st.integers(min_value=MAX_CONTEXT - 7)).map(str),
            st.just("--tokens")),
        st.tuples(st.just("--tokens"), not_int, st.just("--tokens")),
        st.tuples(st.just("--budget"), bad_fraction, st.just("--budget")),
        st.tuples(st.just("--policy"), name.filter(lambda n: not _names_only(n, known)), st.just("--policy")),
        st.tuples(st.just("--threads"), st.one_of(st.integers(max_value=-1),
                                                  st.integers(min_value=os.cpu_count() + 1)
                                                  ).map(str), st.just("--threads")),
        st.tuples(st.just("--seed"), st.one_of(st.integers(max_value=-1),
                                               st.integers(min_value=2**63)).map(str),
                  st.just("--seed")),
    ]
    if command == "evaluate":
        cases += [
            st.tuples(st.just("--continuation"), st.integers(max_value=0).map(str),
                      st.just("--continuation")),
            st.tuples(st.just("--greedy"), st.integers(max_value=-1).map(str), st.just("--greedy")),
            st.tuples(st.just("--mode"), name.filter(lambda n: n not in ("prefill", "decode")),
                      st.just("--mode")),
            st.tuples(st.just("--parity"), name.filter(lambda n: n not in ("heurist", "kvpress")),
                      st.just("--parity")),
        ]
    return st.one_of(cases)


def _run(argv, capsys):
    """Exit code, stderr of an in-process call (argparse's own errors raise SystemExit)."""
    try:
        rc = main(argv)
    except SystemExit as e:
        rc = e.code
    out = capsys.readouterr()
    return rc, out.err, out.out


def _assert_clean_refusal(rc, err, out, must_name):
    assert rc == 2
    assert err.endswith("\n") and err.count("\n") == 1, err  # exactly one line
    assert "Traceback" not in err and must_name in err
    assert out == ""


@pytest.mark.parametrize("command", ["evaluate", "parity"])
def test_one_bad_flag_exits_2_with_one_line_before_the_model_loads(command, capsys):
    """Any single bad flag value on a valid call: exit 2, one line naming the flag, no model."""
    calls = shared_model.cache_info()

    @settings(max_examples=60, deadline=None, derandomize=True,
              suppress_health_check=[HealthCheck.function_scoped_fixture])
    @given(bad=_bad_flag(command))
    def check(bad):
        flag, value, must_name = bad
        argv = ["kv", command, "--text", TEXT, *BASE[command], f"{flag}={value}"]
        _assert_clean_refusal(*_run(argv, capsys), must_name)

    check()
    after = shared_model.cache_info()
    assert (after.hits + after.misses) == (calls.hits + calls.misses)  # never called


@pytest.fixture(scope="module")
def bad_files(tmp_path_factory):
    """A corpus of unusable --text files: missing, a directory, empty, non-UTF-8, too short,
    a device."""
    d = tmp_path_factory.mktemp("kv_text")
    (d / "empty.txt").write_bytes(b"")
    (d / "latin1.txt").write_bytes("caf\xe9 au lait ".encode("latin-1") * 100)
    (d / "short.txt").write_text("a few words", encoding="utf-8")
    (d / "folder.txt").mkdir()
    return {"missing": d / "nope.txt", "directory": d / "folder.txt", "empty": d / "empty.txt",
            "not UTF-8": d / "latin1.txt", "too short": d / "short.txt", "device": "/dev/null"}


@pytest.mark.parametrize("command", ["evaluate", "parity"])
@pytest.mark.parametrize("kind", ["missing", "directory", "empty", "not UTF-8", "too short",
                                  "device"])
def test_unusable_text_file_exits_2_naming_the_file(command, kind, bad_files, capsys):
    """Each unusable --text file: exit 2, one line naming --text and the file, no model."""
    calls = shared_model.cache_info()
    path = str(bad_files[kind])
    rc, err, out = _run(["kv", command, "--text", path, *BASE[command]], capsys)
    _assert_clean_refusal(rc, err, out, f"--text {path}")
    after = shared_model.cache_info()
    assert (after.hits + after.misses) == (calls.hits + calls.misses)


@given(path=st.text(min_size=1, max_size=30))
@settings(max_examples=40, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_arbitrary_text_paths_are_refused_cleanly(path, capsys):
    """Random strings given as --text exit 2 with one line naming --text."""
    if os.path.isfile(path):  # hypothesis found a real file: not this test's subject
        return
    rc, err, out = _run(["kv", "evaluate", "--text", path, *BASE["evaluate"]], capsys)
    _assert_clean_refusal(rc, err, out, "--text")

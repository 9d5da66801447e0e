"""Fuzzing ``load_npz`` and ``heurist route`` with damaged and ill-formed files.

Every file is either solved (exit 0, valid JSON) or refused with exit 2 and one stderr line that
names the file, never a traceback, and an existing output file is never touched.
"""
from __future__ import annotations

import contextlib
import io
import json

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from heurist.cli import main
from heurist.envs.pvrp import KEYS, generate, load_npz

GOOD = generate(2, n_clients=4, n_vehicles=2, variant="zc", rng=3).arrays()

#: replacement values for one key: wrong shapes, dtypes and values
BAD_VALUES = st.sampled_from([
    np.zeros((0,)), np.zeros((2, 0)), np.zeros((2, 4, 2, 1)), np.array(3.0), np.array([np.nan] * 2),
    np.full((2, 4), np.inf), np.full((2, 4), -7), np.full((2, 4), 1e30), np.full((2, 2), 2**63 - 1),
    np.full((2, 2), 2**64 - 1, dtype=np.uint64), np.full((2, 4), 0.5), np.array(["x", "y"]),
    np.full((2, 4), 1 + 2j), np.zeros((2, 2, 4), dtype=bool), np.full((2, 2, 4), 2, dtype=np.int8),
    np.zeros((2, 2), dtype=np.float16), np.full((2, 2), 1e-320),
])


@st.composite
def bad_archive(draw, damage=None) -> bytes:
    """A .npz (as bytes) whose arrays were dropped, renamed, replaced, or whose bytes were cut or
    flipped (``damage`` None: any of "none", "cut", "flip")."""
    arrays = dict(GOOD)
    for key in draw(st.lists(st.sampled_from(KEYS), max_size=3, unique=True)):
        action = draw(st.sampled_from(["drop", "replace", "rename"]))
        if key not in arrays:
            continue
        if action == "drop":
            del arrays[key]
        elif action == "replace":
            arrays[key] = draw(BAD_VALUES)
        else:
            arrays[key + "_"] = arrays.pop(key)
    buf = io.BytesIO()
    (np.savez_compressed if draw(st.booleans()) else np.savez)(buf, **arrays)
    data = bytearray(buf.getvalue())
    damage = damage or draw(st.sampled_from(["none", "cut", "flip"]))
    if damage == "cut":
        data = data[:draw(st.integers(0, len(data) - 1))]
    elif damage == "flip":
        for _ in range(draw(st.integers(1, 4))):
            i = draw(st.integers(0, len(data) - 1))
            data[i] ^= draw(st.integers(1, 255))
    return bytes(data)


def _route(src, out) -> tuple[int, str]:
    err = io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
        rc = main(["route", str(src), "--method", "nearest", "--out", str(out), "--quiet"])
    return rc, err.getvalue()


@settings(max_examples=150, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(data=bad_archive())
def test_route_refuses_bad_archives_cleanly(tmp_path, data):
    """Exit 0 with valid JSON, or exit 2 with one line naming the file; the output survives."""
    src, out = tmp_path / "in.npz", tmp_path / "routes.json"
    src.write_bytes(data)
    out.write_text("previous")
    rc, err = _route(src, out)
    if rc == 0:
        assert len(json.loads(out.read_text())["instances"]) == 2
        return
    assert rc == 2
    assert err.startswith(f"heurist route: error: {src}: ") and err.count("\n") == 1, err
    assert "Traceback" not in err
    assert out.read_text() == "previous"


@settings(max_examples=100, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(data=bad_archive(damage="none"))
def test_load_npz_names_the_key_of_a_bad_array(tmp_path, data):
    """On an intact archive with bad arrays, load_npz validates or raises a one-line ValueError
    that starts with the path and names the key at fault (or says the archive holds none)."""
    src = tmp_path / "x.npz"
    src.write_bytes(data)
    try:
        load_npz(src)
    except ValueError as exc:
        msg = str(exc)
        assert msg.startswith(f"{src}: ") and "\n" not in msg
        assert "key '" in msg or "holds no arrays" in msg, msg


@settings(max_examples=40, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(seed=st.integers(-2**70, 2**70) | st.integers(-2, 2**32 + 2),
       time_limit=st.floats(max_value=0.0) | st.sampled_from([np.nan, np.inf, 1e-9, 0.05]),
       weights=st.tuples(*[st.floats().filter(lambda x: x != -np.inf)] * 2),
       limit=st.none() | st.integers(-2, 2**70), workers=st.integers(-3, 1),
       method=st.sampled_from(["nearest", "pyvrp"]), minmax=st.booleans())
def test_route_flags_are_solved_or_refused_cleanly(tmp_path, seed, time_limit, weights, limit,
                                                    workers, method, minmax):
    """Any numeric flag values: exit 0 with valid JSON, or exit 2 with one line naming a flag; the
    output survives a refusal."""
    src, out = tmp_path / "in.npz", tmp_path / "routes.json"
    np.savez(src, **GOOD)
    out.write_text("previous")
    # "--flag=value", and negative weights in plain decimals: argparse reads a bare "-1e+16" as
    # an option, not as a value (its own usage error, exit 2, before any of our checks); for the
    # same reason no "-inf" is drawn
    w = [f"{x:.30f}" if x < 0 else str(x) for x in weights]
    argv = ["route", str(src), "--method", method, f"--seed={seed}", f"--time-limit={time_limit}",
            "--weights", *w, f"--workers={workers}", "--out",
            str(out), "--quiet", *(["--minmax"] if minmax else []),
            *([f"--limit={limit}"] if limit is not None else [])]
    err = io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
        rc = main(argv)
    if rc == 0:
        assert json.loads(out.read_text())["method"] == method
        return
    msg = err.getvalue()
    assert rc == 2 and msg.count("\n") == 1 and "Traceback" not in msg, msg
    assert msg.startswith("heurist route: error: --"), msg
    assert out.read_text() == "previous"

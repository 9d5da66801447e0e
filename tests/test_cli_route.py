"""``heurist route``: JSON output that the oracle accepts, and clean errors for bad input."""
import json

import numpy as np
import pytest

from heurist.cli import main
from heurist.envs.pvrp import Weights, generate, save_npz
from heurist.policies.pvrp import check_routes, evaluate_routes


@pytest.mark.parametrize("method,variant", [("insertion", "p"), ("nearest", "zc"), ("random", "zc"),
                                            ("pyvrp", "zc"), ("ortools", "p")])
def test_route_writes_valid_routes(tmp_path, method, variant):
    """Every written solution passes the oracle and its objective equals the oracle's value."""
    inst = generate(2, n_clients=10, n_vehicles=3, variant=variant, rng=4)
    src, out = save_npz(tmp_path / "in.npz", inst), tmp_path / "routes.json"
    rc = main(["route", str(src), "--method", method, "--time-limit", "0.3", "--weights", "1.0",
               "0.5", "--out", str(out), "--quiet"])
    assert rc == 0
    data = json.loads(out.read_text())
    assert [r["index"] for r in data["instances"]] == [0, 1]
    weights = Weights(w_time=1.0, w_pref=0.5)
    for record in data["instances"]:
        one = inst[record["index"]]
        assert len(record["routes"]) == 3 and record["seconds"] >= 0
        assert check_routes(one, record["routes"], weights=weights).ok
        assert record["objective"] == pytest.approx(evaluate_routes(one, record["routes"], weights=weights))


def test_route_limit_workers_and_minmax(tmp_path):
    """--limit solves the first K instances; --workers 2 and --minmax work for heuristics."""
    src = save_npz(tmp_path / "in.npz", generate(5, n_clients=8, n_vehicles=2, rng=5))
    out = tmp_path / "r.json"
    assert main(["route", str(src), "--method", "insertion", "--limit", "3", "--workers", "2",
                 "--minmax", "--out", str(out), "--quiet"]) == 0
    data = json.loads(out.read_text())
    assert len(data["instances"]) == 3 and data["weights"]["minmax"] is True


def test_route_missing_file_and_bad_key(tmp_path, capsys):
    """A missing file or a file with a bad key exits 2 with a message naming file and key."""
    assert main(["route", str(tmp_path / "absent.npz"), "--method", "nearest", "--out",
                 str(tmp_path / "o.json")]) == 2
    assert "absent.npz" in capsys.readouterr().err
    arrays = generate(2, n_clients=4, n_vehicles=2, rng=1).arrays()
    arrays["demand"] = np.zeros((2, 5), dtype=np.int64)
    np.savez(tmp_path / "bad.npz", **arrays)
    assert main(["route", str(tmp_path / "bad.npz"), "--method", "nearest", "--out",
                 str(tmp_path / "o.json")]) == 2
    err = capsys.readouterr().err
    assert "bad.npz" in err and "'demand'" in err and not (tmp_path / "o.json").exists()


@pytest.mark.parametrize("limit", ["0", "nan", "inf"])
def test_route_rejects_a_time_limit_that_is_not_finite_and_positive(tmp_path, capsys, limit):
    """--time-limit 0, nan or inf exits 2 before solving (nan would also make the JSON invalid)."""
    src = save_npz(tmp_path / "in.npz", generate(1, n_clients=5, n_vehicles=2, rng=5))
    assert main(["route", str(src), "--method", "nearest", "--time-limit", limit, "--out",
                 str(tmp_path / "o.json"), "--quiet"]) == 2
    assert "--time-limit must be finite and > 0" in capsys.readouterr().err
    assert not (tmp_path / "o.json").exists()


def test_route_refuses_minmax_for_exact_solvers(tmp_path, capsys):
    """--minmax with pyvrp is a clean error (exit 2)."""
    src = save_npz(tmp_path / "in.npz", generate(1, n_clients=5, n_vehicles=2, rng=5))
    assert main(["route", str(src), "--method", "pyvrp", "--minmax", "--out",
                 str(tmp_path / "o.json"), "--quiet"]) == 2
    assert "min-max" in capsys.readouterr().err


def test_route_unknown_method(tmp_path):
    """An unknown --method is rejected by the parser."""
    with pytest.raises(SystemExit) as exc:
        main(["route", "x.npz", "--method", "tabu", "--out", str(tmp_path / "o.json")])
    assert exc.value.code == 2


def _bad_files(tmp_path):
    """(name, writer) pairs: files `heurist route` must refuse, each with the line it must print."""
    arrays = generate(2, n_clients=4, n_vehicles=2, rng=1).arrays()
    huge = {**arrays, "demand": arrays["demand"].astype(np.float64)}
    huge["demand"][0, 0] = 1e30
    obj = {**arrays, "depot": np.array([object(), object()], dtype=object)}
    text = {**arrays, "speed": np.array([["a", "b"], ["c", "d"]])}
    return {
        "empty.npz": (lambda p: np.savez(p), "the archive holds no arrays"),
        "array.npz": (lambda p: p.write_bytes(_npy_bytes()), "is a single .npy array"),
        "zero.npz": (lambda p: p.write_bytes(b""), "the file is empty (0 bytes)"),
        "random.npz": (lambda p: p.write_bytes(bytes(range(256))), "no zip signature"),
        "huge.npz": (lambda p: np.savez(p, **huge), "key 'demand': must be <= 2^24 = 16777216"),
        "object.npz": (lambda p: np.savez(p, **obj), "key 'depot': holds Python objects"),
        "text.npz": (lambda p: np.savez(p, **text), "key 'speed': must be numeric, got dtype <U1"),
    }


def _npy_bytes() -> bytes:
    import io

    buf = io.BytesIO()
    np.save(buf, np.arange(5))
    return buf.getvalue()


@pytest.mark.parametrize("name", ["empty.npz", "array.npz", "zero.npz", "random.npz", "huge.npz",
                                  "object.npz", "text.npz"])
def test_route_bad_files_exit_2_with_one_line(tmp_path, capsys, name):
    """Each bad file exits 2 with one stderr line naming the file (and key); the output survives."""
    write, needle = _bad_files(tmp_path)[name]
    src, out = tmp_path / name, tmp_path / "routes.json"
    write(src)
    out.write_text("previous")
    assert main(["route", str(src), "--method", "nearest", "--out", str(out), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith(f"heurist route: error: {src}: ")
    assert needle in err and "Traceback" not in err
    assert out.read_text() == "previous"


@pytest.mark.parametrize("flags,needle", [
    (["--seed", "-1"], "--seed must be in 0..4294967295 (PyVRP seeds are 32-bit unsigned), got -1"),
    (["--seed", "4294967295"], "--seed 4294967295: instance 1 would use seed 4294967296"),
    (["--weights", "nan", "1"], "--weights W_TIME W_PREF: w_time must be finite and >= 0, got nan"),
    (["--minmax"], "--minmax: pyvrp cannot solve the min-max objective"),
    (["--limit", "0"], "--limit must be >= 1, got 0"),
])
def test_route_bad_flags_exit_2_naming_the_flag(tmp_path, capsys, flags, needle):
    """Bad pyvrp flags exit 2 with one line naming the flag; the output survives."""
    src = save_npz(tmp_path / "in.npz", generate(2, n_clients=4, n_vehicles=2, rng=1))
    out = tmp_path / "routes.json"
    out.write_text("previous")
    assert main(["route", str(src), "--method", "pyvrp", *flags, "--out", str(out), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"heurist route: error: {needle}") and err.count("\n") == 1
    assert out.read_text() == "previous"


def test_route_checks_out_before_reading_the_input(tmp_path, capsys):
    """--out is judged first: a directory, the input itself or a path below a file exit 2 naming
    --out, even when the input does not exist (so no solve can have started)."""
    src = save_npz(tmp_path / "in.npz", generate(1, n_clients=4, n_vehicles=2, rng=1))
    before = src.read_bytes()
    cases = [(tmp_path, str(tmp_path / "absent.npz"), "is a directory; give a file path"),
             (src, str(src), "is the input file"),
             (src / "routes.json", str(tmp_path / "absent.npz"), "is a file, not a folder")]
    for out, inp, needle in cases:
        assert main(["route", inp, "--method", "nearest", "--out", str(out), "--quiet"]) == 2
        err = capsys.readouterr().err
        assert err.startswith(f"heurist route: error: --out {out}: ") and needle in err
        assert err.count("\n") == 1
    assert src.read_bytes() == before


def test_route_creates_missing_folders_and_leaves_no_temporary_file(tmp_path):
    """A missing output folder is created; only the output file is left in it."""
    src = save_npz(tmp_path / "in.npz", generate(1, n_clients=4, n_vehicles=2, rng=1))
    out = tmp_path / "a" / "b" / "routes.json"
    assert main(["route", str(src), "--method", "nearest", "--out", str(out), "--quiet"]) == 0
    assert [p.name for p in out.parent.iterdir()] == ["routes.json"]
    assert json.loads(out.read_text())["instances"][0]["index"] == 0


def test_route_bad_file_in_a_real_process(tmp_path):
    """The installed command itself: a .npy renamed .npz exits 2 with one stderr line, no traceback."""
    import subprocess
    import sys

    src = tmp_path / "renamed.npz"
    src.write_bytes(_npy_bytes())
    proc = subprocess.run([sys.executable, "-m", "heurist.cli", "route", str(src), "--method",
                           "nearest", "--out", str(tmp_path / "o.json")],
                          capture_output=True, text=True, check=False)
    assert proc.returncode == 2 and proc.stdout == ""
    assert proc.stderr == (f"heurist route: error: {src}: is a single .npy array, not a .npz "
                           "archive of the keys depot, locs, demand, capacity, speed, preference, "
                           "allowed (write it with numpy.savez)\n")

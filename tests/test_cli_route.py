"""``heurist route``: JSON output that the oracle accepts, and clean errors for bad input."""
import json

import numpy as np
import pytest

from heurist.envs.pvrp import Weights, generate, save_npz
from heurist.cli import main
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

"""``heurist plan`` end to end: reads a MiniMalloc CSV, writes the plan, reports as JSON."""
import json
import subprocess
import sys

import numpy as np
import pytest

from heurist.cli import main
from heurist.envs.malloc import SLOW, read_csv
from heurist.policies.malloc import check_plan

DIR = "malloc/minimalloc-challenging"


def run_plan(capsys, *argv):
    rc = main(["plan", *map(str, argv)])
    out, err = capsys.readouterr()
    return rc, out, err


def test_plan_example_json(shared_data, tmp_path, capsys):
    """input.12.csv is packed at its capacity; the JSON and the written CSV agree."""
    out_csv = tmp_path / "plan.csv"
    rc, out, _ = run_plan(capsys, shared_data / DIR / "input.12.csv", "--method", "greedy_size",
                          "--out", out_csv, "--json")
    assert rc == 0
    result = json.loads(out)
    assert result["peak"] == 12 and result["capacity"] == 12 and result["lower_bound"] == 12
    assert result["feasible"] is True and result["seconds"] >= 0
    inst, offsets = read_csv(out_csv, capacity=12)
    assert inst.labels == ("b1", "b2", "b3", "b4", "b5")
    assert check_plan(inst, offsets, mode="packing").valid


def test_plan_real_file_packing_exceeds_capacity(shared_data, tmp_path, capsys):
    """Greedy packing of A exceeds 2^20: exit 1 with a clear message, plan still written."""
    out_csv = tmp_path / "a.csv"
    rc, out, err = run_plan(capsys, shared_data / DIR / "A.1048576.csv", "--method", "msa",
                            "--out", out_csv, "--json")
    result = json.loads(out)
    assert rc == 1 and "no plan fits" in err
    assert result["feasible"] is False and result["capacity"] == 1048576
    assert result["peak"] == 1374208  # msa's deterministic peak on A
    assert result["lower_bound"] == 1048576
    inst, offsets = read_csv(out_csv, capacity=10**9)
    assert inst.n == 154 and (offsets >= 0).all()
    check = check_plan(inst, offsets, mode="packing")
    assert check.valid and check.peak == result["peak"]


def test_plan_real_file_mapping(shared_data, tmp_path, capsys):
    """Mapping mode on B: exit 0, SLOW offsets are -1, the speedup is below the LP bound's."""
    out_csv = tmp_path / "b.csv"
    rc, out, _ = run_plan(capsys, shared_data / DIR / "B.1048576.csv", "--mode", "mapping",
                          "--method", "first_fit", "--out", out_csv, "--json")
    assert rc == 0
    result = json.loads(out)
    inst, offsets = read_csv(out_csv, capacity=1048576)
    assert (offsets == SLOW).sum() == inst.n - result["n_fast"] > 0
    assert check_plan(inst, offsets, mode="mapping").valid
    assert result["n_fast"] == 149 and result["bytes_fast"] == 12437504
    assert result["speedup"] == pytest.approx(1.9315342865319838, rel=1e-12)
    assert result["saving"] == pytest.approx(2.8075538345276877e-05, rel=1e-12)
    assert result["saving_upper_bound"] == pytest.approx(4.0342694775244296e-05, rel=1e-6)


def test_plan_capacity_flag_and_cpsat(tmp_path, capsys):
    """--capacity overrides the name; CP-SAT finds the optimum a greedy order can miss."""
    src = tmp_path / "toy.csv"
    # Greedy-by-size puts the 2-byte buffers first at 0 and strands 'c': optimum is 4.
    src.write_text("id,lower,upper,size\na,0,2,2\nb,1,3,2\nc,0,1,2\nd,2,3,2\n")
    rc, out, _ = run_plan(capsys, src, "--capacity", 4, "--method", "cpsat", "--time-limit", 5,
                          "--out", tmp_path / "o.csv", "--json")
    assert rc == 0 and json.loads(out)["peak"] == 4


@pytest.mark.parametrize("argv, msg", [
    (["--method", "msa"], "no capacity"),
    (["--method", "msa", "--capacity", "-1"], "--capacity"),
    (["--method", "cpsat", "--capacity", "9", "--time-limit", "0"], "--time-limit"),
    (["--method", "skyline", "--capacity", "9", "--time-limit", "nan"], "--time-limit"),
    (["--method", "cpsat", "--capacity", "9", "--time-limit", "inf"], "--time-limit"),
])
def test_plan_bad_input_exit_2(tmp_path, capsys, argv, msg):
    """Bad arguments give exit 2 and 'heurist plan: error: ...'."""
    src = tmp_path / "toy.csv"
    src.write_text("id,lower,upper,size\n0,0,2,2\n")
    rc, _, err = run_plan(capsys, src, *argv, "--out", tmp_path / "o.csv")
    assert rc == 2 and err.startswith("heurist plan: error:") and msg in err


def test_plan_console_script_missing_file(tmp_path):
    """The command line (as the console script runs it) reports a missing input with exit 2."""
    entry = "import sys; from heurist.cli import main; sys.exit(main())"
    proc = subprocess.run([sys.executable, "-c", entry, "plan",
                           str(tmp_path / "none.4.csv"), "--method", "msa", "--out",
                           str(tmp_path / "o.csv")], capture_output=True, text=True, check=False)
    assert proc.returncode == 2 and "none.4.csv" in proc.stderr


def test_plan_text_output(tmp_path, capsys):
    """Without --json one summary line names method, peak and capacity."""
    src = tmp_path / "toy.8.csv"
    src.write_text("id,lower,upper,size\n0,0,2,4\n1,1,3,4\n")
    rc, out, _ = run_plan(capsys, src, "--method", "first_fit", "--out", tmp_path / "o.csv")
    assert rc == 0 and out.startswith("first_fit (packing): peak 8 / capacity 8")
    assert np.array_equal(read_csv(tmp_path / "o.csv", capacity=8)[1], [0, 4])


def test_plan_skyline_fits_real_file(shared_data, tmp_path, capsys):
    """The exact skyline search packs A within 2^20 from the command line (greedy cannot)."""
    rc, out, _ = run_plan(capsys, shared_data / DIR / "A.1048576.csv", "--method", "skyline",
                          "--time-limit", 2, "--out", tmp_path / "a.csv", "--json")
    result = json.loads(out)
    assert rc == 0 and result["feasible"] is True and result["peak"] <= 1048576
    rc, _, err = run_plan(capsys, shared_data / DIR / "A.1048576.csv", "--method", "skyline",
                          "--mode", "mapping", "--out", tmp_path / "b.csv")
    assert rc == 2 and "packing mode only" in err


def test_plan_ids_with_commas_read_back(tmp_path, capsys):
    """Ids holding commas and quotes are written with csv quoting: the plan reads back."""
    src = tmp_path / "q.8.csv"
    src.write_text('id,lower,upper,size\n"a,b",0,2,4\n"say ""hi""",1,3,4\nc,2,4,4\n')
    rc, _, _ = run_plan(capsys, src, "--method", "greedy_size", "--out", tmp_path / "o.csv")
    inst, offsets = read_csv(tmp_path / "o.csv", capacity=8)
    assert rc == 0 and inst.labels == ("a,b", 'say "hi"', "c")
    assert offsets.tolist() == [0, 4, 0]


@pytest.mark.parametrize("body, out_name, msg", [
    ("id,lower,upper,size\n0,0,2,4\n", "SELF", "is the input file"),
    ("id,lower,upper,size\n0,0,2,4\n", "DIR", "is a directory; give a file path such as"),
    ("id,lower,upper,size\n0,0,2,9223372036854775807\n1,0,2,1\n", "keep.csv",
     ":3: the sizes so far sum to 9223372036854775808 >= 2^63"),
    ("id,lower,upper,size\n0,0,2,4\n1,0,2,\udcff\n", "keep.csv", ":3: not UTF-8 text"),
])
def test_plan_bad_out_or_file_keeps_existing_output(tmp_path, capsys, body, out_name, msg):
    """--out the input or a directory, an int64-overflowing file or a non-UTF-8 one: exit 2, one
    line, and the existing output file is untouched."""
    src = tmp_path / "in.8.csv"
    src.write_bytes(body.encode("utf-8", errors="surrogateescape"))
    (tmp_path / "DIR").mkdir()
    keep = tmp_path / "keep.csv"
    keep.write_text("old\n")
    out = src if out_name == "SELF" else tmp_path / out_name
    rc, _, err = run_plan(capsys, src, "--method", "msa", "--out", out)
    assert rc == 2 and err.count("\n") == 1 and msg in err
    assert keep.read_text() == "old\n" and src.read_bytes().startswith(b"id,lower")


def test_plan_out_is_checked_before_reading_the_input(tmp_path, capsys):
    """A bad --out is reported even when the input is missing: nothing is read or planned first."""
    (tmp_path / "DIR").mkdir()
    rc, _, err = run_plan(capsys, tmp_path / "missing.8.csv", "--method", "msa", "--out",
                          tmp_path / "DIR")
    assert rc == 2 and "--out" in err and "missing.8.csv" not in err


def test_plan_status_packed_with_nodes(shared_data, tmp_path, capsys):
    """minimalloc packs G at 2^20: status packed, the recorded node count, wall seconds."""
    rc, out, _ = run_plan(capsys, shared_data / DIR / "G.1048576.csv", "--method", "minimalloc",
                          "--out", tmp_path / "g.csv", "--json")
    result = json.loads(out)
    assert rc == 0 and (result["status"], result["nodes"]) == ("packed", 507)
    assert result["peak"] == 1048576 and result["seconds"] > 0


def test_plan_status_infeasible_and_budget(shared_data, tmp_path, capsys):
    """One byte under A's peak live bytes is proved infeasible; a 1-node budget at 2^20 gives
    up (budget) with the greedy plan written; a greedy planner that misses reports budget."""
    a = shared_data / DIR / "A.1048576.csv"
    rc, out, _ = run_plan(capsys, a, "--capacity", 1048575, "--method", "minimalloc", "--out",
                          tmp_path / "a.csv", "--json")
    assert rc == 1 and json.loads(out)["status"] == "infeasible"
    rc, out, _ = run_plan(capsys, a, "--method", "minimalloc", "--time-limit", 1e-9, "--out",
                          tmp_path / "b.csv", "--json")
    result = json.loads(out)
    assert rc == 1 and (result["status"], result["nodes"]) == ("budget", 2)
    rc, out, _ = run_plan(capsys, a, "--method", "msa", "--out", tmp_path / "c.csv", "--json")
    result = json.loads(out)
    assert rc == 1 and (result["status"], result["nodes"]) == ("budget", None)


def test_plan_minimize(tmp_path, capsys):
    """--minimize on the toy: minimum 4 (the best greedy's peak, equal to peak live bytes),
    proved optimal, plan valid; other methods are refused with exit 2."""
    src = tmp_path / "toy.csv"
    src.write_text("id,lower,upper,size\na,0,2,2\nb,1,3,2\nc,0,1,2\nd,2,3,2\n")
    rc, out, _ = run_plan(capsys, src, "--capacity", 100, "--method", "minimalloc",
                          "--minimize", "--out", tmp_path / "o.csv", "--json")
    result = json.loads(out)
    assert rc == 0 and result["status"] == "packed" and result["peak"] == 4
    m = result["minimize"]
    assert (m["capacity"], m["lower_bound"], m["optimal"], m["greedy"]) == (4, 4, True, 4)
    inst, offsets = read_csv(tmp_path / "o.csv", capacity=4)
    assert check_plan(inst, offsets, mode="packing").valid
    rc, _, err = run_plan(capsys, src, "--capacity", 4, "--method", "msa", "--minimize",
                          "--out", tmp_path / "p.csv")
    assert rc == 2 and err.count("\n") == 1 and "--minimize" in err

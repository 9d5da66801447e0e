"""Start-up time of the ``heurist`` command: wall time of whole processes, as a user sees it.

Each command runs ``--repeats`` times in a fresh subprocess after one untimed warm-up run (warm
file cache, numba's on-disk cache filled); the median wall time is reported against the issue-8
target, with the median CPU time (user + system of the child) beside it, which a loaded machine
disturbs less.
``python -c pass`` is the floor: the interpreter's own start-up on this machine, which no change to
heurist can go below. The second floor is numpy + numba + one call of a ``cache=True`` function
already in numba's disk cache: what any command that runs a numba kernel pays before its own work
(numba loads its typing registries on the first dispatch, scipy's BLAS check included). ``--importtime`` also prints, per command, the heaviest top-level imports
from ``python -X importtime`` (cumulative microseconds), to say where the time goes.

    python scripts/benchmark_cli.py [--repeats 7] [--importtime]
"""
from __future__ import annotations

import argparse
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TRACE = ROOT / "envs" / "data" / "paging" / "brightkite" / "bk0.txt"
MALLOC = ROOT / "envs" / "data" / "malloc" / "minimalloc-challenging" / "input.12.csv"


def heurist() -> list[str]:
    """The installed console script, else the module (same code path after start-up)."""
    exe = shutil.which("heurist")
    return [exe] if exe else [sys.executable, "-m", "heurist.cli"]


NUMBA_FLOOR = """import numpy as np
from numba import njit


@njit(cache=True)
def total(a):
    s = 0
    for x in a:
        s += x
    return s


total(np.arange(10))
"""


def commands(tmp: Path) -> list[tuple[str, list[str], float | None]]:
    """(label, argv, target seconds or None for a floor)."""
    h = heurist()
    out = tmp / "plan.csv"
    floor = tmp / "numba_floor.py"
    floor.write_text(NUMBA_FLOOR)
    return [
        ("python -c pass (floor)", [sys.executable, "-c", "pass"], None),
        ("numpy + numba, one cached call (floor)", [sys.executable, str(floor)], None),
        ("heurist --help", h + ["--help"], 0.3),
        ("heurist simulate bk0.txt -k 10 --policy lru",
         h + ["simulate", str(TRACE), "-k", "10", "--policy", "lru"], 1.0),
        ("heurist plan input.12.csv --method greedy_size",
         h + ["plan", str(MALLOC), "--method", "greedy_size", "--out", str(out)], 1.0),
    ]


def _child_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def run_once(argv: list[str]) -> tuple[float, float]:
    """(wall seconds, CPU seconds) of one run of ``argv``; a failing command stops the benchmark."""
    cpu, start = _child_cpu(), time.perf_counter()
    proc = subprocess.run(argv, capture_output=True, text=True, check=False)
    took = time.perf_counter() - start
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(argv)} exited {proc.returncode}:\n{proc.stderr[-2000:]}")
    return took, _child_cpu() - cpu


def heaviest_imports(argv: list[str], top: int) -> list[tuple[int, str]]:
    """The ``top`` heaviest first-level imports (cumulative us) of one run of ``argv``."""
    if argv[0] != sys.executable:  # the console script: run its module instead
        argv = [sys.executable, "-m", "heurist.cli"] + argv[1:]
    env = dict(os.environ, PYTHONPROFILEIMPORTTIME="1")
    proc = subprocess.run(argv, capture_output=True, text=True, env=env, check=False)
    raw = [line for line in proc.stderr.splitlines() if line.startswith("import time:")]
    rows = []
    for line in raw[1:]:  # the first line is the header
        _, cum, name = line[len("import time:"):].split("|")
        if not name[1:].startswith(" "):  # depth 0: imported by the program, not by an import
            rows.append((int(cum), name.strip()))
    return sorted(rows, reverse=True)[:top]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=7, help="timed runs per command (median)")
    parser.add_argument("--importtime", action="store_true", help="print the heaviest imports")
    args = parser.parse_args()
    if args.repeats < 1:
        parser.error("--repeats must be >= 1")
    failed = False
    with tempfile.TemporaryDirectory() as tmp:
        print(f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")
        print(f"{'command':50s} {'wall s':>7s} {'min s':>7s} {'cpu s':>7s} {'target':>7s}")
        for label, argv, target in commands(Path(tmp)):
            run_once(argv)  # warm-up: file cache, numba cache
            runs = [run_once(argv) for _ in range(args.repeats)]
            wall = statistics.median(r[0] for r in runs)
            cpu = statistics.median(r[1] for r in runs)
            verdict = "" if target is None else ("ok" if wall <= target else "MISSED")
            failed |= verdict == "MISSED"
            tgt = "" if target is None else f"<= {target:g}"
            print(f"{label:50s} {wall:7.3f} {min(r[0] for r in runs):7.3f} {cpu:7.3f} {tgt:>7s} "
                  f"{verdict}")
            if args.importtime and target is not None:
                for cum, name in heaviest_imports(argv, 6):
                    print(f"    {cum / 1e6:6.3f} s  import {name}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())

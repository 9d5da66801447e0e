"""Start-up time of the ``heurist`` command: wall time of whole processes, as a user sees it.

Each command runs ``--repeats`` times in a fresh subprocess after one untimed warm-up run (warm
file cache, numba's on-disk cache filled); the median is reported against the issue-8 target.
``python -c pass`` is the floor: the interpreter's own start-up on this machine, which no change to
heurist can go below. ``--importtime`` also prints, per command, the heaviest top-level imports
from ``python -X importtime`` (cumulative microseconds), to say where the time goes.

    python scripts/benchmark_cli.py [--repeats 7] [--importtime]
"""
from __future__ import annotations

import argparse
import os
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


def commands(out: Path) -> list[tuple[str, list[str], float | None]]:
    """(label, argv, target seconds or None for the floor)."""
    h = heurist()
    return [
        ("python -c pass (floor)", [sys.executable, "-c", "pass"], None),
        ("heurist --help", h + ["--help"], 0.3),
        ("heurist simulate bk0.txt -k 10 --policy lru",
         h + ["simulate", str(TRACE), "-k", "10", "--policy", "lru"], 1.0),
        ("heurist plan input.12.csv --method greedy_size",
         h + ["plan", str(MALLOC), "--method", "greedy_size", "--out", str(out)], 1.0),
    ]


def wall(argv: list[str]) -> float:
    start = time.perf_counter()
    proc = subprocess.run(argv, capture_output=True, text=True, check=False)
    took = time.perf_counter() - start
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(argv)} exited {proc.returncode}:\n{proc.stderr[-2000:]}")
    return took


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
        out = Path(tmp) / "plan.csv"
        print(f"{'command':50s} {'median s':>9s} {'min s':>7s} {'target':>7s}")
        for label, argv, target in commands(out):
            wall(argv)  # warm-up: file cache, numba cache
            times = [wall(argv) for _ in range(args.repeats)]
            med = statistics.median(times)
            verdict = "" if target is None else ("ok" if med <= target else "MISSED")
            failed |= verdict == "MISSED"
            tgt = "" if target is None else f"<= {target:g}"
            print(f"{label:50s} {med:9.3f} {min(times):7.3f} {tgt:>7s} {verdict}")
            if args.importtime and target is not None:
                for cum, name in heaviest_imports(argv, 6):
                    print(f"    {cum / 1e6:6.3f} s  import {name}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())

"""Ray evaluation (heurist.agents.distributed.ray_eval) on a local 2-CPU Ray cluster: the same
results as serial evaluation in the same order, and a worker killed mid-task is retried with no
result lost or doubled."""
import os
import signal
import sys
from pathlib import Path

import pytest
from ray_cluster import KILL_MARKER, local_cluster

from heurist.agents.distributed.ray_eval import (
    EvalTask,
    evaluate_ray,
    evaluate_serial,
    evaluate_task,
    make_tasks,
)
from heurist.envs.pvrp.generator import generate
from heurist.envs.pvrp.npz_io import save_npz

ray = pytest.importorskip("ray")  # an install extra: see README "Install"
ROOT = Path(__file__).resolve().parents[1]
MALLOC = ROOT / "envs" / "data" / "malloc" / "minimalloc-challenging"


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    """A local Ray cluster with 2 CPUs for the module; yields the workers' kill-marker folder."""
    with local_cluster(sys.modules[__name__], tmp_path_factory.mktemp("kill")) as markers:
        yield markers


@pytest.fixture(scope="module")
def tasks(tmp_path_factory):
    """2 PVRP files (3 instances each) x insertion/nearest/PyVRP 0.05 s, then 2 MiniMalloc CSVs
    x greedy_size/first_fit."""
    folder = tmp_path_factory.mktemp("inst")
    files = [save_npz(folder / f"p{i}.npz", generate(3, n_clients=8, n_vehicles=2, rng=i))
             for i in range(2)]
    pvrp = make_tasks(files, ["insertion", "nearest", "pyvrp"], time_limit=0.05)
    malloc = make_tasks([MALLOC / "A.1048576.csv", MALLOC / "B.1048576.csv"],
                        ["greedy_size", "first_fit"])
    return pvrp + [EvalTask(len(pvrp) + t.index, t.path, t.method, t.kind) for t in malloc]


def test_ray_matches_serial_in_order(cluster, tasks):
    """16 tasks over 2 workers: the same checked objectives as serial, in task order, spread
    over more than one process."""
    serial = evaluate_serial(tasks)
    parallel = evaluate_ray(tasks, progress=False)
    assert parallel == serial
    assert [r.index for r in parallel] == list(range(len(tasks)))
    assert [len(r.values) for r in parallel] == [3] * 6 + [1] * 4
    assert len({r.pid for r in parallel}) >= 2 and os.getpid() not in {r.pid for r in parallel}
    assert all(r.values[0] > 0 for r in serial[6:])  # checked packings' peaks


def _killed_on_first_attempt(task):
    """Kills its own worker process (SIGKILL) the first time it runs task 4, then evaluates."""
    marker = Path(os.environ[KILL_MARKER]) / f"{task.index}.killed"
    if task.index == 4 and not marker.exists():
        marker.write_text(str(os.getpid()))
        os.kill(os.getpid(), signal.SIGKILL)
    return evaluate_task(task)


def test_killed_worker_is_retried_without_loss_or_duplicates(cluster, tasks):
    """A worker killed during task 4 is replaced and the task re-run: every result exactly
    once, equal to serial; with max_retries=0 the same kill fails the evaluation."""
    tmp_path = cluster
    subset = tasks[:8]
    results = evaluate_ray(subset, progress=False, fn=_killed_on_first_attempt)
    killed_pid = int((tmp_path / "4.killed").read_text())
    assert results == evaluate_serial(subset)
    assert [r.index for r in results] == list(range(8))
    assert results[4].pid != killed_pid
    (tmp_path / "4.killed").unlink()
    with pytest.raises(ray.exceptions.WorkerCrashedError):
        evaluate_ray(subset, progress=False, max_retries=0, fn=_killed_on_first_attempt)


def test_bad_tasks_fail_before_any_work(tmp_path):
    """An unknown suffix, a missing file or a bad time limit is a one-line error."""
    (tmp_path / "x.txt").write_text("")
    with pytest.raises(ValueError, match="x.txt"):
        make_tasks([tmp_path / "x.txt"], ["insertion"])
    with pytest.raises(FileNotFoundError, match="nope.npz"):
        make_tasks([tmp_path / "nope.npz"], ["insertion"])
    with pytest.raises(ValueError, match="time_limit"):
        EvalTask(0, "a.npz", "insertion", "pvrp", time_limit=0)

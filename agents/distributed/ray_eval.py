"""Parallel evaluation of solvers and planners over instance files, serially or as Ray tasks.

One :class:`EvalTask` is one (file, method) pair: a PVRP ``.npz`` batch solved instance by
instance through :func:`heurist.policies.pvrp.solve_one` (each solution checked by the env's
``check_routes``), or a MiniMalloc ``.csv`` planned through :func:`heurist.policies.malloc.plan`
and checked by ``check_plan``. The work is CPU-bound and embarrassingly parallel, so each task is
a Ray task (``num_cpus=1``); :func:`evaluate_ray` returns the results in task order, the same
values as :func:`evaluate_serial` (timings aside). A worker that dies (killed, OOM) is retried by
Ray up to ``max_retries`` times; a task runs to completion once, so nothing is lost or doubled.

Ray is optional (``pip install -e ".[ray]"``): :func:`evaluate_serial` needs none of it.

Cluster: the same call runs on a real Ray cluster by giving its address (or setting
``RAY_ADDRESS``)::

    ray start --head --port=6379             # on the head node
    ray start --address=HEAD_IP:6379         # on each worker node
    evaluate_ray(tasks, address="auto")      # on the head node, or
    evaluate_ray(tasks, address="ray://HEAD_IP:10001")  # Ray Client from elsewhere

Instance files must be readable at the same path on every node (a shared file system), since a
task carries the path, not the data.
"""
from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

__all__ = ["EvalResult", "EvalTask", "evaluate_ray", "evaluate_serial", "evaluate_task",
           "make_tasks"]

KINDS = {".npz": "pvrp", ".csv": "malloc"}


@dataclass(frozen=True)
class EvalTask:
    """One method on one instance file. ``index`` is its place in the task list."""

    index: int
    path: str
    method: str
    kind: str
    time_limit: float = 1.0
    seed: int = 0
    mode: str = "packing"  # malloc only

    def __post_init__(self) -> None:
        if self.kind not in KINDS.values():
            raise ValueError(f"kind must be one of {sorted(set(KINDS.values()))}, got {self.kind!r}")
        if not self.time_limit > 0:
            raise ValueError(f"time_limit must be > 0, got {self.time_limit}")


@dataclass(frozen=True)
class EvalResult:
    """The checked objectives of one task: PVRP objective per instance, or the malloc peak
    (one value). ``seconds`` and ``pid`` (the process that ran it) are not compared."""

    index: int
    path: str
    method: str
    values: tuple[float, ...]
    seconds: float = field(compare=False)
    pid: int = field(compare=False)


def make_tasks(files: Iterable[str | Path], methods: Sequence[str], *, time_limit: float = 1.0,
               seed: int = 0, mode: str = "packing") -> list[EvalTask]:
    """Tasks for every (file, method), files outer; the kind follows the suffix (.npz, .csv)."""
    tasks = []
    for path in files:
        path = Path(path)
        if path.suffix not in KINDS:
            raise ValueError(f"{path}: expected a .npz (PVRP) or .csv (MiniMalloc) file")
        if not path.is_file():
            raise FileNotFoundError(f"{path}: no such file")
        for method in methods:
            tasks.append(EvalTask(len(tasks), str(path.resolve()), method, KINDS[path.suffix],
                                  time_limit=time_limit, seed=seed, mode=mode))
    return tasks


def evaluate_task(task: EvalTask) -> EvalResult:
    """Runs one task in this process; an invalid solution raises ``ValueError``."""
    start = time.perf_counter()
    if task.kind == "pvrp":
        from heurist.envs.pvrp.npz_io import load_npz
        from heurist.policies.pvrp import solve_one

        inst = load_npz(task.path)
        values = tuple(solve_one(inst[s], task.method, index=s, time_limit=task.time_limit,
                                 seed=task.seed + s).objective for s in range(inst.S))
    else:
        from heurist.envs.malloc.minimalloc_csv import read_csv
        from heurist.envs.malloc.plan_check import check_plan
        from heurist.policies.malloc.registry import plan

        inst, _ = read_csv(task.path)
        offsets = plan(inst, task.method, mode=task.mode, time_limit=task.time_limit,
                       seed=task.seed)
        # packing minimises the peak (it may exceed the capacity): overlaps only, as in plan
        check = check_plan(inst, offsets, mode=task.mode, enforce_capacity=task.mode != "packing")
        if not check.valid:
            raise ValueError(f"{task.method} on {task.path}: invalid plan: {check.first}")
        values = (float(check.peak),)
    return EvalResult(task.index, task.path, task.method, values,
                      seconds=time.perf_counter() - start, pid=os.getpid())


def evaluate_serial(tasks: Sequence[EvalTask], *,
                    fn: Callable[[EvalTask], EvalResult] = evaluate_task) -> list[EvalResult]:
    """Every task in this process, in order (no Ray)."""
    return [fn(t) for t in tasks]


def evaluate_ray(tasks: Sequence[EvalTask], *, address: str | None = None,
                 num_cpus: int | None = None, max_retries: int = 3, progress: bool = True,
                 fn: Callable[[EvalTask], EvalResult] = evaluate_task) -> list[EvalResult]:
    """Every task as a Ray task (1 CPU each), results in task order.

    Connects to ``address`` (``None``: ``RAY_ADDRESS`` or a new local cluster with ``num_cpus``)
    unless Ray is already initialised. ``max_retries``: re-runs of a task whose worker died.
    """
    import ray
    from tqdm import tqdm

    if max_retries < 0:
        raise ValueError(f"max_retries must be >= 0, got {max_retries}")
    if not ray.is_initialized():
        ray.init(address=address, num_cpus=num_cpus, include_dashboard=False,
                 log_to_driver=False, configure_logging=False)
    remote = ray.remote(num_cpus=1, max_retries=max_retries)(fn)
    refs = [remote.remote(t) for t in tasks]
    pending = list(refs)
    with tqdm(total=len(refs), desc="ray eval", disable=not progress, leave=False) as bar:
        while pending:
            done, pending = ray.wait(pending, num_returns=1)
            bar.update(len(done))
    results = ray.get(refs)  # in submission order
    if [r.index for r in results] != [t.index for t in tasks]:
        raise RuntimeError("ray_eval: results do not match the tasks one to one")
    return results

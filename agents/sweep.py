"""Hydra multirun sweeps that survive a failed member and name it: :class:`SweepCallback`.

Enabled by ``hydra/callbacks=sweep`` (``configs/hydra/callbacks/sweep.yaml``), and by the shipped
launchers ``hydra/launcher=local`` (local processes) and ``hydra/launcher=slurm`` (submitit),
which switch it on themselves::

    python scripts/train.py -m hydra/launcher=local agent.lr=1e-4,3e-4 trainer.seed=0,1,2

Per member (in the process that runs it, local or on a Slurm node):

* wandb: ``WANDB_RUN_GROUP`` (one group per sweep), ``WANDB_NAME`` (the member's overrides) and
  ``WANDB_JOB_TYPE=sweep-member`` are set before the job starts, so every member is its own run
  in one group without the loggers knowing about sweeps;
* ``<sweep_dir>/members/<num>.json``: status, overrides, output folder, error (if any).

Why the status is rewritten: Hydra's basic sweeper raises on the first failed member *after* the
batch ran, so the sweep ends with a traceback and no summary. The callback keeps the error in the
member's record and hands Hydra a completed return instead (``tolerate_failures: true``); at the
end it writes ``<sweep_dir>/sweep_summary.json``, prints one line per failed member and exits 1 if
any failed (0 otherwise). Only exceptions are seen here, so ``scripts/train.py`` and
``scripts/evaluate.py`` raise ``heurist.agents.entry.MemberFailed`` in a multirun member where a
single run exits 1 or 2 (its ``status`` is kept as the member's ``exit_status``); a member that
calls ``sys.exit`` itself would still end its process.
"""
from __future__ import annotations

import json
import os
import sys
import traceback
from pathlib import Path
from typing import Any

from hydra.core.utils import JobReturn, JobStatus
from hydra.experimental.callback import Callback
from omegaconf import DictConfig

__all__ = ["SweepCallback", "read_summary", "sweep_group"]

MEMBERS = "members"
SUMMARY = "sweep_summary.json"


def sweep_group(config: DictConfig) -> str:
    """The wandb group of a sweep: ``<job name>-<sweep dir's last two parts>`` (unique per sweep
    with the default ``multirun/<date>/<time>`` folders)."""
    sweep_dir = Path(str(config.hydra.sweep.dir))
    tail = "_".join(sweep_dir.parts[-2:])
    return f"{config.hydra.job.name}-{tail}"


def _member_name(config: DictConfig) -> str:
    """``key=value,...`` of the member's overrides (``job<num>`` when it has none)."""
    overrides = list(config.hydra.overrides.task)
    return ",".join(o for o in overrides if not o.startswith("hydra")) or f"job{config.hydra.job.num}"


class SweepCallback(Callback):
    """Groups sweep members in wandb, records each member, keeps failures from ending the sweep
    and summarises them (see the module docstring)."""

    def __init__(self, *, group: str | None = None, tolerate_failures: bool = True,
                 exit_nonzero_on_failure: bool = True) -> None:
        if group is not None and not str(group).strip():
            raise ValueError("group must be a non-empty string or null")
        self.group = group
        self.tolerate_failures = bool(tolerate_failures)
        self.exit_nonzero_on_failure = bool(exit_nonzero_on_failure)

    def on_multirun_start(self, config: DictConfig, **kwargs: Any) -> None:
        """Clears member records of an earlier sweep into the same folder."""
        members = Path(str(config.hydra.sweep.dir)) / MEMBERS
        if members.is_dir():
            for old in members.glob("*.json"):
                old.unlink()

    def on_job_start(self, config: DictConfig, **kwargs: Any) -> None:
        from hydra.types import RunMode

        if config.hydra.mode != RunMode.MULTIRUN:
            return
        os.environ["WANDB_RUN_GROUP"] = self.group or sweep_group(config)
        os.environ["WANDB_NAME"] = _member_name(config)
        os.environ["WANDB_JOB_TYPE"] = "sweep-member"

    def on_job_end(self, config: DictConfig, job_return: JobReturn, **kwargs: Any) -> None:
        from hydra.types import RunMode

        if config.hydra.mode != RunMode.MULTIRUN:
            return
        failed = job_return.status == JobStatus.FAILED
        record: dict[str, Any] = {
            "num": int(config.hydra.job.num), "name": _member_name(config),
            "overrides": [str(o) for o in config.hydra.overrides.task],
            "status": "failed" if failed else "completed",
            "output_dir": str(config.hydra.runtime.output_dir),
            "wandb_group": self.group or sweep_group(config),
        }
        if failed:
            exc = job_return._return_value  # the exception run_job caught
            record["error"] = f"{type(exc).__name__}: {exc}"
            # MemberFailed: the exit status a single run would have ended with
            record["exit_status"] = getattr(exc, "status", None)
            record["traceback"] = "".join(traceback.format_exception(exc))
        members = Path(str(config.hydra.sweep.dir)) / MEMBERS
        members.mkdir(parents=True, exist_ok=True)
        tmp = members / f".{record['num']}.json.tmp"
        tmp.write_text(json.dumps(record, indent=2))
        os.replace(tmp, members / f"{record['num']}.json")
        for key in ("WANDB_RUN_GROUP", "WANDB_NAME", "WANDB_JOB_TYPE"):
            os.environ.pop(key, None)  # a worker process runs other members next
        if failed and self.tolerate_failures:
            # The sweeper raises on a FAILED return: the failure lives on in the record instead.
            job_return.status = JobStatus.COMPLETED
            job_return._return_value = {"failed": record["error"]}

    def on_multirun_end(self, config: DictConfig, **kwargs: Any) -> None:
        sweep_dir = Path(str(config.hydra.sweep.dir))
        summary = _summarise(sweep_dir)
        (sweep_dir / SUMMARY).write_text(json.dumps(summary, indent=2))
        print(f"sweep: {summary['completed']} of {summary['members']} members completed; "
              f"summary {sweep_dir / SUMMARY}", file=sys.stderr)
        for member in summary["failed"]:
            print(f"sweep: FAILED #{member['num']} {member['name']}: {member['error']}",
                  file=sys.stderr)
        if summary["failed"] and self.exit_nonzero_on_failure:
            sys.exit(1)


def _summarise(sweep_dir: Path) -> dict:
    records = [json.loads(p.read_text()) for p in (sweep_dir / MEMBERS).glob("*.json")]
    records.sort(key=lambda r: r["num"])
    failed = [{**{k: r[k] for k in ("num", "name", "error", "output_dir")},
               "exit_status": r.get("exit_status")} for r in records if r["status"] == "failed"]
    return {"members": len(records), "completed": len(records) - len(failed), "failed": failed,
            "wandb_groups": sorted({r["wandb_group"] for r in records}),
            "runs": [{k: r[k] for k in ("num", "name", "status", "output_dir")} for r in records]}


def read_summary(sweep_dir) -> dict:
    """The ``sweep_summary.json`` of a finished sweep."""
    return json.loads((Path(sweep_dir) / SUMMARY).read_text())


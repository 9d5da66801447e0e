"""What ``scripts/train.py`` and ``scripts/evaluate.py`` share around ``@hydra.main``: the command
line is checked before Hydra runs, bad input exits 2 with one line on stderr (exit 1 stays
"did not beat LRU"), and a run folder that Hydra made for a job that then failed before writing
anything is removed again.

In a Hydra multirun (``-m``) a member must not end its process: the launcher would lose the
sweep (the local launcher's worker dies, the basic launcher's whole sweep exits) and the sweep
callback (:mod:`heurist.agents.sweep`) would never see the failure. There :func:`fail` and
:func:`stop` raise :class:`MemberFailed` instead, which Hydra records as the member's failure
and the callback names in the sweep summary; single runs keep the exit status and one line.
"""
from __future__ import annotations

import shutil
import sys
from collections.abc import Callable
from pathlib import Path
from typing import NoReturn

from omegaconf import DictConfig

__all__ = ["BAD_INPUT", "MemberFailed", "discard_unused_run_dir", "fail", "in_multirun",
           "run_checked", "stop"]

BAD_INPUT = 2  # exit status of bad input (a flag, an override, a file)
_HYDRA_FILES = {"config.yaml", "hydra.yaml", "overrides.yaml"}


class MemberFailed(RuntimeError):
    """A sweep member's failure that a single run reports as exit status ``status``."""

    def __init__(self, message: str, *, status: int) -> None:
        super().__init__(message)
        self.status = int(status)


def in_multirun() -> bool:
    """Whether this process runs a member of a Hydra multirun (``-m``) right now."""
    from hydra.core.hydra_config import HydraConfig
    from hydra.types import RunMode

    return HydraConfig.initialized() and HydraConfig.get().mode == RunMode.MULTIRUN


def stop(prog: str, message: str, *, status: int, quiet: bool = False) -> NoReturn:
    """Ends a run with exit ``status``, printing ``<prog>: <message>`` as one line on stderr
    (``quiet``: nothing, the run's own output already says it); in a multirun member raises
    :class:`MemberFailed` with the message instead."""
    if in_multirun():
        raise MemberFailed(f"{prog}: {message} (exit {status})", status=status)
    if not quiet:
        print(f"{prog}: {message}", file=sys.stderr)
    sys.exit(status)


def fail(prog: str, exc: BaseException) -> NoReturn:
    """Prints ``<prog>: error: <message>`` as one line on stderr and exits ``BAD_INPUT`` (in a
    multirun member: raises :class:`MemberFailed` from ``exc``)."""
    message = " ".join(str(exc).split()) or type(exc).__name__
    try:
        stop(prog, f"error: {message}", status=BAD_INPUT)
    except MemberFailed as failed:
        raise failed from exc


def run_checked(main: Callable[[], object], *, prog: str, config_name: str,
                check: Callable[[DictConfig], None]) -> None:
    """Checks ``sys.argv[1:]`` against the ``config_name`` configs and ``check``, then runs the
    ``@hydra.main`` function ``main`` (which reads ``sys.argv`` itself)."""
    from heurist.agents.overrides import check_command_line

    try:
        check_command_line(config_name, sys.argv[1:], check)
    except (ValueError, FileNotFoundError) as exc:
        fail(prog, exc)
    main()


def discard_unused_run_dir(run_dir, *, job_name: str) -> bool:
    """Removes ``run_dir`` when it holds nothing but what Hydra writes on start (``.hydra/`` with
    its three YAML files and ``<job_name>.log``); returns whether it did. A folder with anything
    else in it (a checkpoint, a resumed run's files) is left alone."""
    path = Path(run_dir)
    if not path.is_dir():
        return False
    entries = {p.name for p in path.iterdir()}
    if not entries <= {".hydra", f"{job_name}.log"}:
        return False
    hydra_dir = path / ".hydra"
    if hydra_dir.exists() and not (hydra_dir.is_dir() and not hydra_dir.is_symlink()
                                   and {p.name for p in hydra_dir.iterdir()} <= _HYDRA_FILES):
        return False
    shutil.rmtree(path)
    cwd = Path.cwd().resolve()
    for parent in path.resolve().parents:
        if parent == cwd or cwd not in parent.parents or any(parent.iterdir()):
            break
        parent.rmdir()
    return True

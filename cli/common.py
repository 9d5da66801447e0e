"""Pieces every ``heurist`` sub-command shares: one-line argument errors, and output paths that are
checked before any work and written atomically (a failure never touches an existing file)."""
from __future__ import annotations

import argparse
import os
import tempfile
from pathlib import Path

__all__ = ["OneLineParser", "check_out_path", "check_parent", "write_atomic"]


class OneLineParser(argparse.ArgumentParser):
    """Argument errors as one line on stderr, with what to do, and exit 2 (argparse prints its
    usage block first, which buries the one line that matters)."""

    def error(self, message: str):
        self.exit(2, f"{self.prog}: error: {message}; see '{self.prog} --help'\n")


def check_out_path(out: str | Path, *, inputs: tuple[str | Path, ...] = (),
                   flag: str = "--out", example: str = "routes.json") -> Path:
    """Refuses an output path that cannot be written, before any work: a directory, the input
    itself, a path below a file, or a folder without write permission -> ``ValueError`` naming
    ``flag``. Missing parent folders are fine (they are created when writing)."""
    path = Path(out)
    if path.is_dir():
        raise ValueError(f"{flag} {path}: is a directory; give a file path such as "
                         f"{path / example}")
    for source in inputs:
        if Path(source).exists() and path.exists() and os.path.samefile(source, path):
            raise ValueError(f"{flag} {path}: is the input file {source}; choose another path")
    check_parent(path, flag=flag)
    if path.exists() and not os.access(path, os.W_OK):
        raise ValueError(f"{flag} {path}: not writable (permission denied)")
    return path


def check_parent(path: Path, *, flag: str = "--out") -> None:
    """Refuses a path whose nearest existing ancestor is a file or a folder we cannot write in
    -> ``ValueError`` naming ``flag`` (missing folders in between are created when writing)."""
    parent = path.absolute().parent
    while not parent.exists():
        parent = parent.parent
    if not parent.is_dir():
        raise ValueError(f"{flag} {path}: {parent} is a file, not a folder")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise ValueError(f"{flag} {path}: not writable (permission denied)")


def write_atomic(path: Path, text: str) -> None:
    """Writes ``text`` to ``path`` through a temporary file in the same folder renamed into place,
    so readers see the old file or the new one, never a half-written one."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w") as fh:
            fh.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise

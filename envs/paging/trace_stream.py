"""Reading a trace file in chunks, for traces too large to hold (1e8 requests and more).

:func:`iter_chunks` yields the raw 64-bit ids of successive chunks of an oracleGeneral file
(memory-mapped) or of a one-decimal-id-per-line text file, with the next-access field of
oracleGeneral records. Memory stays bounded by the chunk size.
"""
from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np

from heurist.envs.paging.trace_read import (
    NOT_INTEGER,
    TWO_FIELDS,
    memmap_oracle_general,
    parse_int_lines,
)
from heurist.envs.paging.traces import (
    ORACLE_GENERAL_DTYPE,
    check_path,
    check_records,
    trace_format,
)

__all__ = ["count_requests", "iter_chunks"]


def iter_chunks(path, *, fmt: str | None = None, chunk_size: int = 1 << 22
                ) -> Iterator[tuple[np.ndarray, np.ndarray | None]]:
    """Yields ``(ids [m] uint64, next_access [m] int64 or None)`` chunk by chunk (``m`` about
    ``chunk_size`` requests). Text files must hold decimal ids (csv and other ids: use
    :func:`~heurist.envs.paging.load_trace`)."""
    if int(chunk_size) < 1:
        raise ValueError(f"chunk_size must be >= 1, got {chunk_size}")
    path = check_path(path)
    kind = trace_format(path, fmt)
    if kind == "oracle_general":
        yield from _oracle_general_chunks(path, int(chunk_size))
    elif kind == "lines":
        yield from _text_chunks(path, int(chunk_size))
    else:
        raise ValueError(f"{path}: streaming reads oracleGeneral or one-id-per-line traces, not "
                         f"{kind} (--format)")


def count_requests(path, *, fmt: str | None = None) -> int | None:
    """Number of requests of an oracleGeneral file from its size (None for text)."""
    path = check_path(path)
    if trace_format(path, fmt) != "oracle_general":
        return None
    return path.stat().st_size // ORACLE_GENERAL_DTYPE.itemsize


def _oracle_general_chunks(path: Path, chunk_size: int):
    records = memmap_oracle_general(path, ORACLE_GENERAL_DTYPE)
    for start in range(0, records.size, chunk_size):
        part = records[start:start + chunk_size]
        check_records(path, part, offset=start)
        yield np.ascontiguousarray(part["obj_id"]), np.ascontiguousarray(part["next_access_vtime"])


def _text_chunks(path: Path, chunk_size: int):
    block = 8 * chunk_size  # bytes: about a chunk of ids of up to 7 digits
    line_offset = 0
    carry = b""
    with path.open("rb") as handle:
        while True:
            data = handle.read(block)
            buf = carry + data
            if not data:
                if buf:
                    yield _parse(path, buf, line_offset)[0], None
                return
            cut = buf.rfind(b"\n") + 1
            if cut == 0:  # one line longer than the block: read on
                carry = buf
                continue
            ids, lines = _parse(path, buf[:cut], line_offset)
            line_offset += lines
            carry = buf[cut:]
            if ids.size:
                yield ids, None


def _parse(path: Path, buf: bytes, line_offset: int) -> tuple[np.ndarray, int]:
    values, status, line, _, _ = parse_int_lines(np.frombuffer(buf, dtype=np.uint8))
    if status == TWO_FIELDS:
        raise ValueError(f"{path}:{line_offset + line}: expected one page id per line")
    if status == NOT_INTEGER:
        raise ValueError(f"{path}:{line_offset + line}: streaming reads decimal page ids only; "
                         f"load this trace whole instead")
    return values, line

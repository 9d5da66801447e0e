"""MiniMalloc CSV instances: ``id,lower,upper,size[,offset]``, one buffer a line.

A buffer lives over the half-open interval ``[lower, upper)`` and needs ``size`` bytes. The
capacity is not in the file: it is the ``capacity`` argument, or else the last integer among the
dot-separated parts of the file name (``A.1048576.csv`` -> 1048576, ``input.12.csv`` -> 12).
Ops and uses are the defaults of ``MallocInstance.from_intervals``. Ids are integers, or else
any non-empty names (``b1``, surrounding spaces dropped): then ``ids`` are the row numbers and
``labels`` the names. An ``offset`` column holds a plan; ``-1`` (``SLOW``) marks a buffer left in
slow memory.

Files are UTF-8 (a byte-order mark is allowed) and written with the csv module's quoting, so an id
holding a comma or a quote reads back. Every integer must fit in int64 (``< 2^63``), the sizes
must sum below 2^63 (the peak and the lower bound are int64 sums), and live ranges must end by
``MAX_STEPS``: each op step is an op of the cost model, held in memory.
"""
from __future__ import annotations

import csv
import io
import os
import re
import tempfile
from pathlib import Path

import numpy as np

from heurist.envs.malloc.instance import SLOW, MallocInstance, MemoryConfig

__all__ = ["INT64_MAX", "MAX_STEPS", "REQUIRED_COLUMNS", "capacity_from_name", "read_csv",
           "write_csv"]

REQUIRED_COLUMNS = ("id", "lower", "upper", "size")
INT64_MAX = 2**63 - 1
MAX_STEPS = 2**24
"""Live ranges must end at or before this op step (the cost model keeps one op per step)."""


def capacity_from_name(path) -> int | None:
    """The capacity encoded in a file name (``A.1048576.csv`` -> 1048576), or ``None``."""
    parts = Path(path).name.split(".")
    numbers = [p for p in parts[1:-1] if re.fullmatch(r"\d+", p)] if len(parts) > 2 else []
    return int(numbers[-1]) if numbers else None


def _int_field(path, line: int, column: str, text: str) -> int:
    text = text.strip()
    if not re.fullmatch(r"[+-]?\d+", text):
        shown = text if len(text) <= 40 else text[:40] + "..."
        raise ValueError(f"{path}:{line}: column {column!r} must be an integer, got {shown!r}")
    digits = text.lstrip("+-").lstrip("0")
    if len(digits) > 19 or abs(int(text)) > INT64_MAX:  # length first: int() of 5,000 digits fails
        raise ValueError(f"{path}:{line}: column {column!r} value {text[:40]} is out of range "
                         f"(integers must lie in (-2^63, 2^63))")
    return int(text)


def _records(path: Path):
    """``(line number, fields)`` of each CSV record, with read, decoding and csv errors turned
    into a ``ValueError`` naming the file (and line)."""
    try:
        data = path.read_bytes()
    except IsADirectoryError:
        raise ValueError(f"{path}: is a directory, expected a MiniMalloc CSV file") from None
    except PermissionError:
        raise ValueError(f"{path}: cannot be read (permission denied)") from None
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        raise ValueError(f"{path}:{line}: not UTF-8 text (byte 0x{data[exc.start]:02x} at offset "
                         f"{exc.start}); MiniMalloc CSVs are UTF-8") from None
    reader = csv.reader(io.StringIO(text, newline=""))
    line = 1
    try:
        for record in reader:
            yield line, record
            line = reader.line_num + 1
    except csv.Error as exc:
        raise ValueError(f"{path}:{line}: malformed CSV ({exc})") from None


def read_csv(path, *, capacity: int | None = None, memory: MemoryConfig | None = None):
    """Reads a MiniMalloc CSV into ``(MallocInstance, offsets or None)``.

    The capacity is, in order: ``capacity``, ``memory.capacity``, the number in the file name.
    ``offsets`` is ``int64 [N]`` when the file has an ``offset`` column, else ``None``.

    Raises:
        FileNotFoundError: no such file.
        ValueError: naming the file (and line): a directory, an unreadable or non-UTF-8 file,
            malformed CSV, a missing column, a non-integer or out-of-int64 field, a negative size,
            ``upper <= lower``, a negative ``lower``, ``upper > MAX_STEPS``, sizes summing to
            2^63 or more, a duplicate id, an offset < -1, or no capacity (or one >= 2^63).
    """
    path = Path(path)
    if path.is_dir():
        raise ValueError(f"{path}: is a directory, expected a MiniMalloc CSV file")
    if not path.exists():
        raise FileNotFoundError(f"{path}: no such file")
    records = _records(path)
    first = next(records, None)
    if first is None:
        raise ValueError(f"{path}:1: empty file, expected header {','.join(REQUIRED_COLUMNS)}")
    header = [h.strip() for h in first[1]]
    for col in REQUIRED_COLUMNS:
        if col not in header:
            raise ValueError(f"{path}:1: missing column {col!r} (header: "
                             f"{','.join(header)[:200]})")
    has_offset = "offset" in header
    wanted = REQUIRED_COLUMNS + (("offset",) if has_offset else ())
    index = {c: header.index(c) for c in wanted}
    rows: list[list[int]] = []
    names: list[str] = []
    seen: dict[str, int] = {}
    total = 0
    for line, record in records:
        if not record or all(not f.strip() for f in record):
            continue
        if len(record) != len(header):
            raise ValueError(f"{path}:{line}: {len(record)} fields, header has {len(header)}")
        ident = record[index["id"]].strip()
        if not ident:
            raise ValueError(f"{path}:{line}: empty id")
        row = [0] + [_int_field(path, line, c, record[index[c]]) for c in wanted[1:]]
        lower, upper, size = row[1:4]
        if size < 0:
            raise ValueError(f"{path}:{line}: negative size {size}")
        if lower < 0:
            raise ValueError(f"{path}:{line}: negative lower {lower}")
        if upper <= lower:
            raise ValueError(f"{path}:{line}: upper {upper} <= lower {lower} (the live range "
                             f"[lower, upper) is empty)")
        if upper > MAX_STEPS:
            raise ValueError(f"{path}:{line}: upper {upper} is beyond {MAX_STEPS} op steps "
                             f"(2^24; the cost model keeps one op per step)")
        total += size
        if total > INT64_MAX:
            raise ValueError(f"{path}:{line}: the sizes so far sum to {total} >= 2^63 (the peak "
                             f"and its lower bound would overflow int64)")
        # "7" and "07" are the same integer id.
        key = str(int(ident)) if re.fullmatch(r"[+-]?\d{1,19}", ident) else ident
        if key in seen:
            raise ValueError(f"{path}:{line}: duplicate id {ident[:40]} (first on line "
                             f"{seen[key]})")
        if has_offset and row[4] < SLOW:
            raise ValueError(f"{path}:{line}: offset {row[4]} is negative and not {SLOW} "
                             f"(slow memory)")
        seen[key] = line
        names.append(ident)
        rows.append(row)
    if capacity is None:
        capacity = memory.capacity if memory is not None else capacity_from_name(path)
    if capacity is None:
        raise ValueError(f"{path}: no capacity given and none in the file name "
                         f"(expected e.g. NAME.1048576.csv)")
    if not 0 <= capacity <= INT64_MAX:
        raise ValueError(f"{path}: capacity {capacity} is out of range (0..2^63-1)")
    memory = MemoryConfig(capacity=capacity) if memory is None else memory
    if memory.capacity != capacity:
        import dataclasses

        memory = dataclasses.replace(memory, capacity=capacity)
    table = np.array(rows, dtype=np.int64).reshape(len(rows), len(wanted))
    numeric = all(re.fullmatch(r"[+-]?\d{1,19}", x) for x in names)
    ids = np.array([int(x) for x in names], dtype=np.int64) if numeric else None
    inst = MallocInstance.from_intervals(table[:, 3], table[:, 1], table[:, 2], ids=ids,
                                         memory=memory, name=path.name.split(".")[0],
                                         labels=() if numeric else tuple(names))
    offsets = table[:, 4].copy() if has_offset else None
    return inst, offsets


def write_csv(path, inst: MallocInstance, offsets=None) -> None:
    """Writes ``inst`` (and ``offsets``, ``int64 [N]``, if given) as a MiniMalloc CSV, quoting ids
    as the csv module does. The file is written to a temporary file renamed into place, so a
    failure never leaves a half-written file (or a clobbered old one)."""
    if offsets is not None:
        offsets = np.asarray(offsets, dtype=np.int64)
        if offsets.shape != (inst.n,):
            raise ValueError(f"offsets has shape {offsets.shape}, expected ({inst.n},)")
    path = Path(path)
    cols = [list(inst.labels) if inst.labels else inst.ids.tolist(), inst.start.tolist(),
            inst.end.tolist(), inst.size.tolist()]
    if offsets is not None:
        cols.append(offsets.tolist())
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", newline="", encoding="utf-8") as fh:
            # The csv module quotes a field holding a character of the line terminator; a bare
            # "\r" in an id is only quoted when "\r" is part of it (then lines end in CRLF).
            crlf = any("\r" in x for x in inst.labels)
            writer = csv.writer(fh, lineterminator="\r\n" if crlf else "\n")
            writer.writerow(list(REQUIRED_COLUMNS) + (["offset"] if offsets is not None else []))
            writer.writerows(zip(*cols))
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise

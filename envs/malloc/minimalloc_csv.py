"""MiniMalloc CSV instances: ``id,lower,upper,size[,offset]``, one buffer a line.

A buffer lives over the half-open interval ``[lower, upper)`` and needs ``size`` bytes. The
capacity is not in the file: it is the ``capacity`` argument, or else the last integer among the
dot-separated parts of the file name (``A.1048576.csv`` -> 1048576, ``input.12.csv`` -> 12).
Ops and uses are the defaults of ``MallocInstance.from_intervals``. Ids are integers, or else
any non-empty names (``b1``): then ``ids`` are the row numbers and ``labels`` the names. An
``offset`` column holds a plan; ``-1`` (``SLOW``) marks a buffer left in slow memory.
"""
from __future__ import annotations

import csv
import re
from pathlib import Path

import numpy as np

from heurist.envs.malloc.instance import SLOW, MallocInstance, MemoryConfig

__all__ = ["REQUIRED_COLUMNS", "capacity_from_name", "read_csv", "write_csv"]

REQUIRED_COLUMNS = ("id", "lower", "upper", "size")


def capacity_from_name(path) -> int | None:
    """The capacity encoded in a file name (``A.1048576.csv`` -> 1048576), or ``None``."""
    parts = Path(path).name.split(".")
    numbers = [p for p in parts[1:-1] if re.fullmatch(r"\d+", p)] if len(parts) > 2 else []
    return int(numbers[-1]) if numbers else None


def _int_field(path, line: int, column: str, text: str) -> int:
    text = text.strip()
    if not re.fullmatch(r"[+-]?\d+", text):
        raise ValueError(f"{path}:{line}: column {column!r} must be an integer, got {text!r}")
    return int(text)


def read_csv(path, *, capacity: int | None = None, memory: MemoryConfig | None = None):
    """Reads a MiniMalloc CSV into ``(MallocInstance, offsets or None)``.

    The capacity is, in order: ``capacity``, ``memory.capacity``, the number in the file name.
    ``offsets`` is ``int64 [N]`` when the file has an ``offset`` column, else ``None``.

    Raises:
        FileNotFoundError: no such file.
        ValueError: naming the file and line: a missing column, a non-integer field, a negative
            size, ``upper <= lower``, a negative ``lower``, a duplicate id, an offset < -1, or no
            capacity anywhere.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such file")
    with path.open(newline="") as fh:
        reader = csv.reader(fh)
        header = next(reader, None)
        if header is None:
            raise ValueError(f"{path}:1: empty file, expected header {','.join(REQUIRED_COLUMNS)}")
        header = [h.strip() for h in header]
        for col in REQUIRED_COLUMNS:
            if col not in header:
                raise ValueError(f"{path}:1: missing column {col!r} (header: {','.join(header)})")
        has_offset = "offset" in header
        wanted = REQUIRED_COLUMNS + (("offset",) if has_offset else ())
        index = {c: header.index(c) for c in wanted}
        rows: list[list[int]] = []
        names: list[str] = []
        seen: dict[str, int] = {}
        for line, record in enumerate(reader, start=2):
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
            # "7" and "07" are the same integer id.
            key = str(int(ident)) if re.fullmatch(r"[+-]?\d+", ident) else ident
            if key in seen:
                raise ValueError(f"{path}:{line}: duplicate id {ident} (first on line "
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
    memory = MemoryConfig(capacity=capacity) if memory is None else memory
    if memory.capacity != capacity:
        import dataclasses

        memory = dataclasses.replace(memory, capacity=capacity)
    table = np.array(rows, dtype=np.int64).reshape(len(rows), len(wanted))
    numeric = all(re.fullmatch(r"[+-]?\d+", x) for x in names)
    ids = np.array([int(x) for x in names], dtype=np.int64) if numeric else None
    inst = MallocInstance.from_intervals(table[:, 3], table[:, 1], table[:, 2], ids=ids,
                                         memory=memory, name=path.name.split(".")[0],
                                         labels=() if numeric else tuple(names))
    offsets = table[:, 4].copy() if has_offset else None
    return inst, offsets


def write_csv(path, inst: MallocInstance, offsets=None) -> None:
    """Writes ``inst`` (and ``offsets``, ``int64 [N]``, if given) as a MiniMalloc CSV."""
    if offsets is not None:
        offsets = np.asarray(offsets, dtype=np.int64)
        if offsets.shape != (inst.n,):
            raise ValueError(f"offsets has shape {offsets.shape}, expected ({inst.n},)")
    path = Path(path)
    with path.open("w", newline="") as fh:
        fh.write("id,lower,upper,size" + (",offset" if offsets is not None else "") + "\n")
        cols = [list(inst.labels) if inst.labels else inst.ids, inst.start, inst.end, inst.size]
        if offsets is not None:
            cols.append(offsets)
        for row in zip(*(c if isinstance(c, list) else c.tolist() for c in cols)):
            fh.write(",".join(map(str, row)) + "\n")

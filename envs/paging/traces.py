"""Loading page-request sequences from files.

Every loader returns an int64 trace ``[T]`` whose ids are densified to ``0..n-1`` in order of first
appearance, so the trace is independent of how the file names its pages (hex hashes, integers,
URLs) and can index arrays directly.

Formats
-------
``lines``          one page id (any token without whitespace) per line; blank lines are skipped,
                   and so are lines starting with ``#`` (a comment or a header such as ``#id``),
                   with a warning that counts them: they are never read as requests.
``csv``            one request per row; ``column`` picks the id column by header name or index.
                   Without a name, a first row is a header when one of its cells is not an
                   integer while the cell below is; a one-column file of non-integer ids cannot
                   show its header that way: name the column.
``oracle_general`` libCacheSim's binary ``oracleGeneral`` records, 24 bytes each, little endian:
                   ``uint32 clock_time, uint64 obj_id, uint32 obj_size, int64 next_access_vtime``
                   (``-1`` = never requested again). Read through a memory map.

Integer ids are relabelled in O(n) with a hash table (:mod:`heurist.envs.paging.relabel`), and
one-id-per-line files of decimal ids are parsed in numba (:mod:`heurist.envs.paging.trace_read`).
"""
from __future__ import annotations

import csv
import warnings
from pathlib import Path

import numpy as np

from heurist.envs.paging.relabel import relabel
from heurist.envs.paging.trace_read import (
    NOT_INTEGER,
    TWO_FIELDS,
    check_next_access,
    memmap_oracle_general,
    parse_int_lines,
)

__all__ = [
    "FORMATS",
    "ORACLE_GENERAL_DTYPE",
    "check_path",
    "check_records",
    "dense_trace",
    "densify",
    "load_trace",
    "read_oracle_general",
    "trace_format",
    "write_oracle_general",
]

FORMATS = ("lines", "csv", "oracle_general")

#: One libCacheSim ``oracleGeneral`` record (packed, 24 bytes).
ORACLE_GENERAL_DTYPE = np.dtype([("clock_time", "<u4"), ("obj_id", "<u8"), ("obj_size", "<u4"),
                                 ("next_access_vtime", "<i8")])


def densify(ids) -> np.ndarray:
    """Maps ids ``[T]`` (any hashable numpy dtype) to int64 ``[T]`` in ``0..n-1``, numbered in
    order of first appearance."""
    ids = np.asarray(ids)
    if ids.ndim != 1:
        raise ValueError(f"densify expects a 1-D sequence of ids, got shape {ids.shape}")
    if ids.size == 0:
        return np.zeros(0, dtype=np.int64)
    if ids.dtype.kind in "iu" and ids.dtype.itemsize <= 8:
        return relabel(ids.astype(np.int64, copy=False) if ids.dtype.kind == "i" else ids)[0]
    _, first, inverse = np.unique(ids, return_index=True, return_inverse=True)
    rank = np.empty(first.size, dtype=np.int64)
    rank[np.argsort(first, kind="stable")] = np.arange(first.size, dtype=np.int64)
    return rank[inverse.reshape(-1)]


def dense_trace(trace) -> tuple[np.ndarray, np.ndarray, int]:
    """Validates a 1-D integer trace; returns ``(dense [T] int64, original ids [n], n)`` where
    ``dense`` indexes ``original ids`` (kept as is when the ids are already small non-negative)."""
    trace = np.asarray(trace)
    if trace.ndim != 1:
        raise ValueError(f"trace must be a 1-D array of page ids, got shape {trace.shape}")
    if trace.size and not np.issubdtype(trace.dtype, np.integer):
        raise ValueError(f"trace must hold integer page ids, got dtype {trace.dtype}")
    if trace.size == 0:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64), 0
    if trace.min() >= 0 and trace.max() < 2 * trace.size + 1024:
        n = int(trace.max()) + 1
        return np.ascontiguousarray(trace, dtype=np.int64), np.arange(n, dtype=np.int64), n
    dense, ids = relabel(trace.astype(np.int64, copy=False))
    return dense, ids.view(np.int64), int(ids.size)


def trace_format(path: Path, fmt: str | None) -> str:
    """The format of ``path``: ``fmt`` if given (validated), else by suffix."""
    if fmt is not None:
        if fmt not in FORMATS:
            raise ValueError(f"{path}: unknown trace format {fmt!r}; expected one of {FORMATS}")
        return fmt
    suffix = path.suffix.lower()
    if suffix == ".csv":
        return "csv"
    if suffix in (".bin", ".oraclegeneral") or path.name.lower().endswith(".oraclegeneral.bin"):
        return "oracle_general"
    return "lines"


def _warn_comments(path: Path, count: int, first: int) -> None:
    if count:
        warnings.warn(f"{path}:{first}: skipped {count} line(s) starting with '#' (a header or "
                      f"comment, not a page id)", UserWarning, stacklevel=3)


def _load_lines_general(path: Path) -> list[str]:
    """Any tokens as string ids (the fallback of the numba parser)."""
    ids = []
    comments, first = 0, 0
    with path.open("r", encoding="utf-8", errors="strict") as handle:
        for lineno, line in enumerate(handle, 1):
            tokens = line.split()
            if not tokens:
                continue
            if tokens[0].startswith("#"):
                comments += 1
                first = first or lineno
                continue
            if len(tokens) != 1:
                raise ValueError(f"{path}:{lineno}: expected one page id per line, got "
                                 f"{len(tokens)} fields: {line.strip()[:60]!r}")
            ids.append(tokens[0])
    _warn_comments(path, comments, first)
    return ids


def _load_lines(path: Path) -> np.ndarray:
    """Dense ids of a one-id-per-line file: decimal ids through the numba parser, anything else
    as strings."""
    values, status, line, comments, first = parse_int_lines(np.fromfile(path, dtype=np.uint8))
    if status == TWO_FIELDS:
        text = _line_text(path, line)
        raise ValueError(f"{path}:{line}: expected one page id per line, got "
                         f"{len(text.split())} fields: {text.strip()[:60]!r}")
    if status == NOT_INTEGER:
        ids = _load_lines_general(path)
        return densify(np.asarray(ids, dtype=object).astype(str)) if ids else np.zeros(0, np.int64)
    _warn_comments(path, comments, first)
    return relabel(values)[0]


def _line_text(path: Path, line: int) -> str:
    with path.open("rb") as handle:
        for lineno, raw in enumerate(handle, 1):
            if lineno == line:
                return raw.decode("utf-8", errors="replace")
    return ""


def _is_int(text: str) -> bool:
    try:
        int(text)
    except ValueError:
        return False
    return True


def _load_csv(path: Path, column: str | int | None) -> list[str]:
    with path.open("r", encoding="utf-8", newline="") as handle:
        rows = list(csv.reader(handle))
    numbered = [(lineno, row) for lineno, row in enumerate(rows, 1) if any(c.strip() for c in row)]
    if not numbered:
        return []
    header = numbered[0][1]
    if isinstance(column, str):
        names = [name.strip() for name in header]
        if column not in names:
            raise ValueError(f"{path}:{numbered[0][0]}: no column {column!r} in header {names}")
        index, body = names.index(column), numbered[1:]
    else:
        index = 0 if column is None else int(column)
        if index < 0:
            raise ValueError(f"{path}: column index must be >= 0, got {index}")
        # A first row with a non-integer cell above an integer one (in any column, so that a
        # header over hashed ids is found by its numeric time or size columns) is a header.
        has_header = len(numbered) > 1 and any(
            not _is_int(top) and _is_int(below)
            for top, below in zip(header, numbered[1][1]))
        body = numbered[1:] if has_header else numbered
    ids = []
    for lineno, row in body:
        if index >= len(row):
            raise ValueError(f"{path}:{lineno}: row has {len(row)} fields, column {column!r} "
                             f"(index {index}) is missing")
        cell = row[index].strip()
        if not cell:
            raise ValueError(f"{path}:{lineno}: empty page id in column {index}")
        ids.append(cell)
    return ids


def read_oracle_general(path) -> np.ndarray:
    """Reads the raw records of a libCacheSim ``oracleGeneral`` file as a structured array ``[T]``
    of :data:`ORACLE_GENERAL_DTYPE`; a truncated last record or an inconsistent next-access field is a
    ``ValueError`` naming the record index."""
    path = Path(path)
    records = memmap_oracle_general(path, ORACLE_GENERAL_DTYPE)
    check_records(path, records)
    return records


def check_records(path, records, offset: int = 0) -> None:
    """``ValueError`` naming the first record (file index; ``records[0]`` is record ``offset``)
    whose next-access field is neither "never" (-1 or INT64_MAX) nor in the future."""
    nxt = records["next_access_vtime"]
    first = int(check_next_access(nxt, offset)) if nxt.size else -1
    if first >= 0:
        raise ValueError(f"{path}: record {first}: next_access_vtime "
                         f"{int(nxt[first - offset])} does not lie after the request itself; is "
                         f"it an oracleGeneral trace? (--format)")


def write_oracle_general(path, trace, *, obj_size: int = 1) -> Path:
    """Writes trace ``[T]`` as libCacheSim ``oracleGeneral`` records with the next-access field
    filled (0-based request index of the next request to the same id, ``-1`` if none), which
    libCacheSim's Belady needs. ``clock_time`` is the request index."""
    from heurist.envs.paging.predictions import next_arrivals

    trace = np.asarray(trace)
    if trace.ndim != 1:
        raise ValueError(f"trace must be 1-D, got shape {trace.shape}")
    if obj_size < 1:
        raise ValueError(f"obj_size must be >= 1 (libCacheSim drops size-0 requests), got {obj_size}")
    nxt = next_arrivals(trace)
    records = np.zeros(trace.size, dtype=ORACLE_GENERAL_DTYPE)
    records["clock_time"] = np.arange(trace.size, dtype=np.uint32)
    records["obj_id"] = trace.astype(np.uint64)
    records["obj_size"] = obj_size
    records["next_access_vtime"] = np.where(np.isinf(nxt), -1, nxt).astype(np.int64)
    path = Path(path)
    records.tofile(path)
    return path


def check_path(path) -> Path:
    """``path`` as a Path if it is a readable file; else ``FileNotFoundError`` (missing) or
    ``ValueError`` (a directory, or not a regular file) naming it."""
    path = Path(path)
    if path.is_dir():
        raise ValueError(f"{path}: is a directory, not a trace file")
    if not path.exists():
        raise FileNotFoundError(f"trace file not found: {path}")
    if not path.is_file():
        raise ValueError(f"{path}: not a regular file")
    return path


def load_trace(path, *, fmt: str | None = None, column: str | int | None = None) -> np.ndarray:
    """Loads the request sequence in ``path`` as int64 ``[T]`` with ids densified to ``0..n-1`` in
    order of first appearance. ``fmt`` is ``"lines"``, ``"csv"`` or ``"oracle_general"`` (``None``:
    by suffix: ``.csv`` -> csv, ``.bin``/``.oracleGeneral`` -> oracle_general, else lines).
    ``column`` (csv only) is a header name or a 0-based index (default 0)."""
    path = check_path(path)
    kind = trace_format(path, fmt)
    if column is not None and kind != "csv":
        raise ValueError(f"{path}: a column only applies to csv traces, not {kind} (--column)")
    if kind == "oracle_general":
        records = read_oracle_general(path)
        dense = relabel(records["obj_id"])[0] if records.size else np.zeros(0, np.int64)
    else:
        try:
            if kind == "lines":
                dense = _load_lines(path)
            else:
                ids = _load_csv(path, column)
                dense = (densify(np.asarray(ids, dtype=object).astype(str)) if ids
                         else np.zeros(0, np.int64))
        except UnicodeDecodeError as exc:
            raise ValueError(f"{path}: not a UTF-8 text trace ({exc.reason} at byte {exc.start}); "
                             f"for a binary libCacheSim trace pass --format oracle_general") from None
    if dense.size == 0:
        raise ValueError(f"{path}: empty trace (no requests)")
    return dense

"""Loading page-request sequences from files.

Every loader returns an int64 trace ``[T]`` whose ids are densified to ``0..n-1`` in order of first
appearance, so the trace is independent of how the file names its pages (hex hashes, integers,
URLs) and can index arrays directly.

Formats
-------
``lines``          one page id (any token without whitespace) per line; blank lines are skipped.
``csv``            one request per row; ``column`` picks the id column by header name or index.
                   Without a name, a first row is a header when one of its cells is not an
                   integer while the cell below is; a one-column file of non-integer ids cannot
                   show its header that way: name the column.
``oracle_general`` libCacheSim's binary ``oracleGeneral`` records, 24 bytes each, little endian:
                   ``uint32 clock_time, uint64 obj_id, uint32 obj_size, int64 next_access_vtime``
                   (``-1`` = never requested again).
"""
from __future__ import annotations

import csv
from pathlib import Path

import numpy as np

__all__ = [
    "FORMATS",
    "ORACLE_GENERAL_DTYPE",
    "dense_trace",
    "densify",
    "load_trace",
    "read_oracle_general",
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
    ids, inverse = np.unique(trace, return_inverse=True)
    return inverse.reshape(-1).astype(np.int64), ids.astype(np.int64), int(ids.size)


def _format_of(path: Path, fmt: str | None) -> str:
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


def _load_lines(path: Path) -> list[str]:
    ids = []
    with path.open("r", encoding="utf-8", errors="strict") as handle:
        for lineno, line in enumerate(handle, 1):
            tokens = line.split()
            if not tokens:
                continue
            if len(tokens) != 1:
                raise ValueError(f"{path}:{lineno}: expected one page id per line, got "
                                 f"{len(tokens)} fields: {line.strip()[:60]!r}")
            ids.append(tokens[0])
    return ids


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
    raw = path.read_bytes()
    size = ORACLE_GENERAL_DTYPE.itemsize
    if len(raw) % size:
        raise ValueError(f"{path}: record {len(raw) // size}: truncated oracleGeneral record "
                         f"({len(raw) % size} of {size} bytes)")
    records = np.frombuffer(raw, dtype=ORACLE_GENERAL_DTYPE)
    nxt = records["next_access_vtime"]
    index = np.arange(records.size, dtype=np.int64)
    # libCacheSim writes -1 (or INT64_MAX) for "never"; any other value must lie in the future.
    bad = (nxt != -1) & (nxt != np.iinfo(np.int64).max) & (nxt <= index)
    if bad.any():
        first = int(np.flatnonzero(bad)[0])
        raise ValueError(f"{path}: record {first}: next_access_vtime {int(nxt[first])} does not lie "
                         f"after the request itself")
    return records


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


def load_trace(path, *, fmt: str | None = None, column: str | int | None = None) -> np.ndarray:
    """Loads the request sequence in ``path`` as int64 ``[T]`` with ids densified to ``0..n-1`` in
    order of first appearance. ``fmt`` is ``"lines"``, ``"csv"`` or ``"oracle_general"`` (``None``:
    by suffix: ``.csv`` -> csv, ``.bin``/``.oracleGeneral`` -> oracle_general, else lines).
    ``column`` (csv only) is a header name or a 0-based index (default 0)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"trace file not found: {path}")
    kind = _format_of(path, fmt)
    if column is not None and kind != "csv":
        raise ValueError(f"{path}: column= only applies to csv traces, not {kind}")
    if kind == "oracle_general":
        ids = read_oracle_general(path)["obj_id"]
    else:
        try:
            ids = _load_lines(path) if kind == "lines" else _load_csv(path, column)
        except UnicodeDecodeError as exc:
            raise ValueError(f"{path}: not a UTF-8 text trace ({exc.reason} at byte {exc.start}); "
                             f"pass fmt='oracle_general' for binary traces") from None
        ids = np.asarray(ids, dtype=object).astype(str) if ids else np.zeros(0, dtype=np.int64)
    if len(ids) == 0:
        raise ValueError(f"{path}: empty trace (no requests)")
    return densify(ids)

"""Fast readers behind :func:`heurist.envs.paging.load_trace`: a numba parser of one-id-per-line
text whose ids are decimal integers, and the memory-mapped oracleGeneral reader with its record
check. Anything the fast text parser does not handle exactly (a non-digit token, a leading zero,
a sign, a number of 20 digits or more) is reported back so that the caller falls back to the
general string reader, which treats ids as strings: ``"05"`` and ``"5"`` stay different pages.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
from numba import njit

__all__ = [
    "NOT_INTEGER",
    "OK",
    "TWO_FIELDS",
    "check_next_access",
    "memmap_oracle_general",
    "parse_int_lines",
]

OK, NOT_INTEGER, TWO_FIELDS = 0, 1, 2


@njit(cache=True, inline="always")
def _space(c):
    return c == 32 or c == 9 or c == 13 or c == 11 or c == 12


@njit(cache=True)
def parse_int_lines(buf):
    """Parses ``buf`` (uint8 ``[bytes]``) as one decimal id per line; blank lines and lines
    starting with ``#`` are skipped. Returns ``(values [n] uint64, status, line, n_comments,
    first_comment_line)``; ``status`` is :data:`OK`, or :data:`NOT_INTEGER` / :data:`TWO_FIELDS`
    with the 1-based ``line`` where parsing stopped."""
    size = buf.size
    values = np.empty(size // 2 + 1, dtype=np.uint64)  # every id takes at least 2 bytes
    n = 0
    i = 0
    line = 0
    comments = 0
    first_comment = 0
    while i < size:
        line += 1
        while i < size and _space(buf[i]):
            i += 1
        if i >= size:
            break
        c = buf[i]
        if c == 10:  # blank line
            i += 1
            continue
        if c == 35:  # '#': a comment line
            comments += 1
            if first_comment == 0:
                first_comment = line
            while i < size and buf[i] != 10:
                i += 1
            i += 1
            continue
        start = i
        value = np.uint64(0)
        while i < size and 48 <= buf[i] <= 57:
            value = value * np.uint64(10) + np.uint64(buf[i] - 48)
            i += 1
        digits = i - start
        if digits == 0 or digits >= 20 or (digits > 1 and buf[start] == 48):
            return values[:n], NOT_INTEGER, line, comments, first_comment
        if i < size and buf[i] != 10 and not _space(buf[i]):
            return values[:n], NOT_INTEGER, line, comments, first_comment
        while i < size and _space(buf[i]):
            i += 1
        if i < size and buf[i] != 10:
            return values[:n], TWO_FIELDS, line, comments, first_comment
        i += 1
        if n == values.size:  # only a file of one-byte lines without newlines gets here
            grown = np.empty(2 * values.size, dtype=np.uint64)
            grown[:n] = values
            values = grown
        values[n] = value
        n += 1
    return values[:n], OK, line, comments, first_comment


@njit(cache=True)
def check_next_access(nxt, offset):
    """Index (in the file) of the first record whose ``next_access_vtime`` is neither "never"
    (-1 or INT64_MAX) nor after the record itself; -1 if none. ``offset`` is the file index of
    ``nxt[0]``."""
    never = np.iinfo(np.int64).max
    for i in range(nxt.size):
        v = nxt[i]
        if v != -1 and v != never and v <= offset + i:
            return offset + i
    return -1


def memmap_oracle_general(path: Path, dtype: np.dtype) -> np.ndarray:
    """The records of an oracleGeneral file as a read-only memory map ``[T]`` of ``dtype``
    (an empty array for an empty file); a truncated last record is a ``ValueError``."""
    size = path.stat().st_size
    if size % dtype.itemsize:
        raise ValueError(f"{path}: record {size // dtype.itemsize}: truncated oracleGeneral record "
                         f"({size % dtype.itemsize} of {dtype.itemsize} bytes); is it an "
                         f"oracleGeneral trace? (--format)")
    if size == 0:
        return np.zeros(0, dtype=dtype)
    return np.memmap(path, dtype=dtype, mode="r")

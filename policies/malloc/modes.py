"""The two problem modes every planner accepts.

* ``packing`` (MiniMalloc): every buffer gets an offset; the objective is the peak address
  ``max(offset + size)``, feasible when it is ``<= capacity``.
* ``mapping`` (mallocGame): a buffer may stay in slow memory (``SLOW`` = -1); all offsets must
  lie below the capacity; the objective is the cost-model program time.
"""
from __future__ import annotations

__all__ = ["MODES", "check_mode"]

MODES = ("packing", "mapping")


def check_mode(mode: str) -> str:
    """Returns ``mode`` if valid, else raises ``ValueError``."""
    if mode not in MODES:
        raise ValueError(f"mode={mode!r}: expected one of {MODES}")
    return mode

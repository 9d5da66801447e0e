"""The two problem modes of a malloc instance, shared by the env, the oracles and every planner.

* ``packing`` (MiniMalloc): every buffer gets an offset; the objective is the peak address
  ``max(offset + size)``, feasible when it is ``<= capacity``.
* ``mapping`` (mallocGame): a buffer may stay in slow memory (``SLOW`` = -1); all offsets must
  lie below the capacity; the objective is the cost-model program time.

(The extractor's ``inference``/``training`` graphs are another idea: ``extract.GRAPH_MODES``.)
"""
from __future__ import annotations

__all__ = ["PLAN_MODES", "check_plan_mode"]

PLAN_MODES = ("packing", "mapping")


def check_plan_mode(mode: str) -> str:
    """Returns ``mode`` if it is one of ``PLAN_MODES``, else raises ``ValueError``."""
    if mode not in PLAN_MODES:
        raise ValueError(f"mode={mode!r}: expected one of {PLAN_MODES}")
    return mode

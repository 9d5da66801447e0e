"""The one simulator loop every paging policy runs in, libCacheSim's structure in numba.

A policy is a module-level namespace of four ``@njit`` hooks over its own ``state`` (a tuple of
arrays and constants), named as libCacheSim names them:

``_find(state, page, t) -> bool``      called on every request; True on a hit (the policy updates
                                       its metadata), False on a miss (it may note what the miss
                                       needs, e.g. a marking phase or a ghost hit).
``_to_evict(state, page, t) -> int``   on a miss with a full cache: chooses the victim page. It
                                       does not evict (S3-FIFO's choice still moves pages between
                                       its queues on the way, as in libCacheSim).
``_evict(state, victim, t)``           removes the victim.
``_insert(state, page, t)``            admits the missed page.

:func:`simulator_for` compiles :func:`_simulate_loop` once per policy namespace with those hooks
bound as globals, so numba inlines them (declare them ``inline="always"``) into a direct loop (a hook passed as a first-class function
argument would not be cached on disk). Hooks must not allocate: state is built before the loop. The loop counts occupancy itself: policies are demand paging
and evict exactly one page on a miss with a full cache, never otherwise.
"""
from __future__ import annotations

import hashlib
import types
from pathlib import Path

from numba import njit

__all__ = ["HOOKS", "simulator_for"]

#: The hook names a policy namespace must define.
HOOKS = ("_find", "_to_evict", "_evict", "_insert")


def _simulate_loop(trace, k, state, miss, victims, occupancy):
    """Replays dense ``trace [T]`` with ``k`` slots of which ``occupancy`` are filled (0 for a
    fresh cache; a streamed trace carries it from chunk to chunk); fills ``miss [T]`` and
    ``victims [T]`` (the page evicted at request ``t``, left as is when none). Returns the
    occupancy at the end."""
    for t in range(trace.size):
        page = trace[t]
        if _find(state, page, t):  # noqa: F821 - bound by simulator_for
            continue
        miss[t] = True
        if occupancy == k:
            victim = _to_evict(state, page, t)  # noqa: F821
            _evict(state, victim, t)  # noqa: F821
            victims[t] = victim
        else:
            occupancy += 1
        _insert(state, page, t)  # noqa: F821
    return occupancy


def _digest(*files: str) -> str:
    h = hashlib.sha256()
    for file in files:
        h.update(Path(file).read_bytes())
    return h.hexdigest()[:12]


def simulator_for(namespace: dict):
    """The simulator loop compiled with the hooks of ``namespace`` (a policy module's
    ``globals()``): ``sim(trace [T], k, state, miss [T] bool, victims [T] int64, occupancy)``.

    numba's disk cache is keyed by the function's qualified name, and it does not see edits in
    called functions, so the name carries a digest of this file and of the policy's file: an
    edit to either compiles afresh instead of loading stale machine code.
    """
    missing = [name for name in HOOKS if name not in namespace]
    if missing:
        raise ValueError(f"{namespace.get('__name__')}: missing simulator hooks {missing}")
    module = namespace["__name__"].rpartition(".")[2]
    tag = _digest(__file__, namespace["__file__"])
    fn = types.FunctionType(_simulate_loop.__code__, namespace, f"simulate_{module}")
    fn.__qualname__ = f"simulate_{module}_{tag}"
    fn.__doc__ = _simulate_loop.__doc__
    # No NRT: the loop allocates nothing, and without it numba emits no reference counting
    # around the hooks' state tuple, which otherwise costs 2x (measured on OPT, 1e6 requests).
    return njit(cache=True, _nrt=False)(fn)

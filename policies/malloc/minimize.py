"""Capacity minimisation with the exact ``minimalloc`` search: the smallest capacity a packing
fits in, with a proof when the search completes.

The best greedy packing (greedy-by-size or first fit, the lower peak) gives the upper start and
the peak of live bytes the lower one. The search first tries the lower bound itself (on zero-slack
instances that is the answer), then bisects: a packing found lowers the upper end to its peak; a
completed search (``infeasible``) raises the lower end above the probe, which is a proof; a probe
that runs out of nodes shrinks the window from above only (nothing proved). Each probe gets half
the nodes left, so the whole run is bounded by ``node_limit`` and deterministic. ``wall_limit``
(seconds) caps the wall time as well: no probe starts after it, and each probe's nodes are cut
to what the node rate measured so far fits in the time left (the first probe: 50,000 nodes/s x
a quarter of it), so the run ends near the limit; what was proved stays proved (``optimal``).
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np

from heurist.envs.malloc.instance import MallocInstance
from heurist.envs.malloc.peak import peak_live_bytes
from heurist.policies.malloc.geometry import address_unit
from heurist.policies.malloc.greedy import first_fit, greedy_size
from heurist.policies.malloc.minimalloc_search import MINIMALLOC_NODES_PER_SECOND, minimalloc_pack

__all__ = ["MinimizeResult", "lowest_greedy", "minimize_capacity"]


@dataclass(frozen=True)
class MinimizeResult:
    """``offsets`` ``int64 [N]``: the best packing found, of peak ``capacity``; ``lower_bound``:
    no packing fits below it (peak live bytes, or raised by completed searches); ``optimal``:
    ``capacity == lower_bound``; ``greedy``: the greedy start's peak; ``nodes``: search nodes in
    all; ``probes``: ``(capacity, status, nodes)`` of each search, in order; ``seconds``: wall
    time; ``wall_capped``: the wall limit stopped it or cut a probe short."""

    offsets: np.ndarray
    capacity: int
    lower_bound: int
    optimal: bool
    greedy: int
    nodes: int
    probes: list[tuple[int, str, int]] = field(default_factory=list)
    seconds: float = 0.0
    wall_capped: bool = False


def lowest_greedy(inst: MallocInstance) -> np.ndarray:
    """The lower-peak packing of greedy-by-size and first fit: offsets ``int64 [N]``."""
    plans = [greedy_size(inst), first_fit(inst)]
    return min(plans, key=lambda o: int((o + inst.size).max()) if inst.n else 0)


def _peak(inst: MallocInstance, offsets: np.ndarray) -> int:
    return int((offsets + inst.size).max()) if inst.n else 0


def minimize_capacity(inst: MallocInstance, *, node_limit: int = 1_000_000,
                      min_probe_nodes: int = 1_000,
                      wall_limit: float | None = None) -> MinimizeResult:
    """The smallest capacity ``minimalloc`` packs ``inst`` in within ``node_limit`` nodes and
    (if given) about ``wall_limit`` seconds (see the module doc); ``min_probe_nodes``: no probe
    gets fewer (the last may exceed the limit by that much)."""
    if node_limit < 1 or min_probe_nodes < 1:
        raise ValueError(f"node_limit and min_probe_nodes must be >= 1, got {node_limit}, "
                         f"{min_probe_nodes}")
    if wall_limit is not None and not 0 < wall_limit < float("inf"):
        raise ValueError(f"wall_limit must be finite and > 0, got {wall_limit}")
    t_start = time.perf_counter()
    best = lowest_greedy(inst)
    greedy = hi = _peak(inst, best)
    unit = address_unit(inst)
    # Peaks are multiples of the address unit (every size and offset is), so is the answer.
    lo = -(-int(peak_live_bytes(inst)) // unit) * unit
    probes: list[tuple[int, str, int]] = []
    used = 0
    # ``lo``: proved (nothing fits below); ``start``: the lowest capacity not yet given up on.
    start = probe = lo
    capped = False
    while start < hi and used < node_limit:
        budget = max(min_probe_nodes, (node_limit - used) // 2)
        if wall_limit is not None:
            spent = time.perf_counter() - t_start
            left = wall_limit - spent
            if left <= 0:
                capped = True
                break
            # Nodes the time left allows at the rate seen so far (a guess before any probe).
            rate = used / spent if used and spent > 0 else None
            fits = int(rate * left) if rate else int(MINIMALLOC_NODES_PER_SECOND * left / 4)
            if fits < budget:
                budget = max(min_probe_nodes, fits)
                capped = True
        result = minimalloc_pack(inst, capacity=probe, node_limit=budget)
        used += result.nodes
        probes.append((probe, result.status, result.nodes))
        if result.status == "feasible" and result.offsets is not None:
            best = result.offsets
            hi = _peak(inst, best)
        elif result.status == "infeasible":
            lo = start = probe + unit
        else:  # out of nodes: nothing proved; look higher, where packings are easier to find
            start = probe + unit
        probe = max(start, (start + hi) // 2 // unit * unit)
    return MinimizeResult(offsets=best, capacity=hi, lower_bound=lo, optimal=lo == hi,
                          greedy=greedy, nodes=used, probes=probes,
                          seconds=time.perf_counter() - t_start,
                          wall_capped=capped and lo != hi)

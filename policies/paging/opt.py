"""OPT: Belady's offline optimum (evict the page whose next request is farthest in the future)."""
from __future__ import annotations

import numpy as np
from numba import njit

from heurist.policies.paging._farthest import farthest_key_run
from heurist.policies.paging.base import PagingPolicy, register_policy

__all__ = ["OPT"]


@njit(cache=True)
def _belady_keys(trace, n_ids):
    # Integer keys: the next request's index, or T + page for "never" (after every real request,
    # and distinct, so ties never depend on heap order).
    T = trace.size
    keys = np.empty(T, dtype=np.int64)
    seen = np.full(n_ids, -1, dtype=np.int64)
    for t in range(T - 1, -1, -1):
        page = trace[t]
        keys[t] = seen[page] if seen[page] >= 0 else T + page
        seen[page] = t
    return keys


@register_policy
class OPT(PagingPolicy):
    """Belady's MIN / furthest-in-the-future: optimal for unit-size paging (offline)."""

    name = "OPT"
    aliases = ("belady", "min")
    offline = True

    def _run(self, trace, n_ids, k, predictions, seed):
        return farthest_key_run(trace, _belady_keys(trace, n_ids), n_ids, k)



"""OPT: Belady's offline optimum (evict the page whose next request is farthest in the future)."""
from __future__ import annotations

import numpy as np

from heurist.envs.paging.predictions import next_arrivals_dense
from heurist.policies.paging._farthest import farthest_key_run
from heurist.policies.paging.base import PagingPolicy, register_policy

__all__ = ["OPT"]


def _belady_keys(trace, n_ids):
    # Integer keys: the next request's index, or T + page for "never" (after every real request,
    # and distinct, so ties never depend on heap order).
    nxt = next_arrivals_dense(trace, n_ids)
    return np.where(nxt >= 0, nxt, trace.size + trace)


@register_policy
class OPT(PagingPolicy):
    """Belady's MIN / furthest-in-the-future: optimal for unit-size paging (offline)."""

    name = "OPT"
    aliases = ("belady", "min")
    offline = True

    def _run(self, trace, n_ids, k, predictions, seed):
        return farthest_key_run(trace, _belady_keys(trace, n_ids), n_ids, k)



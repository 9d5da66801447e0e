"""OPT: Belady's offline optimum (evict the page whose next request is farthest in the future)."""
from __future__ import annotations

import numpy as np
from heurist.envs.paging.predictions import next_arrival_indices
from heurist.policies.paging._farthest import farthest_key_run
from heurist.policies.paging.base import PagingPolicy, register_policy

__all__ = ["OPT"]


@register_policy
class OPT(PagingPolicy):
    """Belady's MIN / furthest-in-the-future: optimal for unit-size paging (offline)."""

    name = "OPT"
    aliases = ("belady", "min")
    offline = True

    def _run(self, trace, n_ids, k, predictions, seed):
        nxt = next_arrival_indices(trace).astype(np.float64)
        nxt[nxt < 0] = np.inf
        return farthest_key_run(trace, nxt, n_ids, k)

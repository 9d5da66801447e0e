"""OPT: Belady's offline optimum (evict the page whose next request is farthest in the future)."""
from __future__ import annotations

from heurist.envs.paging.belady import belady_keys, farthest_state
from heurist.policies.paging.base import PagingPolicy, register_policy

__all__ = ["OPT"]


@register_policy
class OPT(PagingPolicy):
    """Belady's MIN / furthest-in-the-future: optimal for unit-size paging (offline)."""

    name = "OPT"
    aliases = ("belady", "min")
    offline = True

    def _state(self, trace, n_ids, k, predictions, seed):
        return farthest_state(belady_keys(trace, n_ids), n_ids, k)

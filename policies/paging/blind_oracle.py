"""BlindOracle (follow the prediction): Belady's rule applied to predicted next arrivals."""
from __future__ import annotations

from heurist.envs.paging.belady import farthest_state
from heurist.policies.paging.base import PagingPolicy, register_policy

__all__ = ["BlindOracle"]


@register_policy
class BlindOracle(PagingPolicy):
    """Evicts the cached page whose predicted next arrival (made at its latest request) is largest.
    With exact predictions it is OPT; with bad ones it is not competitive (Lykouris & Vassilvitskii
    2018), which is why the robust variants exist."""

    name = "BlindOracle"
    aliases = ("ftp", "follow_the_prediction")
    needs = ("next_arrival",)

    def _state(self, trace, n_ids, k, predictions, seed):
        return farthest_state(predictions.next_arrival, n_ids, k)

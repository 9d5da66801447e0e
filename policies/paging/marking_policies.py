"""The marking-family policies (thin units over :mod:`heurist.policies.paging._marking`).

Definitions (our reading of the papers, fixed here):

* **Marker**: deterministic marking; evicts the unmarked page loaded earliest (LRU, the other
  natural tie rule, is listed on its own).
* **RandomizedMarker**: uniformly random unmarked page (Fiat et al. 1991, 2H_k-competitive).
* **PredictiveMarker** (Lykouris & Vassilvitskii 2018): a clean miss starts a new *chain*; the page
  it evicts joins the chain, and a stale miss on a chain member extends that chain. While a chain is
  at most H_k long the victim is the unmarked page with the furthest predicted next arrival, then a
  uniformly random unmarked page.
* **LMarker** (Rohatgi 2020): clean miss -> unmarked page with the furthest predicted arrival;
  stale miss -> uniformly random unmarked page.
* **LNonMarker** (after Rohatgi 2020; simplified): like LMarker, but a clean miss may evict the
  *marked* page with the furthest prediction, at most one such eviction per clean miss after the
  first in a phase, so it is not a marking algorithm.
* **Discard** / **DiscardRandomized** (Antoniadis et al. 2023, discard bits): evict a cached page whose
  latest bit says "safe to evict" (the least recently used / a uniformly random one); with none,
  fall back to marking (LRU / random unmarked). With exact bits every fault finds a safe page and the
  cost is OPT's: the unsafe pages are all in OPT's cache, so k unsafe pages plus the requested one
  would overflow it.
* **MarkAndPredict** (phase bits): random unmarked page predicted not to be requested in the current
  phase, else a random unmarked page.
"""
from __future__ import annotations

import numpy as np

from heurist.policies.paging import _marking as m
from heurist.policies.paging.base import PagingPolicy, register_policy, seed_numba

__all__ = [
    "Discard",
    "DiscardRandomized",
    "LMarker",
    "LNonMarker",
    "MarkAndPredict",
    "Marker",
    "PredictiveMarker",
    "RandomizedMarker",
]


class _MarkingPolicy(PagingPolicy):
    rule: int = -1

    def _state(self, trace, n_ids, k, predictions, seed):
        T = trace.size
        pred = (predictions.next_arrival if predictions is not None
                and predictions.next_arrival is not None else np.zeros(T))
        discard = (predictions.discard if predictions is not None
                   and predictions.discard is not None else np.zeros(T, dtype=np.bool_))
        phase = (predictions.phase if predictions is not None
                 and predictions.phase is not None else np.zeros(T, dtype=np.bool_))
        seed_numba(seed)
        return m.marking_state(trace, n_ids, k, self.rule, pred, discard, phase)


@register_policy
class Marker(_MarkingPolicy):
    """Deterministic marking, FIFO among unmarked pages (k-competitive)."""

    name, rule = "Marker", m.MARKER
    aliases = ("deterministic_marker",)


@register_policy
class RandomizedMarker(_MarkingPolicy):
    """Randomized marking (2H_k-competitive)."""

    name, rule, randomized = "RandomizedMarker", m.RANDOMIZED_MARKER, True
    aliases = ("randmarker", "random_marker")


@register_policy
class PredictiveMarker(_MarkingPolicy):
    """Predictive Marker of Lykouris & Vassilvitskii (ICML 2018)."""

    name, rule, randomized = "PredictiveMarker", m.PREDICTIVE_MARKER, True
    needs = ("next_arrival",)


@register_policy
class LMarker(_MarkingPolicy):
    """LMarker of Rohatgi (SODA 2020)."""

    name, rule, randomized = "LMarker", m.LMARKER, True
    needs = ("next_arrival",)


@register_policy
class LNonMarker(_MarkingPolicy):
    """LNonMarker after Rohatgi (SODA 2020), simplified (see the module docstring)."""

    name, rule, randomized = "LNonMarker", m.LNONMARKER, True
    needs = ("next_arrival",)


@register_policy
class Discard(_MarkingPolicy):
    """Deterministic discard-bit algorithm (Antoniadis et al., ICML 2023)."""

    name, rule = "Discard", m.DISCARD
    aliases = ("discard_deterministic",)
    needs = ("discard",)


@register_policy
class DiscardRandomized(_MarkingPolicy):
    """Randomized discard-bit algorithm (Antoniadis et al., ICML 2023)."""

    name, rule, randomized = "DiscardRandomized", m.DISCARD_RANDOMIZED, True
    aliases = ("discard_random",)
    needs = ("discard",)


@register_policy
class MarkAndPredict(_MarkingPolicy):
    """Mark&Predict with phase bits (Antoniadis et al., ICML 2023)."""

    name, rule, randomized = "Mark&Predict", m.MARK_AND_PREDICT, True
    aliases = ("markpredict",)
    needs = ("phase",)

"""LearnedFTP: follow the learned prediction, conditioned on what the cache has seen since.

BlindOracle evicts the page whose next arrival, predicted at its latest request, is farthest. A
point prediction goes stale: a page predicted back in 8 requests that is still absent after 500
keeps its early arrival time forever and is never evicted. LearnedFTP keeps the whole predicted
distribution of the gap (:class:`~heurist.policies.paging.learned_predictor.PagingPredictorNet`'s
gap head, log2 buckets plus "never") and at each eviction conditions it on the gap being larger
than the time elapsed since that request: the victim is the cached page with the largest expected
remaining log2 gap. With exact one-hot predictions this is Belady. It reads nothing but the
predictor's causal outputs, so no oracle information enters.
"""
from __future__ import annotations

import numpy as np
from numba import njit

from heurist.envs.paging.sim_loop import simulator_for
from heurist.policies.paging.base import PagingPolicy, register_policy

__all__ = ["LearnedFTP"]


# state = (cached [n_ids] bool, slots [k] (page per slot), slot_of [n_ids], last [n_ids] (index of
#          the page's latest request), probs [T, B + 1] (gap distribution per request),
#          centres [B + 1] (log2 value of each class), reg [1]: filled slots)
@njit(cache=True, inline="always")
def _find(state, page, t):
    cached, _slots, _slot_of, last = state[0], state[1], state[2], state[3]
    if cached[page]:
        last[page] = t
        return True
    return False


@njit(cache=True)
def _remaining(probs, centres, r, elapsed):
    """Expected log2 gap of request ``r``'s distribution given gap > ``elapsed`` (a bucket is kept
    in proportion to its part above ``elapsed``, linear in log2(1 + gap))."""
    u = np.log2(1.0 + elapsed)
    n = centres.size - 1
    num, den = 0.0, 0.0
    for b in range(n + 1):
        p = probs[r, b]
        if b == n:
            w, c = 1.0, centres[b]
        elif u >= b + 1:
            continue
        elif u > b:
            w, c = b + 1 - u, 0.5 * (u + b + 1)
        else:
            w, c = 1.0, centres[b]
        num += p * w * c
        den += p * w
    if den <= 1e-12:  # every finite bucket passed and "never" had no mass: surely far away
        return centres[n]
    return num / den


@njit(cache=True, inline="always")
def _to_evict(state, page, t):
    slots, last, probs, centres = state[1], state[3], state[4], state[5]
    best, victim = -1.0, slots[0]
    for i in range(slots.size):
        q = slots[i]
        score = _remaining(probs, centres, last[q], t - last[q])
        if score > best:  # ties: the first slot
            best, victim = score, q
    return victim


@njit(cache=True, inline="always")
def _evict(state, victim, t):
    state[0][victim] = False
    state[6][1] = state[2][victim]  # the freed slot is reused by the insert that follows


@njit(cache=True, inline="always")
def _insert(state, page, t):
    cached, slots, slot_of, last, reg = state[0], state[1], state[2], state[3], state[6]
    if reg[0] < slots.size:
        i = reg[0]
        reg[0] += 1
    else:
        i = reg[1]
    slots[i] = page
    slot_of[page] = i
    cached[page] = True
    last[page] = t


_simulate = simulator_for(globals())


@register_policy
class LearnedFTP(PagingPolicy):
    """Conditional follow-the-prediction over a learned gap distribution (module docstring).
    ``predictor``: a :class:`~heurist.policies.paging.learned_predictor.LearnedPagingPredictor`
    or an artifact folder (default: the predictor shipped in the package), loaded on first use."""

    name = "LearnedFTP"
    aliases = ("learned_ftp", "learnedfollow")

    def __init__(self, *, predictor=None) -> None:
        self._predictor = predictor

    @property
    def predictor(self):
        from heurist.policies.paging.learned_predictor import LearnedPagingPredictor, load_predictor

        if not isinstance(self._predictor, LearnedPagingPredictor):
            self._predictor = load_predictor(self._predictor)
        return self._predictor

    def _state(self, trace, n_ids, k, predictions, seed):
        pred = self.predictor
        probs, _ = pred.distributions(trace)
        n = probs.shape[1] - 1
        centres = np.append(np.arange(n) + 0.5, pred.net.config["never_log2"])
        slots = np.zeros(k, dtype=np.int64)
        return _simulate, (np.zeros(n_ids, dtype=np.bool_), slots,
                           np.zeros(n_ids, dtype=np.int64), np.zeros(n_ids, dtype=np.int64),
                           np.ascontiguousarray(probs), centres, np.zeros(2, dtype=np.int64))

    def __repr__(self) -> str:
        return f"LearnedFTP(predictor={self._predictor!r})"

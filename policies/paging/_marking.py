"""The kernel of the marking family (Marker, Randomized Marker, Predictive Marker, LMarker,
LNonMarker, the discard-bit algorithms, Mark&Predict): they share the phase bookkeeping and differ
only in how the victim is chosen, one ``_victim_*`` function per rule.

Phases are the k-phase partition: a request to a page not yet requested in the current phase, when
``k`` distinct pages were already requested in it, starts a new phase and unmarks every cached page.
Every request marks its page. A page missed in phase ``i`` is *clean* if it was requested in neither
phase ``i-1`` nor phase ``i``, else *stale*.
"""
from __future__ import annotations

import numpy as np
from numba import njit

__all__ = [
    "DISCARD",
    "DISCARD_RANDOMIZED",
    "LMARKER",
    "LNONMARKER",
    "MARKER",
    "MARK_AND_PREDICT",
    "PREDICTIVE_MARKER",
    "RANDOMIZED_MARKER",
    "marking_run",
]

(MARKER, RANDOMIZED_MARKER, PREDICTIVE_MARKER, LMARKER, LNONMARKER, DISCARD, DISCARD_RANDOMIZED,
 MARK_AND_PREDICT) = range(8)


@njit(cache=True, inline="always")
def _add(items, index, n, page):
    items[n] = page
    index[page] = n
    return n + 1


@njit(cache=True, inline="always")
def _drop(items, index, n, page):
    i = index[page]
    last = items[n - 1]
    items[i] = last
    index[last] = i
    index[page] = -1
    return n - 1


@njit(cache=True)
def _argmax(items, n, key):
    best, best_key = items[0], key[items[0]]
    for i in range(1, n):
        if key[items[i]] > best_key:
            best, best_key = items[i], key[items[i]]
    return best


@njit(cache=True)
def _argmin(items, n, key):
    best, best_key = items[0], key[items[0]]
    for i in range(1, n):
        if key[items[i]] < best_key:
            best, best_key = items[i], key[items[i]]
    return best


@njit(cache=True)
def _victim_discard(slots, n_cached, unmarked, n_unmarked, bits, last_use, randomized):
    """A cached page whose latest discard bit says "safe to evict" (the least recently used one, or
    a uniformly random one); if there is none, the LRU / a random unmarked page."""
    count, best, best_use = 0, -1, np.int64(1) << 62
    for i in range(n_cached):
        page = slots[i]
        if bits[page]:
            count += 1
            if randomized:
                if np.random.randint(0, count) == 0:  # reservoir sampling: uniform over the safe
                    best = page
            elif last_use[page] < best_use:
                best, best_use = page, last_use[page]
    if best >= 0:
        return best
    if randomized:
        return unmarked[np.random.randint(0, n_unmarked)]
    return _argmin(unmarked, n_unmarked, last_use)


@njit(cache=True)
def _victim_mark_and_predict(unmarked, n_unmarked, phase_bits):
    """A random unmarked page predicted *not* to be requested in this phase, else a random one."""
    count, best = 0, -1
    for i in range(n_unmarked):
        page = unmarked[i]
        if not phase_bits[page]:
            count += 1
            if np.random.randint(0, count) == 0:
                best = page
    if best >= 0:
        return best
    return unmarked[np.random.randint(0, n_unmarked)]


@njit(cache=True)
def _victim(rule, page, clean, slots, n_cached, unmarked, n_unmarked, upos, load_time, last_use,
            cur_pred, cur_discard, cur_phase, chain_of, chain_len, n_chains, harmonic,
            clean_arrivals, marked_evictions):
    """Chooses the victim of ``rule`` without touching the cache (only the chain and budget
    bookkeeping of the predictive rules). Returns ``(victim, n_chains, marked_evictions)``."""
    if rule == MARKER:  # the unmarked page loaded earliest
        victim = _argmin(unmarked, n_unmarked, load_time)
    elif rule == RANDOMIZED_MARKER:
        victim = unmarked[np.random.randint(0, n_unmarked)]
    elif rule == PREDICTIVE_MARKER:
        chain = chain_of[page]
        if clean or chain < 0:
            chain = n_chains
            n_chains += 1
        chain_len[chain] += 1
        if chain_len[chain] <= harmonic:
            victim = _argmax(unmarked, n_unmarked, cur_pred)
        else:
            victim = unmarked[np.random.randint(0, n_unmarked)]
        chain_of[victim] = chain
    elif rule == LMARKER:
        if clean:
            victim = _argmax(unmarked, n_unmarked, cur_pred)
        else:
            victim = unmarked[np.random.randint(0, n_unmarked)]
    elif rule == LNONMARKER:
        if clean:
            victim = _argmax(slots, n_cached, cur_pred)
            if upos[victim] < 0:
                if marked_evictions < clean_arrivals - 1:
                    marked_evictions += 1
                else:
                    victim = _argmax(unmarked, n_unmarked, cur_pred)
        else:
            victim = unmarked[np.random.randint(0, n_unmarked)]
    elif rule == DISCARD or rule == DISCARD_RANDOMIZED:
        victim = _victim_discard(slots, n_cached, unmarked, n_unmarked, cur_discard,
                                 last_use, rule == DISCARD_RANDOMIZED)
    else:
        victim = _victim_mark_and_predict(unmarked, n_unmarked, cur_phase)
    return victim, n_chains, marked_evictions


@njit(cache=True)
def marking_run(trace, n_ids, k, rule, pred, discard, phase_bit, seed):
    """Replays ``trace [T]``; ``pred``/``discard``/``phase_bit`` ``[T]`` are the predictions made at
    each request (ignored by rules that do not read them). Returns ``(miss [T], victims [T])``."""
    np.random.seed(seed)
    T = trace.size
    slots = np.empty(k, dtype=np.int64)
    pos = np.full(n_ids, -1, dtype=np.int64)
    unmarked = np.empty(k, dtype=np.int64)
    upos = np.full(n_ids, -1, dtype=np.int64)
    n_cached, n_unmarked = 0, 0
    mark_phase = np.full(n_ids, -2, dtype=np.int64)
    load_time = np.zeros(n_ids, dtype=np.int64)
    last_use = np.zeros(n_ids, dtype=np.int64)
    cur_pred = np.zeros(n_ids, dtype=np.float64)
    cur_discard = np.zeros(n_ids, dtype=np.bool_)
    cur_phase = np.zeros(n_ids, dtype=np.bool_)
    chain_of = np.full(n_ids, -1, dtype=np.int64)
    chain_len = np.zeros(T + 1, dtype=np.int64)
    n_chains = 0
    phase, n_marked = 0, 0
    clean_arrivals, marked_evictions = 0, 0
    harmonic = 0.0
    for i in range(1, k + 1):
        harmonic += 1.0 / i
    miss = np.zeros(T, dtype=np.bool_)
    victims = np.full(T, -1, dtype=np.int64)
    for t in range(T):
        page = trace[t]
        if mark_phase[page] != phase and n_marked == k:  # a new phase: unmark everything
            phase += 1
            n_marked, clean_arrivals, marked_evictions = 0, 0, 0
            n_unmarked = 0
            for i in range(n_cached):
                n_unmarked = _add(unmarked, upos, n_unmarked, slots[i])
        clean = mark_phase[page] < phase - 1
        if pos[page] < 0:
            miss[t] = True
            if clean:
                clean_arrivals += 1
            if n_cached == k:
                victim, n_chains, marked_evictions = _victim(
                    rule, page, clean, slots, n_cached, unmarked, n_unmarked, upos, load_time,
                    last_use, cur_pred, cur_discard, cur_phase, chain_of, chain_len, n_chains,
                    harmonic, clean_arrivals, marked_evictions)
                n_cached = _drop(slots, pos, n_cached, victim)  # evict
                if upos[victim] >= 0:
                    n_unmarked = _drop(unmarked, upos, n_unmarked, victim)
                victims[t] = victim
            n_cached = _add(slots, pos, n_cached, page)
            load_time[page] = t
        elif upos[page] >= 0:
            n_unmarked = _drop(unmarked, upos, n_unmarked, page)
        if mark_phase[page] != phase:
            mark_phase[page] = phase
            n_marked += 1
        last_use[page] = t
        cur_pred[page] = pred[t]
        cur_discard[page] = discard[t]
        cur_phase[page] = phase_bit[t]
    return miss, victims

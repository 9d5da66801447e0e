"""The kernel of the marking family (Marker, Randomized Marker, Predictive Marker, LMarker,
LNonMarker, the discard-bit algorithms, Mark&Predict): they share the phase bookkeeping and differ
only in how the victim is chosen, one ``_victim_*`` function per rule. The bookkeeping is the
hooks of the one simulator loop (:mod:`heurist.envs.paging.sim_loop`).

Phases are the k-phase partition: a request to a page not yet requested in the current phase, when
``k`` distinct pages were already requested in it, starts a new phase and unmarks every cached page.
Every request marks its page. A page missed in phase ``i`` is *clean* if it was requested in neither
phase ``i-1`` nor phase ``i``, else *stale*.
"""
from __future__ import annotations

import numpy as np
from numba import njit

from heurist.envs.paging.sim_loop import simulator_for

__all__ = [
    "DISCARD",
    "DISCARD_RANDOMIZED",
    "LMARKER",
    "LNONMARKER",
    "MARKER",
    "MARK_AND_PREDICT",
    "PREDICTIVE_MARKER",
    "RANDOMIZED_MARKER",
    "marking_state",
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


@njit(cache=True, inline="always")
def _argmax(items, n, key):
    best, best_key = items[0], key[items[0]]
    for i in range(1, n):
        if key[items[i]] > best_key:
            best, best_key = items[i], key[items[i]]
    return best


@njit(cache=True, inline="always")
def _argmin(items, n, key):
    best, best_key = items[0], key[items[0]]
    for i in range(1, n):
        if key[items[i]] < best_key:
            best, best_key = items[i], key[items[i]]
    return best


@njit(cache=True, inline="always")
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


@njit(cache=True, inline="always")
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


@njit(cache=True, inline="always")
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


# state = (slots [k], pos, unmarked [k], upos, mark_phase, load_time, last_use, cur_pred,
#          cur_discard, cur_phase, chain_of [n_ids], chain_len [T+1], pred, discard, phase_bit [T],
#          reg [8] (the counters below), rule, k, harmonic H_k)
N_CACHED, N_UNMARKED, PHASE, N_MARKED, CLEAN_ARRIVALS, MARKED_EVICTIONS, N_CHAINS, CLEAN = range(8)


@njit(cache=True, inline="always")
def _touch(state, page, t):
    """Marks the requested page and records the predictions made at its request."""
    mark_phase, last_use, cur_pred, cur_discard, cur_phase = state[4], state[6], state[7], \
        state[8], state[9]
    pred, discard, phase_bit, reg = state[12], state[13], state[14], state[15]
    if mark_phase[page] != reg[PHASE]:
        mark_phase[page] = reg[PHASE]
        reg[N_MARKED] += 1
    last_use[page] = t
    cur_pred[page] = pred[t]
    cur_discard[page] = discard[t]
    cur_phase[page] = phase_bit[t]


@njit(cache=True, inline="always")
def _find(state, page, t):
    slots, pos, unmarked, upos, mark_phase = state[0], state[1], state[2], state[3], state[4]
    reg, k = state[15], state[17]
    if mark_phase[page] != reg[PHASE] and reg[N_MARKED] == k:  # a new phase: unmark everything
        reg[PHASE] += 1
        reg[N_MARKED] = 0
        reg[CLEAN_ARRIVALS] = 0
        reg[MARKED_EVICTIONS] = 0
        n = 0
        for i in range(reg[N_CACHED]):
            n = _add(unmarked, upos, n, slots[i])
        reg[N_UNMARKED] = n
    if pos[page] < 0:
        clean = mark_phase[page] < reg[PHASE] - 1
        reg[CLEAN] = clean
        reg[CLEAN_ARRIVALS] += clean
        return False
    if upos[page] >= 0:
        reg[N_UNMARKED] = _drop(unmarked, upos, reg[N_UNMARKED], page)
    _touch(state, page, t)
    return True


@njit(cache=True, inline="always")
def _to_evict(state, page, t):
    reg = state[15]
    victim, reg[N_CHAINS], reg[MARKED_EVICTIONS] = _victim(
        state[16], page, reg[CLEAN] == 1, state[0], reg[N_CACHED], state[2], reg[N_UNMARKED],
        state[3], state[5], state[6], state[7], state[8], state[9], state[10], state[11],
        reg[N_CHAINS], state[18], reg[CLEAN_ARRIVALS], reg[MARKED_EVICTIONS])
    return victim


@njit(cache=True, inline="always")
def _evict(state, victim, t):
    slots, pos, unmarked, upos, reg = state[0], state[1], state[2], state[3], state[15]
    reg[N_CACHED] = _drop(slots, pos, reg[N_CACHED], victim)
    if upos[victim] >= 0:
        reg[N_UNMARKED] = _drop(unmarked, upos, reg[N_UNMARKED], victim)


@njit(cache=True, inline="always")
def _insert(state, page, t):
    slots, pos, load_time, reg = state[0], state[1], state[5], state[15]
    reg[N_CACHED] = _add(slots, pos, reg[N_CACHED], page)
    load_time[page] = t
    _touch(state, page, t)


_simulate = simulator_for(globals())


def marking_state(trace, n_ids, k, rule, pred, discard, phase_bit):
    """``(simulator, state)`` of marking rule ``rule``; ``pred``/``discard``/``phase_bit`` ``[T]``
    are the predictions made at each request (ignored by rules that do not read them)."""
    T = trace.size
    harmonic = sum(1.0 / i for i in range(1, k + 1))
    return _simulate, (
        np.empty(k, dtype=np.int64), np.full(n_ids, -1, dtype=np.int64),
        np.empty(k, dtype=np.int64), np.full(n_ids, -1, dtype=np.int64),
        np.full(n_ids, -2, dtype=np.int64), np.zeros(n_ids, dtype=np.int64),
        np.zeros(n_ids, dtype=np.int64), np.zeros(n_ids, dtype=np.float64),
        np.zeros(n_ids, dtype=np.bool_), np.zeros(n_ids, dtype=np.bool_),
        np.full(n_ids, -1, dtype=np.int64), np.zeros(T + 1, dtype=np.int64),
        np.ascontiguousarray(pred, dtype=np.float64), np.ascontiguousarray(discard, dtype=np.bool_),
        np.ascontiguousarray(phase_bit, dtype=np.bool_), np.zeros(8, dtype=np.int64), int(rule),
        int(k), float(harmonic))

"""Batched numba replay of PVRP action logs: the fast half of the oracles' ``check_solution`` and
``evaluate``.

Each kernel replays a whole batch of logs in one call (arrays in, one float64 per row out: minus
the objective of a valid, finished log, NaN for a row the oracle rejects). The replay follows the
same MDP rules as the readable Python reference in :mod:`heurist.envs.pvrp.decode` (which stays
the specification; ``tests/test_pvrp_oracle_numba.py`` checks that both agree exactly, on valid
and corrupted logs) and shares no code with the envs' step kernels or ``masks.py``: the legal
moves are recomputed at every step from the decisions alone, and the first illegal action
rejects the row. The verdict on the routes (:func:`heurist.envs.pvrp.oracle.check_routes`:
every client once, trip loads within capacity, zones) and the objective are recomputed from the
recorded routes in the order the Python oracle uses, with numpy's pairwise summation for the
sums it takes with ``ndarray.sum``, so the objective is bit-identical to it, not just close.

Inputs are canonical (validated by the caller): ``actions`` int64 in ``0..N``; ``demand`` int64
[B, N]; ``capacity`` float64 [B, M] (unfloored, as the instance holds it); ``allowed`` bool
[B, M, N] (all True for PVRP-P); ``depot`` [B, 2], ``locs`` [B, N, 2], ``speed`` [B, M],
``preference`` [B, M, N] float64.
"""
from __future__ import annotations

import numba
import numpy as np

__all__ = ["judge_parallel", "judge_sequential"]


@numba.njit(cache=True)
def _pairwise_block(a, lo, n):
    """numpy's pairwise summation of a block ``a[lo:lo + n]``, ``n <= 128``: a plain loop below
    8, else 8 accumulators combined as a tree, then the rest."""
    if n < 8:
        res = 0.0
        for i in range(n):
            res += a[lo + i]
        return res
    r0, r1, r2, r3 = a[lo], a[lo + 1], a[lo + 2], a[lo + 3]
    r4, r5, r6, r7 = a[lo + 4], a[lo + 5], a[lo + 6], a[lo + 7]
    i = 8
    stop = n - n % 8
    while i < stop:
        r0 += a[lo + i]
        r1 += a[lo + i + 1]
        r2 += a[lo + i + 2]
        r3 += a[lo + i + 3]
        r4 += a[lo + i + 4]
        r5 += a[lo + i + 5]
        r6 += a[lo + i + 6]
        r7 += a[lo + i + 7]
        i += 8
    res = ((r0 + r1) + (r2 + r3)) + ((r4 + r5) + (r6 + r7))
    while i < n:
        res += a[lo + i]
        i += 1
    return res


@numba.njit(cache=True)
def _pairwise_sum(a, lo, n):
    """numpy's pairwise summation of ``a[lo:lo + n]`` (``add.reduce`` on a contiguous float64
    array): blocks of <= 128 by :func:`_pairwise_block`, above that the sum of the two halves
    (the first a multiple of 8), so sums round exactly as numpy's. The recursion runs on an
    explicit stack: numba cannot reload a cached recursive function."""
    if n <= 128:
        return _pairwise_block(a, lo, n)
    f_lo = np.empty(64, np.int64)
    f_n = np.empty(64, np.int64)
    f_phase = np.empty(64, np.int64)
    f_left = np.empty(64, np.float64)
    d = 0
    f_lo[0], f_n[0], f_phase[0] = lo, n, 0
    ret = 0.0
    while d >= 0:
        m = f_n[d]
        if m <= 128:
            ret = _pairwise_block(a, f_lo[d], m)
            d -= 1
            continue
        n2 = m // 2
        n2 -= n2 % 8
        if f_phase[d] == 0:  # first half
            f_phase[d] = 1
            f_lo[d + 1], f_n[d + 1], f_phase[d + 1] = f_lo[d], n2, 0
            d += 1
        elif f_phase[d] == 1:  # second half, the first's sum kept
            f_left[d] = ret
            f_phase[d] = 2
            f_lo[d + 1], f_n[d + 1], f_phase[d + 1] = f_lo[d] + n2, m - n2, 0
            d += 1
        else:
            ret = f_left[d] + ret
            d -= 1
    return ret


@numba.njit(cache=True)
def _np_sum(a, n):
    """``float(a[:n].sum())``: numpy starts the reduction from 0.0."""
    return 0.0 + _pairwise_sum(a, 0, n)


@numba.njit(cache=True)
def _dist(depot, locs, a, b):
    """Euclidean distance between nodes ``a`` and ``b`` (0 = depot), as
    ``PVRPInstances.distances``: ``sqrt(dx * dx + dy * dy)``."""
    if a == 0:
        xa, ya = depot[0], depot[1]
    else:
        xa, ya = locs[a - 1, 0], locs[a - 1, 1]
    if b == 0:
        xb, yb = depot[0], depot[1]
    else:
        xb, yb = locs[b - 1, 0], locs[b - 1, 1]
    dx = xa - xb
    dy = ya - yb
    return np.sqrt(dx * dx + dy * dy)


@numba.njit(cache=True)
def _client_ok(k, j, allowed, unserved, retired, demand, load):
    """Client ``j`` (1-based) is legal for vehicle ``k``: unserved, in its zone, not retired,
    and it fits the load left."""
    return (allowed[k, j - 1] and unserved[j - 1] and not retired[k]
            and demand[j - 1] <= load[k])


@numba.njit(cache=True)
def _has_client(k, N, allowed, unserved, retired, demand, load):
    """Vehicle ``k`` has a legal client (a retired one never has: it was most of the replay's
    time to find that out client by client)."""
    if retired[k]:
        return False
    for j in range(1, N + 1):
        if _client_ok(k, j, allowed, unserved, retired, demand, load):
            return True
    return False


@numba.njit(cache=True)
def _servers(k, N, alw, dem, cap, servers, delta):
    """Adds ``delta`` to ``servers[j]``, the number of vehicles that have not retired and could
    serve client ``j`` in one trip, for every client vehicle ``k`` could serve."""
    for j in range(N):
        if alw[k, j] and dem[j] <= cap[k]:
            servers[j] += delta


@numba.njit(cache=True)
def _may_retire(k, N, alw, unserved, retired, dem, cap, servers):
    """Vehicle ``k`` could retire with ``retired`` home for good: every open client it could
    serve in one trip has another server that has not retired (``servers`` counts them, ``k``
    included)."""
    if retired[k]:
        return True
    for j in range(N):
        if alw[k, j] and unserved[j] and dem[j] <= cap[k] and servers[j] == 1:
            return False
    return True


@numba.njit(cache=True)
def _move(k, j, pos, load, cap, demand, unserved, moves, n_moves):
    """Vehicle ``k`` goes to node ``j``: the depot refills it, a client is served; the move is
    recorded (the routes are the runs of clients between depot visits)."""
    if j == 0:
        load[k] = cap[k]
    else:
        load[k] -= demand[j - 1]
        unserved[j - 1] = False
    pos[k] = j
    moves[k, n_moves[k]] = j
    n_moves[k] += 1


@numba.njit(cache=True)
def _finished(pos, unserved):
    for j in range(unserved.shape[0]):
        if unserved[j]:
            return False
    for k in range(pos.shape[0]):
        if pos[k] != 0:
            return False
    return True


@numba.njit(cache=True)
def _value(moves, n_moves, demand, capacity, allowed, depot, locs, speed, pref, w_time, w_pref,
           minmax, zc, seen, edges, times):
    """Minus the objective of the routes in ``moves`` (``check_routes`` then
    ``evaluate_routes``), NaN when they fail ``check_routes``."""
    M, N = allowed.shape
    seen[:] = 0
    ok = True
    for k in range(M):
        load = 0
        for i in range(n_moves[k]):
            c = moves[k, i]
            if c == 0:
                if load > capacity[k]:
                    ok = False
                load = 0
                continue
            seen[c - 1] += 1
            load += demand[c - 1]
            if not allowed[k, c - 1]:
                ok = False
        if load > capacity[k]:  # an open trip at the end (not reached by a finished log)
            ok = False
    for j in range(N):
        if seen[j] != 1:
            ok = False
    if not ok:
        return np.nan
    for k in range(M):
        length = 0.0
        n_edges = 0
        prev = 0
        for i in range(n_moves[k] + 1):
            c = moves[k, i] if i < n_moves[k] else 0
            if c == 0:
                if n_edges > 0:  # close the trip: its edges summed as numpy sums them
                    edges[n_edges] = _dist(depot, locs, prev, 0)
                    length += _np_sum(edges, n_edges + 1)
                n_edges = 0
                prev = 0
                continue
            edges[n_edges] = _dist(depot, locs, prev, c)
            n_edges += 1
            prev = c
        times[k] = length / speed[k]
    if minmax:
        term = times[0]
        for k in range(1, M):
            term = max(term, times[k])
    else:
        term = _np_sum(times, M)
    value = w_time * term
    if not zc:
        collected = 0.0
        for k in range(M):
            for i in range(n_moves[k]):
                c = moves[k, i]
                if c != 0:
                    collected += pref[k, c - 1]
        value -= w_pref * collected
    return -value


@numba.njit(cache=True)
def _start_row(capacity_row, cap, load, pos, retired, n_moves, unserved):
    """Every vehicle at the depot, full, not retired, no moves; every client unserved."""
    for k in range(cap.size):
        cap[k] = np.floor(capacity_row[k])  # integer demands: floor(capacity) is usable
        load[k] = cap[k]
        pos[k] = 0
        retired[k] = False
        n_moves[k] = 0
    unserved[:] = True


@numba.njit(cache=True)
def judge_parallel(actions, priorities, has_priorities, retire, demand, capacity, allowed, depot,
                   locs, speed, pref, w_time, w_pref, minmax, zc):
    """Replays every row of the parallel env's log ``actions`` [B, T, M] (``priorities``
    [B, T, M] used when ``has_priorities``, else the lowest vehicle index wins a conflict;
    ``retire``: ``PVRPEnv(retire=True)``'s rule) -> float64 [B]: minus the objective of each
    legal, finished row with valid routes, NaN otherwise."""
    B, T, M = actions.shape
    N = demand.shape[1]
    out = np.full(B, np.nan)
    pos = np.zeros(M, np.int64)
    load = np.zeros(M, np.float64)
    cap = np.zeros(M, np.float64)
    unserved = np.zeros(N, np.bool_)
    retired = np.zeros(M, np.bool_)
    won = np.zeros(M, np.bool_)
    best = np.zeros(N + 1, np.int64)
    servers = np.zeros(N, np.int64)
    moves = np.zeros((M, T + 1), np.int64)
    n_moves = np.zeros(M, np.int64)
    seen = np.zeros(N, np.int64)
    edges = np.zeros(T + 2, np.float64)
    times = np.zeros(M, np.float64)
    for b in range(B):
        dem = demand[b]
        alw = allowed[b]
        _start_row(capacity[b], cap, load, pos, retired, n_moves, unserved)
        servers[:] = 0
        for k in range(M):
            _servers(k, N, alw, dem, cap, servers, 1)
        illegal = -1
        finished = False
        for t in range(T):
            if illegal < 0:
                for k in range(M):
                    j = actions[b, t, k]
                    if j == 0:
                        legal = (pos[k] != 0
                                 or not _has_client(k, N, alw, unserved, retired, dem, load)
                                 or (retire and _may_retire(k, N, alw, unserved, retired, dem,
                                                            cap, servers)))
                    else:
                        legal = _client_ok(k, j, alw, unserved, retired, dem, load)
                    if not legal:
                        illegal = t
                        break
            # conflicts: a depot choice always moves; per client the highest priority wins,
            # ties to the lowest vehicle index
            best[:] = -1
            for k in range(M):
                won[k] = True
                j = actions[b, t, k]
                if j == 0:
                    continue
                if best[j] < 0:
                    best[j] = k
                    continue
                o = best[j]
                if has_priorities and priorities[b, t, k] > priorities[b, t, o]:
                    won[o] = False
                    best[j] = k
                else:
                    won[k] = False
            if retire:  # in vehicle order, each seeing the earlier ones' retirements; whether
                # k has a client depends on no other vehicle's retirement, so it is tested at k
                for k in range(M):
                    if (actions[b, t, k] == 0 and pos[k] == 0
                            and _has_client(k, N, alw, unserved, retired, dem, load)
                            and _may_retire(k, N, alw, unserved, retired, dem, cap, servers)):
                        retired[k] = True
                        _servers(k, N, alw, dem, cap, servers, -1)
            for k in range(M):
                if won[k]:
                    _move(k, actions[b, t, k], pos, load, cap, dem, unserved, moves, n_moves)
            if _finished(pos, unserved):
                finished = True
                break
        if finished and illegal < 0:
            out[b] = _value(moves, n_moves, dem, capacity[b], alw, depot[b], locs[b], speed[b],
                            pref[b], w_time, w_pref, minmax, zc, seen, edges, times)
    return out


@numba.njit(cache=True)
def _active(k, N, pos, alw, unserved, retired, dem, load):
    """Away from the depot, or at the depot with a feasible client."""
    return pos[k] != 0 or _has_client(k, N, alw, unserved, retired, dem, load)


@numba.njit(cache=True)
def _next_vehicle(last, M, N, pos, alw, unserved, retired, dem, load):
    """Round robin: the next active vehicle after ``last`` (vehicle 0 first), -1 if none."""
    for i in range(1, M + 1):
        k = (last + i) % M
        if _active(k, N, pos, alw, unserved, retired, dem, load):
            return k
    return -1


@numba.njit(cache=True)
def judge_sequential(actions, retire, demand, capacity, allowed, depot, locs, speed, pref, w_time,
                     w_pref, minmax, zc):
    """Replays every row of the sequential env's log ``actions`` [B, T] (the acting vehicle by
    the round-robin rule; ``retire``: ``PVRPSequentialEnv(retire=True)``'s rule, the acting
    vehicle at the depot with a client retiring by choosing the depot) -> float64 [B]: minus the
    objective of each legal, finished row with valid routes, NaN otherwise."""
    B, T = actions.shape
    M = capacity.shape[1]
    N = demand.shape[1]
    out = np.full(B, np.nan)
    pos = np.zeros(M, np.int64)
    load = np.zeros(M, np.float64)
    cap = np.zeros(M, np.float64)
    unserved = np.zeros(N, np.bool_)
    retired = np.zeros(M, np.bool_)
    servers = np.zeros(N, np.int64)
    moves = np.zeros((M, T + 1), np.int64)
    n_moves = np.zeros(M, np.int64)
    seen = np.zeros(N, np.int64)
    edges = np.zeros(T + 2, np.float64)
    times = np.zeros(M, np.float64)
    for b in range(B):
        dem = demand[b]
        alw = allowed[b]
        _start_row(capacity[b], cap, load, pos, retired, n_moves, unserved)
        servers[:] = 0
        for m in range(M):
            _servers(m, N, alw, dem, cap, servers, 1)
        illegal = -1
        k = _next_vehicle(-1, M, N, pos, alw, unserved, retired, dem, load)
        for t in range(T):
            if k < 0:
                break
            j = actions[b, t]
            may = False  # the depot chosen at the depot with a client: a retirement
            if j == 0:
                home_with_client = pos[k] == 0 and _has_client(k, N, alw, unserved, retired,
                                                               dem, load)
                may = (retire and home_with_client
                       and _may_retire(k, N, alw, unserved, retired, dem, cap, servers))
                legal = not home_with_client or may
            else:
                legal = _client_ok(k, j, alw, unserved, retired, dem, load)
            if illegal < 0 and not legal:
                illegal = t
            if may:
                retired[k] = True
                _servers(k, N, alw, dem, cap, servers, -1)
            _move(k, j, pos, load, cap, dem, unserved, moves, n_moves)
            k = _next_vehicle(k, M, N, pos, alw, unserved, retired, dem, load)
        if k < 0 and illegal < 0:
            out[b] = _value(moves, n_moves, dem, capacity[b], alw, depot[b], locs[b], speed[b],
                            pref[b], w_time, w_pref, minmax, zc, seen, edges, times)
    return out

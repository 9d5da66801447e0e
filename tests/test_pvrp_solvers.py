"""PVRP solvers: PyVRP and OR-Tools reach the brute-force optimum on tiny instances; every solver's
solutions are valid, respect zones and are reproducible."""
import itertools

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from heurist.envs.pvrp import PVRPInstances, Weights, generate
from heurist.policies.pvrp import (
    SCALE,
    TIE,
    check_routes,
    get_solver,
    solve_batch,
    solve_nearest,
    solve_ortools,
    solve_pyvrp,
    solver_names,
    trip_bound,
)


def _vehicle_best(xy, demand, cap, speed, members):
    """Least travel time of one vehicle serving ``members``: every order, every split into trips."""
    best = np.inf
    for order in itertools.permutations(members):
        for cuts in itertools.product((False, True), repeat=len(order) - 1):
            trips, trip = [], [order[0]]
            for c, cut in zip(order[1:], cuts):
                if cut:
                    trips.append(trip)
                    trip = []
                trip.append(c)
            trips.append(trip)
            if any(sum(demand[c] for c in t) > cap for t in trips):
                continue
            length = 0.0
            for t in trips:
                path = [xy[0]] + [xy[c + 1] for c in t] + [xy[0]]
                length += sum(float(np.hypot(*(b - a))) for a, b in itertools.pairwise(path))
            best = min(best, length / speed)
    return best


def brute_force(inst, weights, *, with_sum_time=False):
    """Exact optimum by enumerating client-to-vehicle assignments, orders and trip splits.

    Each vehicle's time is minimised independently for its clients, which is optimal for both the
    sum and the min-max objective. ``with_sum_time`` also returns the optimum's summed time."""
    xy = np.concatenate([inst.depot[0][None], inst.locs[0]])
    N, M = inst.N, inst.M
    demand, cap, speed, pref = inst.demand[0], inst.capacity[0], inst.speed[0], inst.preference[0]
    allowed = inst.allowed_or_all()[0]
    memo = {}
    best, best_sum = np.inf, np.inf
    choices = [[k for k in range(M) if allowed[k, j] and demand[j] <= cap[k]] for j in range(N)]
    for assign in itertools.product(*choices):
        times, collected = np.zeros(M), 0.0
        for k in range(M):
            members = tuple(j for j in range(N) if assign[j] == k)
            if not members:
                continue
            if (k, members) not in memo:
                memo[k, members] = _vehicle_best(xy, demand, cap[k], speed[k], members)
            times[k] = memo[k, members]
            collected += sum(pref[k, j] for j in members)
        total = weights.w_time * (times.max() if weights.minmax else times.sum())
        if not inst.is_zc:
            total -= weights.w_pref * collected
        if total < best:
            best, best_sum = total, times.sum()
    return (best, best_sum) if with_sum_time else best


def _tiny(n, seed, zc):
    """A tight-capacity 2-vehicle instance (multi-trip needed); ZC gets a random zone mask."""
    inst = generate(1, n_clients=n, n_vehicles=2, capacity=[12, 10], speed=[1.0, 1.6], rng=seed)
    if not zc:
        return inst
    rng = np.random.default_rng(seed)
    allowed = rng.random((1, 2, n)) < 0.6
    allowed[0, rng.integers(0, 2, n), np.arange(n)] = True
    return PVRPInstances(**inst.arrays(), allowed=allowed)


CASES = [(4, 11, False), (5, 12, False), (6, 13, False), (4, 21, True), (5, 22, True), (6, 23, True)]


@pytest.mark.parametrize("n,seed,zc", CASES)
def test_exact_solvers_match_brute_force(n, seed, zc):
    """PyVRP (both multi-trip encodings) and OR-Tools reach the brute-force optimum (P and ZC)."""
    inst = _tiny(n, seed, zc)
    weights = Weights(w_time=0.9, w_pref=0.1) if seed % 2 else Weights(w_time=1.0, w_pref=0.6)
    optimum = brute_force(inst, weights)
    tol = 2 * n / SCALE + 1e-9  # at most 2n arcs, each rounded by <= 0.5 / SCALE, on both sides
    found = {
        "pyvrp-routes": solve_pyvrp(inst, time_limit=5, weights=weights, max_iterations=300),
        "pyvrp-reload": solve_pyvrp(inst, time_limit=5, weights=weights, max_iterations=300,
                                    multi_trip="reload"),
        "ortools": solve_ortools(inst, time_limit=0.4, weights=weights),
    }
    for name, routes in found.items():
        check = check_routes(inst, routes, weights=weights)
        assert check.ok, (name, check.violations)
        assert check.objective == pytest.approx(optimum, abs=tol), name


@pytest.mark.parametrize("n,seed,zc", [(5, 31, False), (5, 32, True), (6, 33, False)])
def test_ortools_minmax_matches_brute_force(n, seed, zc):
    """OR-Tools' reload model reaches the min-max optimum up to its documented tie-break."""
    inst = _tiny(n, seed, zc)
    weights = Weights(minmax=True)
    optimum, sum_time = brute_force(inst, weights, with_sum_time=True)
    routes = solve_ortools(inst, time_limit=2.0, weights=weights)  # GLS needs ~1 s on min-max
    check = check_routes(inst, routes, weights=weights)
    assert check.ok, check.violations
    tol = TIE * weights.w_time * sum_time + 4 * n / SCALE
    assert optimum - 1e-9 <= check.objective <= optimum + tol


def test_ortools_reload_sum_matches_brute_force():
    """The reload encoding also reaches the sum-objective optimum (P and ZC)."""
    for inst in (_tiny(5, 41, False), _tiny(5, 42, True)):
        optimum = brute_force(inst, Weights())
        routes = solve_ortools(inst, time_limit=0.5, multi_trip="reload")
        assert check_routes(inst, routes).objective == pytest.approx(optimum, abs=2 * 5 / SCALE)


def test_multi_trip_is_used_when_capacity_binds():
    """With total demand above every capacity, some vehicle makes several trips and stays valid."""
    inst = generate(1, n_clients=8, n_vehicles=1, capacity=10, rng=3)
    assert inst.demand.sum() == 44  # so at least 5 trips
    # the seeded heuristics' exact trip counts; the time-limited solvers at least the minimum
    trips = {"nearest": 5, "insertion": 5, "random": 6}
    for method in solver_names():
        routes = get_solver(method)(inst, time_limit=0.3, weights=Weights(), seed=0)
        assert check_routes(inst, routes).ok, method
        if method in trips:
            assert len(routes[0]) == trips[method], method
        else:
            assert len(routes[0]) >= 5, method


def test_trip_bound_is_safe_and_small():
    """The trip bound covers the trips needed by capacity (134 / cap = 14, 7, 4) and stays at
    floor(2 * 134 / cap) + 1 below the 30 clients."""
    inst = generate(1, n_clients=30, n_vehicles=3, capacity=[10, 20, 40], rng=4)
    assert inst.demand.sum() == 134
    assert trip_bound(inst).tolist() == [27, 14, 7]


def test_nearest_on_a_line():
    """One vehicle on a line: nearest neighbour visits clients outwards, refilling when full."""
    inst = PVRPInstances(depot=np.array([[0.0, 0.0]]),
                         locs=np.array([[[0.3, 0.0], [0.1, 0.0], [0.2, 0.0], [0.4, 0.0]]]),
                         demand=np.array([[5, 5, 5, 5]]), capacity=np.array([[15]]),
                         speed=np.array([[1.0]]), preference=np.zeros((1, 1, 4)))
    assert solve_nearest(inst) == [[[2, 3, 1], [4]]]


def test_minmax_refusals():
    """PyVRP and OR-Tools' copies encoding refuse the min-max objective with a clear ValueError."""
    inst = generate(1, n_clients=5, n_vehicles=2, rng=1)
    with pytest.raises(ValueError, match="min-max"):
        solve_pyvrp(inst, time_limit=0.1, weights=Weights(minmax=True))
    with pytest.raises(ValueError, match="min-max"):
        solve_ortools(inst, time_limit=0.1, weights=Weights(minmax=True), multi_trip="copies")


@settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 10_000), n=st.integers(3, 12), m=st.integers(1, 4),
       zones=st.sampled_from(["random", "sector"]))
def test_zc_solutions_respect_zones(seed, n, m, zones):
    """Every solver's ZC solution serves each client with an allowed vehicle (and is valid)."""
    inst = generate(1, n_clients=n, n_vehicles=m, variant="zc", zones=zones, capacity=15, rng=seed)
    for method in solver_names():
        routes = get_solver(method)(inst, time_limit=0.2, weights=Weights(), seed=seed)
        for k, trips in enumerate(routes):
            for trip in trips:
                assert all(inst.allowed[0, k, c - 1] for c in trip), method
        assert check_routes(inst, routes).ok, method


@pytest.mark.parametrize("method", ["random", "nearest", "insertion", "pyvrp"])
def test_same_seed_same_routes(method):
    """Deterministic settings (pyvrp with an iteration limit) give identical routes for one seed."""
    inst = generate(1, n_clients=15, n_vehicles=3, rng=6)
    kw = {"time_limit": 30.0, "max_iterations": 200} if method == "pyvrp" else {"time_limit": 0.1}
    solve = get_solver(method)
    assert solve(inst, weights=Weights(), seed=3, **kw) == solve(inst, weights=Weights(), seed=3, **kw)


def test_random_depends_on_seed():
    """The random baseline changes with the seed."""
    inst = generate(1, n_clients=15, n_vehicles=3, rng=6)
    solve = get_solver("random")
    assert solve(inst, time_limit=0, weights=Weights(), seed=1) != solve(inst, time_limit=0,
                                                                          weights=Weights(), seed=2)


def test_batch_parallel_equals_serial():
    """solve_batch with 2 processes gives the same records (order, routes, objective) as serially."""
    inst = generate(4, n_clients=12, n_vehicles=3, variant="zc", rng=8)
    serial = solve_batch(inst, "insertion", workers=1, progress=False)
    parallel = solve_batch(inst, "insertion", workers=2, progress=False)
    assert [r.index for r in parallel] == [0, 1, 2, 3]
    assert [(r.routes, r.objective) for r in serial] == [(r.routes, r.objective) for r in parallel]


def test_heuristics_beat_random_on_average():
    """Insertion and nearest neighbour give a lower mean objective than the random baseline (the
    exact seeded means: 6.650 and 9.795 against 14.639)."""
    inst = generate(6, n_clients=30, n_vehicles=3, rng=9)
    means = {m: np.mean([r.objective for r in solve_batch(inst, m, progress=False)])
             for m in ("random", "nearest", "insertion")}
    assert means == pytest.approx({"random": 14.639260115627502, "nearest": 9.795059458208131,
                                   "insertion": 6.6498821250131135}, rel=1e-12)


def test_unknown_method():
    """An unknown method name lists the valid ones."""
    with pytest.raises(ValueError, match="pyvrp"):
        get_solver("tabu")


@pytest.mark.parametrize("method", ["pyvrp", "ortools", "ortools-reload", "pyvrp-reload"])
def test_huge_capacity_means_unlimited(method):
    """A capacity of 1e300 (beyond 64-bit ints) solves exactly like one equal to the total demand."""
    arrays = generate(1, n_clients=5, n_vehicles=2, rng=1).arrays()
    total = int(arrays["demand"].sum())
    huge = PVRPInstances(**{**arrays, "capacity": np.full((1, 2), 1e300)})
    exact = PVRPInstances(**{**arrays, "capacity": np.full((1, 2), total)})
    solve = get_solver(method)
    a = check_routes(huge, solve(huge, time_limit=0.2, weights=Weights(), seed=0))
    b = check_routes(exact, solve(exact, time_limit=0.2, weights=Weights(), seed=0))
    assert a.ok and a.objective == b.objective

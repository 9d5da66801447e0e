"""The PVRP oracle: every kind of violation is caught; the objective matches hand computations."""
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from heurist.envs.pvrp import PVRPInstances, Weights, generate
from heurist.envs.pvrp.oracle import (
    check_routes,
    evaluate_routes,
    preference_collected,
    vehicle_times,
)
from heurist.policies.pvrp import solve_random


def _inst(zc=False):
    """Depot at the origin corner, clients on a 3-4-5 layout; 2 vehicles (speed 1 and 2)."""
    allowed = np.array([[[True, True, False], [True, False, True]]]) if zc else None
    return PVRPInstances(
        depot=np.array([[0.0, 0.0]]),
        locs=np.array([[[0.3, 0.0], [0.3, 0.4], [0.0, 0.4]]]),
        demand=np.array([[4, 5, 6]]), capacity=np.array([[10, 10]]), speed=np.array([[1.0, 2.0]]),
        preference=np.array([[[1.0, 0.5, 0.0], [0.0, 0.2, 0.8]]]), allowed=allowed)


def test_objective_by_hand():
    """P objective = 0.9 * sum of times - 0.1 * collected preference, computed by hand."""
    inst = _inst()
    routes = [[[1, 2]], [[3]]]
    t0 = 0.3 + 0.4 + 0.5  # depot -> 1 -> 2 -> depot at speed 1
    t1 = 0.8 / 2.0  # depot -> 3 -> depot at speed 2
    assert np.allclose(vehicle_times(inst, routes), [t0, t1])
    assert preference_collected(inst, routes) == pytest.approx(1.0 + 0.5 + 0.8)
    expected = 0.9 * (t0 + t1) - 0.1 * 2.3
    assert evaluate_routes(inst, routes) == pytest.approx(expected, abs=1e-12)
    result = check_routes(inst, routes)
    assert result.ok and result.objective == pytest.approx(expected, abs=1e-12)


def test_minmax_and_custom_weights():
    """Min-max uses the makespan; custom weights scale both terms."""
    inst = _inst()
    routes = [[[1], [2]], [[3]]]
    t0 = 2 * 0.3 + 2 * 0.5
    assert evaluate_routes(inst, routes, weights=Weights(minmax=True)) == pytest.approx(0.9 * t0 - 0.1 * 2.3)
    assert evaluate_routes(inst, routes, weights=Weights(w_time=1.0, w_pref=0.0)) == pytest.approx(t0 + 0.4)


def test_zc_objective_ignores_preference():
    """ZC objective is w_time * total time only."""
    inst = _inst(zc=True)
    routes = [[[1, 2]], [[3]]]
    assert evaluate_routes(inst, routes) == pytest.approx(0.9 * (1.2 + 0.4))


def test_depot_return_adds_no_preference():
    """Extra trips (depot returns) change time only, never the collected preference (a CAMP bug)."""
    inst = _inst()
    assert preference_collected(inst, [[[1], [2]], [[3]]]) == preference_collected(inst, [[[1, 2]], [[3]]])


@pytest.mark.parametrize("routes,needle", [
    ([[[1, 2]]], "expected 2 vehicles, got 1"),
    ([[[1, 2]], [[3]], []], "expected 2 vehicles, got 3"),
    ([[[1]], [[3]]], "client 2 is not served"),
    ([[[1, 2]], [[3, 2]]], "client 2 is served 2 times"),
    ([[[2, 3]], [[1]]], "load 11 exceeds capacity 10"),
    ([[[1, 2, 3]], []], "load 15 exceeds capacity 10"),
    ([[[1, 2], [4]], [[3]]], "bad client index 4"),
    ([[[0, 1, 2]], [[3]]], "bad client index 0"),
    ([[[1, 2.0]], [[3]]], "bad client index 2.0"),
    ([[[1, 2]], [3]], "must be a list of clients"),
    ("abc", "routes must be a list"),
])
def test_each_violation_is_caught(routes, needle):
    """check_routes reports each kind of violation and evaluate refuses the solution."""
    inst = _inst()
    result = check_routes(inst, routes)
    assert not result.ok and result.objective is None
    assert any(needle in v for v in result.violations), result.violations
    with pytest.raises(ValueError, match="invalid PVRP solution"):
        evaluate_routes(inst, routes)


def test_zone_violation_caught():
    """Serving a client outside the vehicle's zone is a violation; the same split inside is valid."""
    inst = _inst(zc=True)
    bad = check_routes(inst, [[[1, 3]], [[2]]])
    assert not bad.ok and any("client 3 is outside its zone" in v for v in bad.violations)
    assert any("client 2 is outside its zone" in v for v in bad.violations)
    assert check_routes(inst, [[[1, 2]], [[3]]]).ok


def test_empty_trips_are_harmless():
    """Empty trips cost nothing and do not invalidate a solution."""
    inst = _inst()
    assert evaluate_routes(inst, [[[1, 2], []], [[], [3]]]) == pytest.approx(evaluate_routes(inst, [[[1, 2]], [[3]]]))


def test_needs_a_batch_of_one():
    """The oracle works on one instance; a larger batch is a ValueError."""
    inst = PVRPInstances(**{k: np.concatenate([v, v]) for k, v in _inst().arrays().items()})
    with pytest.raises(ValueError, match="batch of one"):
        check_routes(inst, [[[1, 2]], [[3]]])
    assert math.isfinite(evaluate_routes(inst[1], [[[1, 2]], [[3]]]))


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 10_000), n=st.integers(1, 15), m=st.integers(1, 4),
       variant=st.sampled_from(["p", "zc"]))
def test_objective_invariant_under_trip_order_and_reversal(seed, n, m, variant):
    """Reordering a vehicle's trips or reversing a trip leaves the objective unchanged."""
    inst = generate(1, n_clients=n, n_vehicles=m, variant=variant, rng=seed)
    routes = solve_random(inst, seed=seed)
    assert check_routes(inst, routes).ok
    shuffled = [[list(reversed(t)) for t in reversed(trips)] for trips in routes]
    assert evaluate_routes(inst, shuffled) == pytest.approx(evaluate_routes(inst, routes), abs=1e-12)


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 10_000), n=st.integers(2, 12))
def test_moving_a_client_to_a_fresh_trip_never_shortens(seed, n):
    """Splitting a client off into its own trip never decreases travel time (triangle inequality)."""
    inst = generate(1, n_clients=n, n_vehicles=2, rng=seed)
    routes = solve_random(inst, seed=seed)
    k = next(k for k, trips in enumerate(routes) if trips)
    client = routes[k][0].pop()
    routes[k].append([client])
    before = vehicle_times(inst, solve_random(inst, seed=seed))
    after = vehicle_times(inst, routes)
    assert after[k] >= before[k] - 1e-12

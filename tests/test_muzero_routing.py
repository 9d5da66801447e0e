"""AlphaZero-mode search on routing: PVRPSequential's greedy rollout and plan_routes."""
import numpy as np
import pytest
import torch

from heurist.agents.muzero.routing import nearest_prior, plan_routes
from heurist.envs.pvrp import PVRPSequentialEnv, generate

pytestmark = pytest.mark.usefixtures("one_thread")

# 4 tiny games (N = 5, M = 2, capacity 12 so trips bind, speeds 1 and 1.5): the oracle's
# objective of the best legal log of each (brute force over 264-1,176 complete logs)
TINY = {"S": 4, "n_clients": 5, "n_vehicles": 2, "capacity": 12, "speed": [1.0, 1.5], "rng": 7}
TINY_OPTIMA = [2.5617730, 2.1607088, 2.4471993, 2.2245444]


def _brute_force(inst):
    """Per instance, the oracle objective of the best complete log: a level-by-level batched
    expansion of every legal move from every live state (snapshots stacked as the batch)."""
    env = PVRPSequentialEnv(n_clients=inst.N, n_vehicles=inst.M)
    best = []
    for i in range(inst.S):
        one = inst[[i]].to_tensordict()
        td = env.reset(instance=one)
        snap, acc = env.snapshot(), torch.zeros(1, dtype=torch.float64)
        logs = torch.zeros(1, 0, dtype=torch.int64)
        top, top_log = -np.inf, None
        while True:
            r, a = td["action_mask"].nonzero(as_tuple=True)  # every (state, legal move)
            env.reset(instance=one.expand(len(r)).clone())
            td = env.restore({k: v[r] for k, v in snap.items()})
            td["action"] = a
            out = env.step(td)["next"]
            acc = acc[r] + out["reward"].reshape(-1).double()
            logs = torch.cat([logs[r], a[:, None]], 1)
            done = out["done"].reshape(-1)
            if done.any() and float(acc[done].max()) > top:
                j = int(torch.nonzero(done)[acc[done].argmax(), 0])
                top, top_log = float(acc[j]), logs[j]
            if done.all():
                break
            snap = {k: v[~done] for k, v in env.snapshot().items()}
            acc, logs = acc[~done], logs[~done]
            env.reset(instance=one.expand(int((~done).sum())).clone())
            td = env.restore(snap)
        best.append(-float(env.evaluate(one, top_log[None])[0]))
    return np.array(best)


def test_tiny_games_brute_force_optima():
    """Brute force over every legal log gives the golden optima, well below the greedy rollout."""
    inst = generate(**TINY)
    np.testing.assert_allclose(_brute_force(inst), TINY_OPTIMA, atol=1e-6)
    env = PVRPSequentialEnv(n_clients=5, n_vehicles=2)
    env.reset(instance=inst.to_tensordict())
    assert (-env.greedy_rollout() > np.array(TINY_OPTIMA) + 0.4).all()


@pytest.mark.parametrize("sims,prior,optimal", [
    (16, False, [False, False, False, False]),  # too few simulations: no row optimal
    (256, False, [True, True, True, True]),     # uniform prior, rollout value: all optimal
])
def test_search_reaches_the_brute_force_optimum(sims, prior, optimal):
    """Gumbel search over the true simulator with enough simulations reaches every tiny game's
    optimum (checked routes, oracle objective)."""
    inst = generate(**TINY)
    res, ep = plan_routes(inst, num_simulations=sims, prior=nearest_prior() if prior else None)
    obj = np.array([r.objective for r in res])
    assert list(np.abs(obj - np.array(TINY_OPTIMA)) < 1e-6) == optimal
    np.testing.assert_allclose(-ep.returns, obj, atol=1e-5)  # float32 step rewards


def _greedy_move(td, w_time=0.9, w_pref=0.1):
    """The rollout's rule recomputed in numpy from the observation: the legal client of best
    w_pref * preference - w_time * distance / speed for the acting vehicle, else the depot."""
    locs = td["locs"].numpy().astype(np.float64)
    k = td["current_vehicle"].numpy()
    rows = np.arange(len(k))
    p = td["vehicle_pos"].numpy()[rows, k]
    d = np.sqrt(((locs - locs[rows, p][:, None]) ** 2).sum(-1))
    score = (w_pref * td["preference"].numpy().astype(np.float64)[rows, k]
             - w_time * d[:, 1:] / td["speed"].numpy().astype(np.float64)[rows, k][:, None])
    mask = td["action_mask"].numpy()[:, 1:]
    score = np.where(mask, score, -np.inf)
    return np.where(mask.any(-1), score.argmax(-1) + 1, 0)


def test_greedy_rollout_equals_an_independent_recomputation():
    """From a mid-episode state, greedy_rollout's value equals the greedy moves replayed by the
    env step by step, and the oracle's evaluate of the completed log; the state is untouched."""
    inst = generate(4, n_clients=20, n_vehicles=3, capacity=40, rng=20250901)
    tdi = inst.to_tensordict()
    env = PVRPSequentialEnv(n_clients=20, n_vehicles=3)
    td = env.reset(instance=tdi)
    log, prefix = [], np.zeros(4)
    for _ in range(5):  # a non-greedy prefix: each row's highest-index legal move
        a = torch.from_numpy(td["action_mask"].numpy().cumsum(-1).argmax(-1))
        td["action"] = a
        td = env.step(td)["next"]
        prefix += td["reward"].reshape(-1).numpy()
        log.append(a)
    snap = env.snapshot()
    value = env.greedy_rollout()
    assert all(torch.equal(v, env.snapshot()[k]) for k, v in snap.items())
    replay = np.zeros(4)
    while not td["done"].all():
        a = torch.from_numpy(_greedy_move(td))
        td["action"] = a
        td = env.step(td)["next"]
        replay += td["reward"].reshape(-1).numpy()
        log.append(a)
    np.testing.assert_array_equal(value, replay)
    oracle = env.evaluate(tdi, torch.stack(log, 1)).numpy()
    np.testing.assert_allclose(prefix + value, oracle, atol=1e-5)
    np.testing.assert_array_equal(env.greedy_rollout(), np.zeros(4))  # finished rows: 0

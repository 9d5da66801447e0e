"""mallocMuZero in AlphaZero mode: search over the Malloc env's true simulator."""
import numpy as np
import pytest
import torch

from heurist.agents.muzero import TrueSimulator, plan_mapping, search_episodes
from heurist.envs.malloc.env import MallocEnv
from heurist.envs.malloc.generator import pad_instances
from heurist.envs.malloc.synthetic import random_instance
from heurist.policies.malloc import check_plan, evaluate_plan

# a 6-buffer mapping game where the greedy episode (lowest offset first) is far from optimal
TINY = {"n": 6, "seed": 20, "capacity_fraction": 0.3}
TINY_GREEDY = 0.1370723189212517
TINY_OPTIMUM = 0.1777230765437727  # the oracle's float64 return of the best sequence


def _tiny():
    inst = random_instance(TINY["n"], seed=TINY["seed"],
                           capacity_fraction=TINY["capacity_fraction"])
    return inst, MallocEnv(mode="mapping", k=3, n_bins=4, lookahead=1), pad_instances([inst])


def _brute_force(env, td):
    """The best action sequence over every legal one (a DFS over snapshots) -> [1, T]."""
    best, best_seq = -np.inf, None
    stack = [(env.snapshot(), td, 0.0, [])]
    while stack:
        snap, td, acc, seq = stack.pop()
        if bool(td["done"].all()):
            if acc > best:
                best, best_seq = acc, seq
            continue
        for a in np.flatnonzero(td["action_mask"][0].numpy()):
            td2 = env.restore(snap)
            td2["action"] = torch.tensor([int(a)])
            out = env.step(td2)["next"]
            stack.append((env.snapshot(), out, acc + float(out["reward"][0, 0]), [*seq, a]))
    return torch.tensor([best_seq])


def test_tiny_game_brute_force_optimum():
    """The golden tiny game: brute force over all sequences gives the known optimum, above
    the greedy episode."""
    _, env, td = _tiny()
    assert env.greedy_episode(td)[0] == pytest.approx(TINY_GREEDY, abs=1e-12)
    best = _brute_force(env, env.reset(instance=td))
    assert float(env.evaluate(td, best)[0]) == pytest.approx(TINY_OPTIMUM, abs=1e-12)


@pytest.mark.parametrize("value,sims,expected", [
    ("zero", 16, TINY_GREEDY),      # too few simulations: the tree search alone stays greedy
    ("zero", 64, TINY_OPTIMUM),     # untrained (uniform prior, zero value): enough simulations
    ("rollout", 8, TINY_OPTIMUM),   # greedy-rollout leaf values: a few simulations suffice
])
def test_search_finds_the_optimum_with_enough_simulations(value, sims, expected):
    """Gumbel search over the true simulator reaches the brute-force optimum (golden returns)."""
    _, env, td = _tiny()
    ep = search_episodes(env, td, num_simulations=sims, value=value)
    # the oracle's float64 return exactly; the summed float32 step rewards to float32 precision
    assert float(env.evaluate(td, torch.from_numpy(ep.actions))[0]) == pytest.approx(expected,
                                                                                      abs=1e-12)
    assert ep.returns[0] == pytest.approx(expected, abs=1e-6)


def test_plan_mapping_plans_are_valid_and_deterministic():
    """Planned mappings pass check_plan, their speedups are evaluate_plan's, same seed same plan,
    and search does not fall below the env's greedy episode on these instances."""
    insts = [random_instance(40, seed=s, capacity_fraction=0.2) for s in (1, 2)]
    res, ep = plan_mapping(insts, num_simulations=8, seed=0)
    res2, _ = plan_mapping(insts, num_simulations=8, seed=0)
    env = MallocEnv(mode="mapping", k=8)
    greedy = env.greedy_episode(pad_instances(insts))
    for inst, r, r2, g in zip(insts, res, res2, greedy):
        assert check_plan(inst, r.plan, mode="mapping").valid
        assert evaluate_plan(inst, r.plan).speedup == r.speedup
        np.testing.assert_array_equal(r.plan, r2.plan)
        assert r.saved >= g - 1e-12
    assert ep.env_steps > 0


def test_simulator_rejects_bad_configuration():
    """A value source the env cannot give is a ValueError."""
    _, env, td = _tiny()
    env.reset(instance=td)
    with pytest.raises(ValueError, match="value='prior' needs a prior"):
        TrueSimulator(env, value="prior")
    with pytest.raises(ValueError, match="expected rollout, env_rollout, prior or zero"):
        TrueSimulator(env, value="mcts")

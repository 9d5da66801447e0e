"""The fast mapping rollout (``agents/muzero/rollout.py``) equals the env's greedy rollout exactly."""
from dataclasses import replace

import numpy as np
import pytest
import torch

from heurist.agents.muzero import plan_mapping
from heurist.agents.muzero.rollout import mapping_rollout
from heurist.envs.malloc.env import MallocEnv
from heurist.envs.malloc.generator import pad_instances
from heurist.envs.malloc.synthetic import random_instance


def _batch():
    """Seven synthetic rows of different sizes (padded), capacities 10-50 % of peak live bytes;
    long lifetimes so that many placed buffers overlap each decision; the last row has an
    alignment (300,007 bytes) that rounds most gap starts up."""
    rows = [random_instance(n, seed=s, capacity_fraction=f, max_lifetime=lt)
            for n, s, f, lt in ((40, 1, 0.1, 64), (60, 2, 0.25, 64), (25, 3, 0.5, 8),
                                (80, 4, 0.1, 200), (50, 5, 0.25, 200), (7, 6, 0.3, 4),
                                (50, 7, 0.4, 200))]
    rows[-1] = replace(rows[-1], memory=replace(rows[-1].memory, alignment=300_007))
    return rows


@pytest.mark.parametrize("undo", [False, True])
def test_mapping_rollout_equals_env_greedy_rollout_along_random_episodes(undo):
    """From every state of random episodes (UNDO included), ``mapping_rollout`` returns exactly
    ``env.greedy_rollout()``'s float64 values and leaves the env's state untouched."""
    env = MallocEnv(mode="mapping", k=4, undo=undo, seed=0)
    td = env.reset(instance=pad_instances(_batch()))
    rng = np.random.default_rng(7)
    checked = 0
    while True:
        snap = env.snapshot()
        fast = mapping_rollout(env)
        after = env.snapshot()
        assert all(np.array_equal(snap[k], after[k]) for k in snap)
        ref = env.greedy_rollout()
        assert np.array_equal(fast, ref)  # bit for bit, not approximately
        checked += 1
        td = env.restore(snap)
        if bool(td["done"].all()):
            break
        mask = td["action_mask"].numpy()
        td["action"] = torch.tensor([int(rng.choice(np.flatnonzero(m))) for m in mask])
        td = env.step(td)["next"]
    assert checked >= 80  # the longest row (80 buffers) was walked to its end
    assert (fast == 0).all()  # finished rows: nothing left to collect


def test_mapping_rollout_rejects_packing():
    """The kernel is for mapping mode only: a packing env is refused with a clear error."""
    env = MallocEnv(mode="packing", k=4)
    env.reset(instance=pad_instances([random_instance(10, seed=0, capacity_fraction=1.0)]))
    with pytest.raises(ValueError, match="packing mode"):
        mapping_rollout(env)


def test_plan_mapping_fast_rollout_equals_env_rollout():
    """Search with the fast leaf value plays the same actions, returns and plans as with the
    env's own rollout (``value="env_rollout"``), at 4 simulations on the seven rows."""
    insts = _batch()
    fast, ep_fast = plan_mapping(insts, num_simulations=4, order="msa", value="rollout")
    ref, ep_ref = plan_mapping(insts, num_simulations=4, order="msa", value="env_rollout")
    np.testing.assert_array_equal(ep_fast.actions, ep_ref.actions)
    np.testing.assert_array_equal(ep_fast.returns, ep_ref.returns)
    assert ep_fast.env_steps == ep_ref.env_steps
    for a, b in zip(fast, ref):
        np.testing.assert_array_equal(a.plan, b.plan)
        assert a.speedup == b.speedup

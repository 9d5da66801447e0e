"""Expert iteration (``agents/muzero/distill.py``): search targets, the prior's training, the net alone."""
import numpy as np
import pytest
import torch

from heurist.agents.muzero import plan_mapping
from heurist.agents.muzero.distill import expert_targets, prior_greedy_returns, train_prior
from heurist.agents.muzero.train import MuZeroConfig, build_net
from heurist.envs.malloc.env import MallocEnv
from heurist.envs.malloc.generator import pad_instances
from heurist.envs.malloc.synthetic import random_instance


def _insts():
    """Four small synthetic rows (N 12-30, C 25 % of peak live bytes), padded together."""
    return [random_instance(n, seed=s, max_lifetime=16, size_range=(1024, 2**20),
                            capacity_fraction=0.25) for n, s in ((12, 1), (20, 2), (30, 3),
                                                                 (16, 4))]


@pytest.fixture(scope="module")
def data():
    return expert_targets(_insts(), num_simulations=8, k=4)


def test_expert_targets_are_the_search_episodes(data):
    """The expert plays exactly plan_mapping's episodes; targets are distributions over the
    legal actions; the value target of each row's first position is its episode return."""
    _res, ep = plan_mapping(_insts(), num_simulations=8, k=4, order="msa")
    np.testing.assert_array_equal(data.returns, ep.returns)
    assert data.obs.shape == (len(data), 87) and data.policy.shape == (len(data), 5)
    torch.testing.assert_close(data.policy.sum(-1), torch.ones(len(data)))
    assert (data.policy[~data.legal] == 0).all()
    assert (data.legal.sum(-1) > 1).all()  # only positions with a choice are kept
    # the first searched position of a row is its first decision here (the first buffer of a
    # row always has a choice: offset 0 or slow); rows are stacked per step, in row order
    first = data.value[:4].double().numpy()
    np.testing.assert_allclose(first, ep.returns, rtol=0, atol=1e-6)
    assert len(data) == 59


def test_train_prior_fits_the_expert(data):
    """A few hundred steps fit the expert's choices on its own positions (the net's pick is one
    of the expert's most-weighted actions on >= 95 % of them), and the loss falls."""
    torch.manual_seed(0)
    net = build_net(MuZeroConfig(k=4))
    losses = train_prior(net, data, steps=300, batch_size=64, lr=3e-3)
    assert np.mean(losses[-20:]) < 0.5 * np.mean(losses[:20])
    with torch.no_grad():
        logits, _ = net(data.obs)
    pick = logits.masked_fill(~data.legal, -torch.inf).argmax(-1)
    # ~10 % of the positions have tied expert targets: any of the tied actions is the expert's
    # choice (comparing with argmax's first index made the test depend on float rounding)
    top = data.policy.max(-1).values
    agree = data.policy.gather(-1, pick[:, None]).squeeze(-1) >= top - 1e-6
    assert agree.float().mean() >= 0.95


def test_prior_greedy_equals_env_greedy_for_an_action0_prior():
    """A net whose logits always favour action 0 plays the env's greedy episode: the same
    lowest-legal-action log and the same returns."""
    torch.manual_seed(0)
    net = build_net(MuZeroConfig(k=4))
    last = net.policy_net[-1]
    with torch.no_grad():
        last.weight.zero_()
        last.bias.copy_(torch.tensor([1.0, 0.0, 0.0, 0.0, 0.0]))
    insts = _insts()
    ret, log = prior_greedy_returns(net, insts, k=4)
    env = MallocEnv(mode="mapping", k=4, order="msa")
    td_inst = pad_instances(insts)
    td = env.reset(instance=td_inst)
    want = []
    while not td["done"].all():
        a = td["action_mask"].long().argmax(-1)  # the lowest legal action (0 for done rows)
        td["action"] = a
        td = env.step(td)["next"]
        want.append(a.numpy())
    np.testing.assert_array_equal(log, np.stack(want, 1))
    np.testing.assert_allclose(ret, env.greedy_episode(td_inst), rtol=0, atol=1e-6)

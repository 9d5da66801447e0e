"""MuZero mode (issue 10): categorical supports, the unroll loss, the sum-tree, the replay's
n-step targets, resumable self-play training and learned-model search on the Malloc env."""
import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from heurist.agents.muzero import (
    LearnedModel,
    MuZeroConfig,
    MuZeroTrainer,
    Replay,
    SumTree,
    UnrollBatch,
    plan_mapping,
    unroll_loss,
)
from heurist.envs.malloc.plan_check import check_plan
from heurist.envs.malloc.synthetic import random_instance
from heurist.policies.nets.muzero import (
    MuZeroNet,
    inverse_transform,
    scalar_to_support,
    support_to_scalar,
    transform,
)


@settings(max_examples=200, deadline=None)
@given(st.floats(-1e6, 1e6, allow_nan=False))
def test_transform_round_trip(x):
    """inverse_transform(transform(x)) == x to float64 precision."""
    t = torch.tensor([x], dtype=torch.float64)
    assert float(inverse_transform(transform(t))) == pytest.approx(x, rel=1e-9, abs=1e-9)


def test_transform_known_values():
    """h(3) = sqrt(4) - 1 + 0.003 = 1.003 and h(-3) = -1.003."""
    t = torch.tensor([3.0, -3.0, 0.0], dtype=torch.float64)
    assert transform(t).tolist() == pytest.approx([1.003, -1.003, 0.0], abs=1e-12)


def test_support_projection_two_hot():
    """A scalar with h(x) = 1.25 on S = 3 is 0.75 on support point 1 and 0.25 on point 2."""
    x = inverse_transform(torch.tensor([1.25], dtype=torch.float64))
    p = scalar_to_support(x, 3)
    assert p[0].tolist() == pytest.approx([0, 0, 0, 0, 0.75, 0.25, 0], abs=1e-9)
    # clipping: far above the support is all mass on +S
    assert scalar_to_support(torch.tensor([1e9], dtype=torch.float64), 3)[0, -1] == 1.0


@settings(max_examples=100, deadline=None)
@given(st.floats(-0.9, 0.9, allow_nan=False))
def test_support_round_trip(x):
    """support_to_scalar(log two-hot(x)) == x inside the support (scale 100, S = 10)."""
    p = scalar_to_support(torch.tensor([x], dtype=torch.float64), 10, scale=100.0)
    back = support_to_scalar(torch.log(p.clamp(min=1e-300)), scale=100.0)
    assert float(back) == pytest.approx(x, abs=1e-9)


def _zero_heads(net):
    for head in (net.reward_net, net.policy_net, net.value_net):
        torch.nn.init.zeros_(head[-1].weight)
        torch.nn.init.zeros_(head[-1].bias)


def test_unroll_loss_known_value():
    """With uniform heads the K-step loss is 1.5 log(2S+1) + 2 log(A) (k=0: 0.25 Lv + Lp;
    k=1..K at weight 1/K: 0.25 Lv + Lr + Lp), and the shapes are [Bs]."""
    torch.manual_seed(0)
    Bs, K, D, A, S = 5, 3, 7, 4, 2
    net = MuZeroNet(obs_dim=D, n_actions=A, latent=8, hidden=16, support_size=S)
    _zero_heads(net)
    pi = torch.softmax(torch.randn(Bs, K + 1, A), -1)
    batch = UnrollBatch(obs=torch.randn(Bs, D), actions=torch.randint(0, A, (Bs, K)),
                        values=torch.rand(Bs, K + 1), rewards=torch.rand(Bs, K), policies=pi,
                        policy_mask=torch.ones(Bs, K + 1), weights=torch.ones(Bs))
    loss, parts, err = unroll_loss(net, batch)
    assert float(loss.detach()) == pytest.approx(1.5 * math.log(2 * S + 1) + 2 * math.log(A), rel=1e-5)
    assert err.shape == (Bs,) and parts["policy"] == pytest.approx(2 * math.log(A), rel=1e-5)
    loss.backward()
    assert all(p.grad is not None for p in net.represent_net.parameters())


def test_sumtree_frequencies_match_priorities():
    """10^5 i.i.d. draws: chi-square against priorities [1, 2, 3, 4, 0, 10] under the 0.1 %
    critical value (fixed seed); a zero priority is never drawn; stratified counts are exact
    to one draw per slot."""
    p = np.array([1.0, 2, 3, 4, 0, 10])
    tree = SumTree(6)
    tree.update(np.arange(6), p)
    assert tree.total == 20.0
    n = 100_000
    counts = np.bincount(tree.sample(n, np.random.default_rng(0), stratified=False), minlength=6)
    assert counts[4] == 0
    exp = n * p / p.sum()
    keep = exp > 0
    chi2 = (((counts - exp) ** 2)[keep] / exp[keep]).sum()
    assert chi2 < 20.52  # chi-square, 4 degrees of freedom, p = 0.001
    strat = np.bincount(tree.sample(n, np.random.default_rng(1)), minlength=6)
    assert np.abs(strat - exp).max() <= 1


def test_replay_n_step_targets():
    """n = 2, rewards [1, 2, 3], root values [10, 20, 30]: z = [1+2+30, 2+3, 3]; past the end
    the value and reward are 0 and there is no policy target."""
    rp = Replay(capacity=8, obs_dim=2, n_actions=3, n_step=2)
    rp.add_episode(np.zeros((3, 2)), np.array([0, 1, 2]), np.array([1.0, 2, 3]),
                   np.full((3, 3), 1 / 3), np.array([10.0, 20, 30]))
    z = rp._targets(np.array([0]), 2, None)
    assert z[0].tolist() == [33.0, 5.0, 3.0]
    # only position 2 can be drawn: zero the others
    rp.tree.update(np.array([0, 1]), np.zeros(2))
    batch, slots = rp.sample(4, 2, np.random.default_rng(0))
    assert slots.tolist() == [2, 2, 2, 2]
    assert batch.values[0].tolist() == [3.0, 0.0, 0.0]
    assert batch.rewards[0].tolist() == [3.0, 0.0] and batch.policy_mask[0].tolist() == [1, 0, 0]


_TINY = {"rows": 4, "n_min": 6, "n_max": 9, "simulations": 4, "train_steps": 2,
         "batch_size": 16, "replay_capacity": 500, "latent": 16, "hidden": 32, "unroll": 3,
         "n_step": 3}


def test_resumed_self_play_gives_identical_weights(tmp_path):
    """2 iterations straight == 1 iteration, checkpoint, a new trainer resuming to 2."""
    torch.set_num_threads(1)
    a = MuZeroTrainer(MuZeroConfig(**_TINY))
    a.run(2)
    ckpt = tmp_path / "ckpt.pt"
    MuZeroTrainer(MuZeroConfig(**_TINY)).run(1, ckpt=ckpt)
    b = MuZeroTrainer(MuZeroConfig(**_TINY))
    b.run(2, ckpt=ckpt)
    assert b.iteration == 2
    for (k, va), vb in zip(a.net.state_dict().items(), b.net.state_dict().values(), strict=True):
        assert torch.equal(va, vb), k
    with pytest.raises(ValueError, match="other settings"):
        MuZeroTrainer(MuZeroConfig(**{**_TINY, "lr": 1e-2})).load(ckpt)


def test_learned_model_search_plans_are_legal():
    """Search over an untrained learned model gives plans that check_plan accepts (plan_mapping
    also replays them through the env's oracles)."""
    torch.manual_seed(0)
    from heurist.agents.muzero.train import malloc_dims

    d, a = malloc_dims(8)
    net = MuZeroNet(obs_dim=d, n_actions=a, latent=16, hidden=32)
    insts = [random_instance(n, seed=s, capacity_fraction=0.25) for n, s in ((12, 1), (20, 2))]
    model = LearnedModel(net)
    results, ep = plan_mapping(insts, num_simulations=8, model=model)
    assert ep.env_steps == 0 and model.n_calls > 0
    for inst, r in zip(insts, results, strict=True):
        assert check_plan(inst, r.plan, mode="mapping").valid
        assert r.speedup >= 1.0


def test_muzero_net_artifact_round_trip(tmp_path):
    """A MuZeroNet exported as an artifact loads in the policies layer with equal outputs."""
    from heurist.policies.export.artifact import export_artifact, load_network

    torch.manual_seed(0)
    net = MuZeroNet(obs_dim=107, n_actions=9, latent=16, hidden=32)
    export_artifact(net, tmp_path / "mz")
    loaded, manifest = load_network(tmp_path / "mz")
    assert manifest["network"]["class"] == "MuZeroNet"
    obs = torch.randn(3, 107)
    with torch.no_grad():
        for x, y in zip(net.eval()(obs), loaded.eval()(obs), strict=True):
            assert torch.equal(x, y)

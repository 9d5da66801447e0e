"""Training-only fast paths of the AM family: an episode played without gradients and re-scored in
one batched pass (run_episode -> AttentionModel.score_steps), POMO's output projection folded into
the logit keys, the additive mask, and the rollout baseline's exponential warm-up."""
from __future__ import annotations

import pytest
import torch

from heurist.agents.baselines import RolloutBaseline
from heurist.envs.pvrp import PVRPSequentialEnv, Weights, generate
from heurist.policies.decoding import run_episode, sampler
from heurist.policies.nets.routing import POMO, AttentionModel
from heurist.policies.nets.routing.decoder import mask_bias, masked_logits

SMALL = {"dim": 32, "n_heads": 4, "n_layers": 2, "ff_dim": 64}

pytestmark = pytest.mark.usefixtures("one_thread")


def _grads(net):
    return [p.grad.clone() for p in net.parameters() if p.grad is not None]


@pytest.mark.parametrize("dynamic", [False, True])
def test_rescored_episode_equals_the_per_step_episode(dynamic):
    """Same sampled actions and rewards, logp and every gradient equal to float32 rounding, with
    and without the dynamic embedding (2 vehicles with preferences: the acting vehicle changes)."""
    torch.manual_seed(0)
    env = PVRPSequentialEnv(n_clients=7, n_vehicles=2, weights=Weights(w_time=1.0, w_pref=0.3))
    inst = generate(5, n_clients=7, n_vehicles=2, rng=3).to_tensordict()
    net = AttentionModel(**SMALL, dynamic=dynamic)
    out = []
    for rescore in (True, False):
        if not rescore:
            net.score_steps = None  # the instance attribute hides the method: per-step logp
        net.zero_grad()
        traj = run_episode(env, net, inst, select=sampler(torch.Generator().manual_seed(4)))
        traj.logp.sum().backward()
        out.append((traj, _grads(net)))
    (a, ga), (b, gb) = out
    assert torch.equal(a.actions, b.actions) and torch.equal(a.reward, b.reward)
    assert a.logp.requires_grad and torch.allclose(a.logp, b.logp, atol=1e-5)
    scale = 1 + max(float(g.abs().max()) for g in gb)
    assert len(ga) == len(gb) > 0
    assert all(float((x - y).abs().max()) <= 1e-5 * scale for x, y in zip(ga, gb))


def test_pomo_training_step_folds_the_output_projection():
    """POMO without the dynamic embedding: the logits with gradients on (folded logit keys) equal
    those of inference to float32 rounding, -inf exactly where masked."""
    torch.manual_seed(1)
    env = PVRPSequentialEnv(n_clients=6, n_vehicles=1, capacity=15,
                            weights=Weights(w_time=1.0, w_pref=0.0))
    inst = generate(3, n_clients=6, n_vehicles=1, capacity=15, rng=2).to_tensordict()
    net = POMO(**SMALL, dynamic=False)
    K = 6
    td = env.reset(instance=torch.cat([inst] * K, 0))
    state = net.init(td[:3])[torch.arange(3 * K) % 3]
    train, _ = net.step(td, state)
    with torch.no_grad():
        state2 = net.init(td[:3])[torch.arange(3 * K) % 3]
        infer, _ = net.step(td, state2)
    assert train.requires_grad and "folded" in state.get_non_tensor("per_instance")
    assert torch.equal(torch.isinf(train), ~td["action_mask"])
    fin = td["action_mask"]
    assert torch.allclose(train[fin], infer[fin], atol=1e-5)


def test_mask_bias_is_the_masked_fill():
    """x + mask_bias(mask) == masked_logits(x, mask) exactly."""
    torch.manual_seed(2)
    x = torch.randn(4, 3, 9)
    mask = torch.rand(4, 3, 9) < 0.5
    assert torch.equal(x + mask_bias(mask, x.dtype), masked_logits(x, mask))


class _NoEnv:
    """An env the warm-up must not touch."""

    def reset(self, **_):
        raise AssertionError("the warm-up ran a greedy rollout")


def test_rollout_baseline_warmup_is_the_exponential_baseline():
    """The first W advantages are returns minus rl4co's exponential average (beta 0.8, starting
    at the first batch mean), with no rollout and no check; its clock survives a state round trip."""
    net = AttentionModel(**SMALL)
    bl = RolloutBaseline(net, check_set=None, every=1, warmup=2)
    r1 = torch.tensor([[1.0], [3.0]])
    r2 = torch.tensor([[4.0], [6.0]])
    assert torch.equal(bl.advantage(r1, None, None, _NoEnv()), r1 - 2.0)
    assert bl.after_step(net=net, it=0, env=_NoEnv()) == {}
    ema = 0.8 * 2.0 + 0.2 * 5.0
    assert torch.allclose(bl.advantage(r2, None, None, _NoEnv()), r2 - ema)
    state = bl.state_dict()
    again = RolloutBaseline(net, check_set=None, every=1, warmup=2)
    again.load_state_dict(state)
    assert again.seen == 2 and torch.allclose(again.ema, torch.tensor(ema))
    assert "seen" not in RolloutBaseline(net, check_set=None, every=1).state_dict()
    with pytest.raises(ValueError, match="warmup"):
        RolloutBaseline(net, check_set=None, every=1, warmup=-1)

"""run_episode(shared=K): the encoder runs once on the distinct rows of K copy-major copies (POMO's
multi-start, samples of one instance) and gives the logits, actions, log-probabilities and
gradients of the full K-fold pass."""
from __future__ import annotations

import pytest
import torch

from heurist.envs.pvrp import PVRPEnv, PVRPSequentialEnv, Weights, generate
from heurist.policies.decoding import greedy, rollout, run_episode
from heurist.policies.nets.routing import CAMP, POMO, AttentionModel

SMALL = {"dim": 32, "n_heads": 4, "n_layers": 2, "ff_dim": 64}
N, B = 6, 3

pytestmark = pytest.mark.usefixtures("one_thread")


def _cvrp():
    env = PVRPSequentialEnv(n_clients=N, n_vehicles=1, capacity=15,
                            weights=Weights(w_time=1.0, w_pref=0.0))
    inst = generate(B, n_clients=N, n_vehicles=1, capacity=15, rng=7).to_tensordict()
    return env, inst


def _close(ga, gb) -> bool:
    """Every gradient equal up to float32 rounding, relative to the largest gradient entry (a
    bias before batch norm has a zero gradient up to rounding)."""
    scale = 1 + max(float(y.abs().max()) for y in gb)
    return all(float((x - y).abs().max()) <= 1e-5 * scale for x, y in zip(ga, gb))


def _both(env, net, inst, K, first=None):
    """(trajectory with shared=K, trajectory with shared=1, their parameter gradients)."""
    big = torch.cat([inst] * K, 0)
    out, grads = [], []
    for shared in (K, 1):
        net.zero_grad()
        traj = run_episode(env, net, big, select=greedy, first=first, shared=shared)
        traj.logp.sum().backward()
        out.append(traj)
        grads.append([p.grad.clone() for p in net.parameters() if p.grad is not None])
    return out[0], out[1], grads


@pytest.mark.parametrize("norm", ["instance", "batch"])
def test_multistart_with_one_encoder_pass_equals_the_full_pass(norm):
    """POMO's N forced starts in train mode (batch norm: K copies have the batch statistics of
    one): same actions and rewards, log-probabilities and gradients equal to float precision."""
    torch.manual_seed(0)
    env, inst = _cvrp()
    net = POMO(**SMALL, norm=norm).train()
    first = torch.arange(1, N + 1).repeat_interleave(B)
    a, b, (ga, gb) = _both(env, net, inst, N, first=first)
    assert torch.equal(a.actions, b.actions) and torch.equal(a.reward, b.reward)
    assert torch.allclose(a.logp, b.logp, atol=1e-5)
    assert len(ga) == len(gb) > 0
    assert _close(ga, gb)


def test_camp_samples_share_the_encoder_pass():
    """CAMP (multi-agent, batch norm) on 4 copies of PVRP instances: the same episode either way."""
    torch.manual_seed(1)
    env = PVRPEnv(n_clients=N, n_vehicles=2)
    inst = generate(B, n_clients=N, n_vehicles=2, rng=3).to_tensordict()
    net = CAMP(**SMALL).train()
    a, b, (ga, gb) = _both(env, net, inst, 4)
    assert torch.equal(a.actions, b.actions)
    assert torch.allclose(a.logp, b.logp, atol=1e-5)
    assert _close(ga, gb)


def test_rollout_multistart_aug8_unchanged_and_a_bad_share_refused():
    """rollout's multistart x8 (which now shares the encoder across the starts) keeps the same
    best objectives as decoding the copies one start at a time; shared must divide the batch."""
    torch.manual_seed(2)
    env, inst = _cvrp()
    net = AttentionModel(**SMALL, norm="instance").eval()
    got = rollout(env, net, inst, strategy="multistart", augment=True)
    from heurist.policies.nets.routing.symmetry import dihedral8

    base = dihedral8(inst)
    with torch.no_grad():
        per_start = [run_episode(env, net, base, select=greedy,
                                 first=torch.full((8 * B,), s)).reward for s in range(1, N + 1)]
    best = torch.stack(per_start).view(N * 8, B).max(0).values
    assert torch.allclose(got.value, best, atol=1e-4)
    with pytest.raises(ValueError, match="does not divide"):
        run_episode(env, net, torch.cat([inst] * 2, 0), shared=4)

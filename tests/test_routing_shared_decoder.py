"""The shared-key fast path of the pointer decoder (POMO's starts share one instance's keys): the
same logits as the broadcast path, the same query from the precomputed context, and a reindexed
state falls back to the row-by-row path."""
from __future__ import annotations

import pytest
import torch

from heurist.envs.pvrp import PVRPSequentialEnv, Weights, generate
from heurist.policies.nets.routing import POMO, AttentionModel
from heurist.policies.nets.routing.attention_model import shared_copies
from heurist.policies.nets.routing.decoder import PointerDecoder

pytestmark = pytest.mark.usefixtures("one_thread")


def test_shared_copies_recognises_only_copy_major_repeats():
    """K for arange(B) % b, else 1 (identity, shuffled, ragged rows)."""
    assert shared_copies(torch.arange(12) % 4, 4) == 3
    assert shared_copies(torch.arange(5), 5) == 1
    assert shared_copies(torch.tensor([0, 1, 1, 0]), 2) == 1
    assert shared_copies(torch.tensor([0, 1, 2, 0, 1]), 3) == 1


@pytest.mark.parametrize("dynamic", [False, True])
def test_shared_decoder_equals_broadcast_decoder(dynamic):
    """K copies of b instances: logits of the matmul path == the broadcast path on repeated keys
    (to float32 rounding), -inf exactly where masked, and equal gradients."""
    torch.manual_seed(0)
    K, b, n, H, F = 4, 3, 7, 32, 5
    dec = PointerDecoder(dim=H, n_heads=4, dynamic_dim=F if dynamic else 0)
    nodes = torch.randn(b, n, H, requires_grad=True)
    query = torch.randn(K * b, H)
    mask = torch.rand(K * b, n) < 0.7
    mask[:, 0] = True
    dyn = torch.randn(K * b, n, F) if dynamic else None
    keys = dec.precompute(nodes)
    fast = dec(query, keys, mask, dyn, shared=K)
    idx = torch.arange(K * b) % b
    slow = dec(query, tuple(k[idx] for k in keys), mask, dyn)
    assert torch.equal(torch.isinf(fast), ~mask) and torch.equal(torch.isinf(slow), ~mask)
    assert torch.allclose(fast[mask], slow[mask], atol=1e-5)
    g1 = torch.autograd.grad(fast[mask].sum(), nodes, retain_graph=True)[0]
    g2 = torch.autograd.grad(slow[mask].sum(), nodes)[0]
    assert torch.allclose(g1, g2, atol=1e-5)
    with pytest.raises(ValueError, match="needs keys of"):
        dec(query, tuple(k[idx] for k in keys), mask, dyn, shared=K)


@pytest.mark.parametrize("cls", [AttentionModel, POMO])
def test_precomputed_context_equals_the_projection(cls):
    """ContextEmbedding.step from precompute == forward on the observation (float rounding)."""
    torch.manual_seed(1)
    env = PVRPSequentialEnv(n_clients=6, n_vehicles=2, weights=Weights(w_time=1.0, w_pref=0.3))
    td = env.reset(instance=generate(4, n_clients=6, n_vehicles=2, rng=5).to_tensordict())
    net = cls(dim=32, n_heads=4, n_layers=1, ff_dim=64).eval()
    nodes = net.embed(td)
    want = net.context(td, nodes, nodes.mean(1))
    got = net.context.step(td, *net.context.precompute(nodes, nodes.mean(1)))
    assert torch.allclose(got, want, atol=1e-5)


def test_repeated_and_reindexed_states():
    """The state of 2 instances repeated 3 times copy-major is read per instance (K = 3, the
    instances' own key tensors, memoised); reindexed (beam search's state[idx]) its rows gather
    their instance's keys, and the logits equal (to rounding) those of a state built on the
    permuted rows."""
    torch.manual_seed(2)
    env = PVRPSequentialEnv(n_clients=5, n_vehicles=1, weights=Weights(w_time=1.0, w_pref=0.0))
    inst = generate(2, n_clients=5, n_vehicles=1, rng=1).to_tensordict()
    net = POMO(dim=16, n_heads=2, n_layers=1, ff_dim=32).eval()
    state = net.init(env.reset(instance=inst))[torch.arange(6) % 2]
    keys = state.get_non_tensor("per_instance")["tensors"]
    view, K = net._view(state)
    assert K == 3 and view[0] is keys[0] and len(view) == 7
    again, _ = net._view(state)
    assert again is view  # once per episode
    perm = torch.tensor([1, 0, 3, 2, 5, 4])
    moved = state[perm]
    view2, K2 = net._view(moved)
    assert K2 == 1 and view2[0].shape[0] == 6 and torch.equal(view2[0], keys[0][perm % 2])
    big = torch.cat([inst] * 3, 0)[perm]
    td = env.reset(instance=big)
    want, _ = net.step(td, net.init(td))
    got, _ = net.step(td, moved)
    assert torch.equal(torch.isinf(got), torch.isinf(want))
    assert torch.allclose(got[torch.isfinite(got)], want[torch.isfinite(want)], atol=1e-5)


@pytest.mark.parametrize("argv", [["--iters", "0"], ["--threads", "0"]])
def test_iteration_benchmark_refuses_bad_flags(argv, capsys):
    """scripts/benchmark_routing_iter.py: a bad count exits 2 with one stderr line."""
    from script_module import load_script

    mod = load_script("benchmark_routing_iter")
    with pytest.raises(SystemExit) as exc:
        mod.main(argv)
    assert exc.value.code == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "--iters and --threads must be >= 1" in err, err


def test_dynamic_off_builds_without_it_and_round_trips():
    """agent.dynamic=false: no dynamic parameters, the manifest config records it (and only then),
    the config rebuilds the same network, and on CVRP its shared and per-row logits agree."""
    from omegaconf import OmegaConf

    from heurist.agents.routing_task import build_routing_net

    cfg = OmegaConf.create({"name": "pomo", "dim": 16, "n_heads": 2, "n_layers": 1, "ff_dim": 32,
                            "norm": "instance", "clip": 10.0, "dynamic": False})
    torch.manual_seed(3)
    net = build_routing_net(cfg).eval()
    assert net.dynamic is None and net.decoder.dynamic is None
    assert net.config["dynamic"] is False and "dynamic" not in POMO(dim=16, n_heads=2).config
    assert list(POMO(**net.config).state_dict()) == list(net.state_dict())
    env = PVRPSequentialEnv(n_clients=5, n_vehicles=1, weights=Weights(w_time=1.0, w_pref=0.0))
    inst = generate(2, n_clients=5, n_vehicles=1, rng=1).to_tensordict()
    td = env.reset(instance=torch.cat([inst] * 3, 0))
    shared, _ = net.step(td, net.init(td[:2])[torch.arange(6) % 2])
    plain, _ = net.step(td, net.init(td))
    assert torch.equal(torch.isinf(shared), torch.isinf(plain))
    assert torch.allclose(shared[torch.isfinite(shared)], plain[torch.isfinite(plain)], atol=1e-5)


def test_unscored_forced_start_skips_the_first_decode():
    """run_episode(score_first=False) with every start forced: same greedy actions, and logp
    lacks exactly the first step's log p(start) (POMO's log p(tau | start))."""
    from heurist.policies.decoding import run_episode

    torch.manual_seed(4)
    env = PVRPSequentialEnv(n_clients=5, n_vehicles=1, weights=Weights(w_time=1.0, w_pref=0.0))
    inst = generate(2, n_clients=5, n_vehicles=1, rng=2).to_tensordict()
    net = POMO(dim=16, n_heads=2, n_layers=1, ff_dim=32).eval()
    big = torch.cat([inst] * 5, 0)
    first = torch.arange(1, 6).repeat_interleave(2)
    with torch.no_grad():
        scored = run_episode(env, net, big, first=first, shared=5)
        plain = run_episode(env, net, big, first=first, shared=5, score_first=False)
        td = env.reset(instance=big)
        lp0 = net.step(td, net.init(td))[0].log_softmax(-1).gather(-1, first[:, None])[:, 0]
    assert torch.equal(scored.actions, plain.actions) and torch.equal(plain.actions[:, 0], first)
    assert torch.equal(scored.reward, plain.reward)
    assert torch.allclose(scored.logp - plain.logp, lp0, atol=1e-5)

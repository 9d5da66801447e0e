"""The learned policy's parts: network masking and equivariance, losses, advantages, rollouts,
checkpoints and the exported policy."""
import math

import numpy as np
import pytest
import torch

from heurist.agents.checkpoint import load_checkpoint, save_checkpoint
from heurist.agents.imitation import imitation_loss, imitation_update
from heurist.agents.policy import NetPolicy
from heurist.agents.reinforce import reinforce_update, shared_baseline_advantage
from heurist.agents.rollout import collect
from heurist.envs.paging.env import REQUEST_FEATURES, SLOT_FEATURES, PagingEnv
from heurist.envs.paging.generator import PagingGenerator
from heurist.policies.export import export_policy, load_policy
from heurist.policies.nets import SlotAttentionPolicy
from heurist.policies.paging import simulate

F, F2 = len(SLOT_FEATURES), len(REQUEST_FEATURES)


def _net(seed=0):
    torch.manual_seed(seed)
    return SlotAttentionPolicy(slot_dim=F, request_dim=F2)


def _obs(B=5, k=6, seed=0):
    g = torch.Generator().manual_seed(seed)
    mask = torch.rand(B, k, generator=g) < 0.7
    mask[:, 0] = True
    return torch.rand(B, k, F, generator=g), torch.rand(B, F2, generator=g), mask


def test_net_masks_illegal_slots():
    """Illegal slots get -inf logits, legal ones finite."""
    x, r, m = _obs()
    logits = _net()(x, r, m)
    assert torch.isinf(logits[~m]).all() and torch.isfinite(logits[m]).all()


def test_net_is_slot_permutation_equivariant_and_any_k():
    """Permuting the slots permutes the logits; the same weights score k = 3 and k = 12."""
    net = _net()
    x, r, m = _obs(k=7)
    m[:] = True
    perm = torch.tensor([3, 0, 6, 1, 5, 2, 4])
    with torch.no_grad():
        a = net(x, r, m)
        b = net(x[:, perm], r, m[:, perm])
    torch.testing.assert_close(a[:, perm], b, rtol=1e-5, atol=1e-5)
    for k in (3, 12):
        x, r, m = _obs(k=k)
        assert net(x, r, m).shape == (5, k)


def test_imitation_loss_exact_values():
    """Uniform logits over 4 slots: loss log 4 for one optimal slot, log 2 for two."""
    logits = torch.zeros(1, 4)
    one = torch.tensor([[False, True, False, False]])
    two = torch.tensor([[True, True, False, False]])
    assert math.isclose(float(imitation_loss(logits, one)), math.log(4), rel_tol=1e-6)
    assert math.isclose(float(imitation_loss(logits, two)), math.log(2), rel_tol=1e-6)


def test_shared_baseline_advantage_exact():
    """Advantage = return minus its instance's sample mean, over the batch std."""
    adv = shared_baseline_advantage(torch.tensor([1.0, 3.0, 10.0, 10.0]), 2)
    raw = torch.tensor([-1.0, 1.0, 0.0, 0.0])
    torch.testing.assert_close(adv, raw / raw.std())
    assert shared_baseline_advantage(torch.tensor([5.0, 5.0]), 2).tolist() == [0.0, 0.0]


def _rollout(net, k=4, B=3, seed=0, teacher=False):
    env = PagingEnv(cache_size=k)
    gen = PagingGenerator(length=80, n_pages=12, alpha=0.8, predictor="exact", cache_size=k)
    inst = gen(B, np.random.default_rng(seed))
    pol = NetPolicy(net, sample=True, generator=torch.Generator().manual_seed(seed))
    return collect(env, inst, pol, teacher=teacher), inst


def test_reinforce_step_raises_logprob_of_advantaged_actions():
    """A step with positive advantage on every row raises the log-probability of the taken actions."""
    net = _net()
    roll, _ = _rollout(net)

    def total_logp():
        with torch.no_grad():
            lg = net(roll.slot_features, roll.request_features, roll.action_mask)
            return float(torch.log_softmax(lg, -1).gather(-1, roll.actions[:, None]).sum())

    before = total_logp()
    opt = torch.optim.SGD(net.parameters(), lr=1e-3)
    reinforce_update(net, opt, roll, torch.ones(3), chunk=7, max_grad_norm=1e9)
    assert total_logp() > before


def test_follow_teacher_rollout_is_opt():
    """A rollout that follows the env's teacher has exactly simulate's OPT misses."""
    env = PagingEnv(cache_size=4)
    gen = PagingGenerator(length=120, n_pages=15, alpha=0.7, predictor="none", cache_size=4)
    inst = gen(3, np.random.default_rng(5))
    roll = collect(env, inst, lambda td: td["action_mask"].long().argmax(-1), teacher=True,
                   follow_teacher=True)
    want = [simulate(inst["trace"][i].numpy(), 4, "OPT").misses for i in range(3)]
    assert roll.misses.tolist() == want
    assert roll.teacher.shape == roll.action_mask.shape
    assert roll.teacher[torch.arange(len(roll.actions)), roll.actions].all()


def test_imitation_learns_to_follow_exact_predictions():
    """Imitating Belady with exact predictions reaches OPT's misses on fresh traces (LRU: 793)."""
    net = _net(1)
    opt = torch.optim.Adam(net.parameters(), lr=3e-3)
    env = PagingEnv(cache_size=4)
    gen = PagingGenerator(length=150, n_pages=14, alpha=0.6, predictor="exact", cache_size=4)
    g = torch.Generator().manual_seed(0)
    for it in range(2):
        inst = gen(8, np.random.default_rng(it))
        roll = collect(env, inst, NetPolicy(net, sample=True, generator=g), teacher=True,
                       follow_teacher=it == 0)
        imitation_update(net, opt, roll, batch_size=64, epochs=4, generator=g)
    test = gen(8, np.random.default_rng(99))
    learned = collect(env, test, NetPolicy(net), record=False).misses.sum()
    lru = sum(simulate(test["trace"][i].numpy(), 4, "LRU").misses for i in range(8))
    opt_misses = sum(simulate(test["trace"][i].numpy(), 4, "OPT").misses for i in range(8))
    assert (float(learned), lru, opt_misses) == (533.0, 793, 533)


def test_checkpoint_roundtrip_atomic(tmp_path):
    """save_checkpoint writes then renames: the file loads back and no temp file remains."""
    path = save_checkpoint(tmp_path / "ck.pt", {"iteration": 3, "w": torch.arange(4)})
    state = load_checkpoint(path)
    assert state["iteration"] == 3 and state["w"].tolist() == [0, 1, 2, 3]
    assert [p.name for p in tmp_path.iterdir()] == ["ck.pt"]
    with pytest.raises(FileNotFoundError):
        load_checkpoint(tmp_path / "missing.pt")


def test_exported_policy_acts_like_the_module(tmp_path):
    """The exported file, loaded back, chooses the trained module's actions on env observations."""
    net = _net(2)
    roll, _ = _rollout(net, k=5, B=4, seed=3)
    path = export_policy(net, tmp_path / "policy", metrics={"note": "test"})
    loaded = load_policy(path)
    td = {"slot_features": roll.slot_features, "request_features": roll.request_features,
          "action_mask": roll.action_mask}
    with torch.no_grad():
        want = net(roll.slot_features, roll.request_features, roll.action_mask).argmax(-1)
    assert torch.equal(loaded(td), want)
    assert loaded.manifest["metrics"] == {"note": "test"}


def test_load_policy_rejects_foreign_files(tmp_path):
    """A folder that is not an exported policy raises ValueError naming it; a file (an old
    policy.pt) is refused as not a folder."""
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "manifest.json").write_text('{"format": "something-else"}')
    with pytest.raises(ValueError, match="bad"):
        load_policy(bad)
    junk = tmp_path / "junk.pt"
    junk.write_bytes(b"not a torch file")
    with pytest.raises(FileNotFoundError, match="junk.pt"):
        load_policy(junk)


def test_baseline_misses_takes_aliases_and_bit_predictions():
    """baseline_misses feeds every policy the fields it needs (aliases and discard bits too) and
    skips a policy whose fields the instance lacks."""
    from heurist.agents.evaluation import baseline_misses, eval_instance

    traces = [np.array([1, 2, 3, 4, 1, 2, 5, 1, 2, 3, 4, 5]), np.array([0, 1, 2, 0, 1, 2, 3])]
    inst = eval_instance(traces, cache_size=3, predictor="exact+discard:0", seed=0)
    got = baseline_misses(inst, cache_size=3, policies=["blindoracle", "Discard", "OPT"])
    opt = [simulate(t, 3, "OPT").misses for t in traces]
    assert {k: v.tolist() for k, v in got.items()} == {"blindoracle": opt, "Discard": opt, "OPT": opt}
    bare = eval_instance(traces, cache_size=3, predictor="none", seed=0)
    assert list(baseline_misses(bare, cache_size=3, policies=["Discard", "LRU"])) == ["LRU"]

"""The KVCache oracle's ``legal_actions``: it equals the env's mask along random rollouts in every
configuration, and it catches a mask that is too strict or too lenient."""
import pytest
import torch

from heurist.envs.common.conformance import random_masked_action
from heurist.envs.kv import KVCacheEnv

CONFIGS = [
    {"max_len": 40, "budget": 8, "min_length": 24},
    {"max_len": 40, "budget": 0.3, "min_length": 12, "prefill": "compress"},
    {"max_len": 64, "budget": 20, "granularity": "block", "block_size": 4, "min_length": 30},
    {"max_len": 32, "budget": 6, "budget_scope": "layer", "n_heads": 3, "min_length": 16},
    {"max_len": 48, "budget": 0.25, "budget_scope": "layer", "n_heads": 2, "prefill": "compress",
     "granularity": "block", "block_size": 3, "min_length": 20},
]


def first_mismatch(env, *, batch_size=4, seed=0):
    """Rolls out random masked actions; returns ``(step, row, mask, legal)`` at the first live row
    where ``action_mask`` differs from ``env.legal_actions`` of the log so far, else ``None``."""
    env.set_seed(seed)
    gen = torch.Generator().manual_seed(seed)
    td = env.reset(batch_size=[batch_size])
    instance = env.instance.clone()
    log = torch.zeros(batch_size, 0, dtype=torch.int64)
    step = 0
    while not td["done"].all():
        legal = env.legal_actions(instance, log)
        live = ~td["done"].reshape(-1)
        for b in live.nonzero().flatten().tolist():
            if not torch.equal(legal[b], td["action_mask"][b]):
                return step, b, td["action_mask"][b], legal[b]
        td["action"] = random_masked_action(td["action_mask"], gen)
        log = torch.cat([log, td["action"][:, None]], 1)
        td = env.step(td)["next"]
        step += 1
    return None


@pytest.mark.parametrize("kw", CONFIGS)
def test_legal_actions_equals_the_mask_along_random_rollouts(kw):
    """At every step of random rollouts (3 seeds) the oracle's legal set is exactly the mask."""
    env = KVCacheEnv(**kw)
    for seed in range(3):
        assert first_mismatch(env, seed=seed) is None


def test_legal_actions_after_a_hand_log():
    """Budget 2 of 6 units: no-op, then any slot, then only 0 when done or after an illegal log."""
    env = KVCacheEnv(max_len=6, budget=2, min_length=6)
    inst = env.generate(1, seed=0)
    assert int(inst["length"]) == 6 and env.n_slots == 3
    # Steps 0-1 are no-ops (1, then 2 units cached); from step 2 the cache holds 3 > 2 units.
    rows = [env.legal_actions(inst, torch.tensor([log], dtype=torch.int64).reshape(1, -1))[0]
            .tolist() for log in ([], [0], [0, 0], [0, 0, 1], [0, 0, 1, 2], [0, 0, 1, 2, 0], [0, 1])]
    T, F = True, False
    assert rows == [[T, F, F], [T, F, F], [T, T, T], [T, T, T], [T, T, T], [T, F, F], [T, F, F]]


class _WrongMask(KVCacheEnv):
    """The env with a deliberately wrong mask: ``strict`` forbids evicting slot 0 (a legal move);
    ``lenient`` also allows slot 1 on a no-op step (an illegal move)."""

    def __init__(self, bug, **kw):
        super().__init__(**kw)
        self.bug = bug

    def _observe(self, reward):
        out = super()._observe(reward)
        mask = out["action_mask"]
        due = mask.sum(-1) > 1
        if self.bug == "strict":
            mask[due, 0] = False
        else:
            mask[~due, 1] = True
        return out


@pytest.mark.parametrize("bug", ["strict", "lenient"])
def test_a_wrong_mask_is_caught(bug):
    """Both a too-strict and a too-lenient mask disagree with legal_actions at a known step."""
    env = _WrongMask(bug, **CONFIGS[0])
    found = first_mismatch(env, seed=0)
    assert found is not None
    step, _, mask, legal = found
    if bug == "strict":  # the first eviction: 8 units cached + the 9th (step 8) over budget 8
        assert step == 8 and bool(legal[0]) and not bool(mask[0])
    else:  # reset already offers the illegal slot 1
        assert step == 0 and bool(mask[1]) and not bool(legal[1])

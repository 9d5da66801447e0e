"""malloc's legal_actions oracle equals the env's mask along random rollouts, both directions."""
import numpy as np
import pytest
import torch

from heurist.envs.common import conformance as C
from heurist.envs.malloc.env import MallocEnv
from heurist.envs.malloc.generator import pad_instances
from heurist.envs.malloc.instance import MallocInstance, MemoryConfig

SMALL = {"k": 4, "lookahead": 2, "n_bins": 4}
# config -> live states compared in the rollouts of seeds 0, 1, 2 (3 rows each): 3 x 14 decisions
# in mapping, plus 3 undos a row with UNDO; packing rollouts end early at dead ends.
CONFIGS = {
    "mapping": ({"mode": "mapping", "n_buffers": 14}, [42, 42, 42]),
    "mapping-undo-msa": ({"mode": "mapping", "n_buffers": 14, "undo": True, "max_undos": 3,
                          "order": "msa"}, [60, 60, 60]),
    "packing": ({"mode": "packing", "n_buffers": 12}, [35, 36, 36]),
    "packing-undo-size": ({"mode": "packing", "n_buffers": 12, "undo": True, "max_undos": 3,
                           "order": "size", "capacity_fraction": 1.1}, [51, 50, 54]),
}


def mask_mismatches(env, *, seed: int, batch_size: int = 3) -> tuple[int, int]:
    """Plays random masked rollouts; returns (live states compared, states where the env's mask
    and ``env.legal_actions`` of the log so far disagree)."""
    obs, acts, _rews, dones = C.masked_rollout(env, batch_size=batch_size, seed=seed)
    instance = env.instance
    compared = bad = 0
    for t, o in enumerate(obs):
        live = torch.ones(batch_size, dtype=torch.bool) if t == 0 else ~dones[:, t - 1]
        if not live.any():
            continue
        legal = env.legal_actions(instance, acts[:, :t])
        diff = (legal != o["action_mask"]).any(-1) & live
        compared += int(live.sum())
        bad += int(diff.sum())
    return compared, bad


@pytest.mark.parametrize("kw, states", CONFIGS.values(), ids=CONFIGS.keys())
def test_legal_actions_equal_the_mask_on_random_rollouts(kw, states):
    """At every live state of random rollouts the oracle's legal set is exactly the mask."""
    env = MallocEnv(**SMALL, **kw)
    assert [mask_mismatches(env, seed=seed) for seed in range(3)] == [(n, 0) for n in states]


class _TooStrict(MallocEnv):
    """A broken step code: the mask forbids the highest legal candidate when there are two."""

    def _observe(self) -> None:
        super()._observe()
        s = self.state
        rows = np.flatnonzero(s.n_cand >= 2)
        s.mask[rows, s.n_cand[rows] - 1] = False


class _TooLenient(MallocEnv):
    """A broken step code: the mask also allows the first empty candidate slot."""

    def _observe(self) -> None:
        super()._observe()
        s = self.state
        rows = np.flatnonzero((s.n_cand < self.k) & ~s.done)
        s.mask[rows, s.n_cand[rows]] = True


def test_a_too_strict_mask_is_caught():
    """A mask that forbids a legal move (the highest candidate) disagrees with legal_actions."""
    env = _TooStrict(mode="mapping", n_buffers=14, **SMALL)
    compared, bad = mask_mismatches(env, seed=0)
    assert (compared, bad) == (42, 1)


def test_a_too_lenient_mask_is_caught():
    """A mask that allows an empty candidate slot disagrees with legal_actions at the reset."""
    env = _TooLenient(mode="mapping", n_buffers=14, **SMALL)
    td = env.reset(batch_size=[3])
    legal = env.legal_actions(env.instance, torch.zeros((3, 0), dtype=torch.int64))
    assert (legal != td["action_mask"]).sum(-1).tolist() == [1, 1, 1]


def test_legal_actions_on_a_known_log():
    """Packing two 2-byte buffers into 4 bytes with UNDO: the exact legal sets after each prefix."""
    inst = pad_instances([MallocInstance.from_intervals([2, 2], [0, 0], [2, 2],
                                                        memory=MemoryConfig(capacity=4))])
    env = MallocEnv(mode="packing", k=3, lookahead=1, n_bins=2, undo=True, max_undos=1)
    log = torch.tensor([[0, 3, 0]])  # place at 0, undo, place at 0 again
    sets = [env.legal_actions(inst, log[:, :t])[0].tolist() for t in range(4)]
    assert sets == [[True, False, False, False],   # only offset 0; no undo before a decision
                    [True, False, False, True],    # offset 2 (a's top edge); undo legal
                    [True, False, False, False],   # back at the start; undo spent
                    [True, False, False, False]]
    assert env.check_solution(inst, torch.tensor([[0, 3, 0, 0]])).tolist() == [True]
    assert env.evaluate(inst, torch.tensor([[0, 3, 0, 0]])).tolist() == [-1.0]

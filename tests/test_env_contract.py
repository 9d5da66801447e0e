"""The env contract itself: the conformance suite accepts a correct env and catches broken ones.

``PickEnv`` is a deliberately tiny env written for this test only (never registered globally): pick
``length`` distinct items, reward = value of the item picked.
"""
import dataclasses

import gymnasium as gym
import numpy as np
import pytest
import torch
from tensordict import TensorDict
from torchrl.data import Binary, Categorical, Composite, Unbounded

from heurist.envs import make
from heurist.envs.common import HeuristEnv, as_tensordict
from heurist.envs.common import conformance as C
from heurist.envs.common.gym_wrapper import GymEnv
from heurist.envs.common.registry import EnvEntry, declare, register
from heurist.envs.common.registry import entry as registry_entry

N = 5


def _generate(batch, rng):
    return as_tensordict({"values": rng.random((batch, N)).astype(np.float32),
                          "length": rng.integers(2, N, size=batch)}, batch)


class PickEnv(HeuristEnv):
    def __init__(self, *, generator=_generate, seed=0, bug: str = ""):
        super().__init__(generator=generator, seed=seed)
        self.bug = bug
        self.observation_spec = Composite(values=Unbounded(shape=(N,), dtype=torch.float32),
                                          action_mask=Binary(n=N, dtype=torch.bool), shape=())
        self.action_spec = Categorical(N, shape=(), dtype=torch.int64)
        self.reward_spec = Unbounded(shape=(1,), dtype=torch.float32)
        self.done_spec = Composite(done=Categorical(2, shape=(1,), dtype=torch.bool),
                                   terminated=Categorical(2, shape=(1,), dtype=torch.bool), shape=())

    def _reset_instance(self, instance):
        b = instance.batch_size[0]
        self.picked = torch.zeros(b, N, dtype=torch.bool)
        self.t = torch.zeros(b, dtype=torch.long)
        self.values, self.length = instance["values"], instance["length"]
        return self._obs(torch.zeros(b, dtype=torch.bool))

    def _obs(self, done, reward=None):
        mask = ~self.picked
        if self.bug == "all_masked":
            mask = torch.zeros_like(mask)
        if self.bug == "too_strict":  # forbids item 0 although it is free (>= 2 items always are)
            mask[:, 0] = False
        if self.bug == "too_loose":  # allows picking an item twice
            mask = torch.ones_like(mask)
        mask[done] = False
        mask[done, 0] = True
        td = {"values": self.values.clone(), "action_mask": mask, **self._done_td(done)}
        if reward is not None:
            td["reward"] = reward[:, None].float()
        return TensorDict(td, batch_size=[len(done)])

    def _step_batch(self, td):
        a = td["action"]
        live = self.t < self.length
        reward = torch.where(live, self.values.gather(1, a[:, None])[:, 0], 0.0)
        if self.bug == "nondeterministic":
            reward = reward + torch.rand(()).item() * 1e-3
        rows = torch.arange(len(a))[live]
        self.picked[rows, a[live]] = True
        self.t = self.t + live.long()
        return self._obs(self.t >= self.length, reward)

    def check_solution(self, instance, actions):
        return torch.tensor([len(set(a[:n].tolist())) == n for a, n
                             in zip(actions, instance["length"])])

    def legal_actions(self, instance, actions):
        legal = torch.ones(len(actions), N, dtype=torch.bool)
        for i, row in enumerate(actions):
            legal[i, row.tolist()] = False
        return legal

    def evaluate(self, instance, actions):
        total = [instance["values"][i, actions[i, :n]].sum() for i, n in enumerate(instance["length"])]
        out = torch.stack(total).double()
        return out + 1.0 if self.bug == "evaluate" else out


@pytest.fixture(scope="module")
def entry():
    e = EnvEntry("PickContractTest", f"{__name__}:PickEnv", {})
    if e.gym_id not in gym.registry:
        gym.register(id=e.gym_id, entry_point=lambda **kw: GymEnv(core=PickEnv(**kw)))
    return e


def test_correct_env_passes_every_check(entry):
    """A correct env passes the whole conformance suite."""
    env = PickEnv()
    C.check_specs(env)
    C.check_rollout_terminates(env)
    C.check_determinism(env)
    C.check_batch_independence(env)
    C.check_gym_parity(env, entry)
    C.check_rewards_match_evaluate(env)
    C.check_legal_actions_match_mask(env)


def test_mask_too_strict_is_caught():
    """A mask forbidding a legal move (item 0 while it is free) fails the legal-actions check."""
    with pytest.raises(AssertionError, match=r"mask too strict at step 0, row 0: legal actions \[0\]"):
        C.check_legal_actions_match_mask(PickEnv(bug="too_strict"))


def test_mask_too_loose_is_caught():
    """A mask allowing an illegal move (an item picked before) fails the legal-actions check."""
    with pytest.raises(AssertionError, match="mask too loose at step 1, row 0"):
        C.check_legal_actions_match_mask(PickEnv(bug="too_loose"))


def test_missing_legal_actions_fails():
    """An env without legal_actions fails the check instead of being skipped."""
    class NoOracle(PickEnv):
        legal_actions = HeuristEnv.legal_actions

    with pytest.raises(AssertionError, match="NoOracle.legal_actions is not implemented"):
        C.check_legal_actions_match_mask(NoOracle())


def test_evaluate_mismatch_is_caught():
    """An oracle that disagrees with the summed step rewards fails the suite."""
    with pytest.raises(AssertionError, match="summed rewards"):
        C.check_rewards_match_evaluate(PickEnv(bug="evaluate"))


def test_all_masked_row_is_caught():
    """A state with no legal action fails the rollout check."""
    with pytest.raises(AssertionError, match="all-masked"):
        C.check_rollout_terminates(PickEnv(bug="all_masked"))


def test_nondeterminism_is_caught():
    """Rewards that depend on global RNG state fail the determinism check."""
    with pytest.raises(AssertionError, match="differ"):
        C.check_determinism(PickEnv(bug="nondeterministic"))


def test_reset_shapes_and_unbatched_convention():
    """reset(batch_size=[B]) gives a [B] TensorDict; a bare reset follows TorchRL's unbatched form."""
    env = PickEnv()
    assert env.reset(batch_size=[4]).batch_size == torch.Size([4])
    assert env.reset().batch_size == torch.Size([])
    with pytest.raises(ValueError, match="1-D batch"):
        env.reset(batch_size=[2, 2])


def test_same_seed_same_instances():
    """generate() with one seed gives identical instances."""
    a, b = PickEnv().generate(3, seed=4), PickEnv().generate(3, seed=4)
    assert torch.equal(a["values"], b["values"]) and torch.equal(a["length"], b["length"])


def test_make_unknown_env_lists_registered():
    """make() of an unknown name raises and lists the registered envs."""
    with pytest.raises(KeyError, match="registered envs"):
        make("NoSuchEnv")


def test_rollout_values_are_exact():
    """Replaying known actions gives exactly the picked values as rewards."""
    env = PickEnv()
    inst = TensorDict({"values": torch.tensor([[1.0, 2.0, 3.0, 4.0, 5.0]]),
                       "length": torch.tensor([2])}, batch_size=[1])
    _, acts, rews, dones = C.masked_rollout(env, inst, actions=torch.tensor([[4, 1]]))
    assert rews.tolist() == [[5.0, 2.0]] and dones.tolist() == [[False, True]]
    assert env.evaluate(inst, acts).tolist() == [7.0]


def test_entry_gym_id():
    """A registry entry's Gym id follows heurist/<Name>-v0."""
    assert dataclasses.replace(EnvEntry("X", f"{__name__}:PickEnv")).gym_id == "heurist/X-v0"


def test_entry_imports_its_class_on_demand():
    """An entry's target string resolves to the class itself."""
    assert EnvEntry("X", f"{__name__}:PickEnv").cls is PickEnv


def test_declare_rejects_a_target_without_class():
    """declare() needs 'module:Class'."""
    with pytest.raises(ValueError, match="target must be 'module:Class'"):
        declare("NoColon", "heurist.envs.paging.env")


def test_register_must_agree_with_the_static_table():
    """register() on a declared name refuses another class or other test_kwargs."""
    with pytest.raises(ValueError, match="declared as heurist.envs.paging.env:PagingEnv"):
        register("Paging")(PickEnv)
    paging = registry_entry("Paging").cls
    with pytest.raises(ValueError, match="test_kwargs .* differ from the declared"):
        register("Paging", test_kwargs={"cache_size": 5})(paging)

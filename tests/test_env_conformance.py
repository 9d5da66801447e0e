"""The shared conformance suite, run over every registered env."""
import pytest

from heurist.envs import make, registered
from heurist.envs.common import conformance as C
from heurist.envs.common.registry import entry

NAMES = registered()


@pytest.fixture(params=NAMES)
def env_entry(request):
    e = entry(request.param)
    return e, make(e.name, **e.test_kwargs)


def test_registry_is_not_empty():
    """At least one env is registered, so the suite below is not vacuous."""
    assert NAMES


def test_check_env_specs(env_entry):
    """TorchRL's check_env_specs passes."""
    C.check_specs(env_entry[1])


def test_masked_rollout_terminates_in_spec(env_entry):
    """A masked random rollout terminates, every step inside the specs."""
    C.check_rollout_terminates(env_entry[1])


def test_determinism(env_entry):
    """Same seed, same rollout."""
    C.check_determinism(env_entry[1])


def test_batch_independence(env_entry):
    """Row i of a batch equals a batch-1 run on the same instance."""
    C.check_batch_independence(env_entry[1])


def test_gym_parity(env_entry):
    """The Gymnasium wrapper reproduces the core step by step."""
    C.check_gym_parity(env_entry[1], env_entry[0])


def test_rewards_equal_evaluate(env_entry):
    """Summed step rewards equal the independent evaluate of the action log."""
    C.check_rewards_match_evaluate(env_entry[1])


def test_legal_actions_equal_the_mask(env_entry):
    """The oracle's legal_actions equals action_mask on live rows at sampled steps, both ways."""
    C.check_legal_actions_match_mask(env_entry[1])


def test_make_rejects_unknown_kwargs(env_entry):
    """make() raises on an unknown keyword argument."""
    with pytest.raises(TypeError, match="unknown argument"):
        make(env_entry[0].name, definitely_not_an_option=1)


def test_pvrp_mask_turned_strict_is_caught(monkeypatch):
    """PVRP's mask with ``demand <= load`` turned into ``<`` fails the legal-actions check."""
    import heurist.envs.pvrp.env as pvrp_env

    def strict_masks(avail, demand, load, pos):  # the mutation: a client whose demand equals
        mask = (demand.unsqueeze(1) < load.unsqueeze(-1)) & avail  # the load left is refused
        any_client = mask.any(-1)
        mask[..., 0] = (pos != 0) | ~any_client
        return mask, any_client

    monkeypatch.setattr(pvrp_env, "vehicle_masks", strict_masks)
    env = make("PVRP", backend="torch", **entry("PVRP").test_kwargs)
    with pytest.raises(AssertionError, match=r"PVRPEnv: mask too strict at step 1, row 0"):
        C.check_legal_actions_match_mask(env)

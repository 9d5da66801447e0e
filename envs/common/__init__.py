"""The env contract reused by every heurist env: base class, registry, Gym wrapper, conformance."""
from heurist.envs.common.base import HeuristEnv, as_tensordict
from heurist.envs.common.data import data_dir
from heurist.envs.common.gym_wrapper import GymEnv, spec_to_space
from heurist.envs.common.registry import entry, make, register, registered

__all__ = [
           "GymEnv",
           "HeuristEnv",
           "as_tensordict",
           "data_dir",
           "entry",
           "make",
           "register",
           "registered",
           "spec_to_space",
]

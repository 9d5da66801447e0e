"""Decision problems of ML systems, each a batched TorchRL env with a Gymnasium view.

``make(name, **kwargs)`` builds any registered env; ``registered()`` lists them.
"""
from heurist.envs.common import GymEnv, HeuristEnv, make, register, registered

__all__ = ["GymEnv", "HeuristEnv", "make", "register", "registered"]

# Gymnasium looks ids up in its own registry and never calls ours, so ``gymnasium.make(
# "heurist/<Name>-v0")`` right after ``import heurist.envs`` needs every env package imported now
# (their ``register`` adds the Gym ids); it costs a few hundredths of a second over torch's import.
registered()

"""Decision problems of ML systems, each a batched TorchRL env with a Gymnasium view.

``make(name, **kwargs)`` builds any registered env; ``registered()`` lists them.
"""
from heurist.envs.common import GymEnv, HeuristEnv, make, register, registered

__all__ = ["GymEnv", "HeuristEnv", "make", "register", "registered"]

"""The profiled vehicle routing problem (PVRP-P and PVRP-ZC, after CAMP): instances, generator, files."""
from heurist.envs.pvrp.generator import PREFERENCES, VARIANTS, ZONES, PVRPGenerator, generate
from heurist.envs.pvrp.instance import KEYS, PVRPInstances, Weights, validate_arrays
from heurist.envs.pvrp.npz_io import load_npz, save_npz

__all__ = [
           "KEYS",
           "PREFERENCES",
           "VARIANTS",
           "ZONES",
           "PVRPGenerator",
           "PVRPInstances",
           "Weights",
           "generate",
           "load_npz",
           "save_npz",
           "validate_arrays",
]
# the envs (registered as "PVRP" and "PVRPSequential" on import)
from heurist.envs.pvrp.env import PVRPEnv
from heurist.envs.pvrp.env_sequential import PVRPSequentialEnv

__all__ += ["PVRPEnv", "PVRPSequentialEnv"]

"""What the mallocMuZero benchmarks share: the zoo split by model and the checked speedup of a
mapping plan, for classical planners and the env's own greedy episodes alike."""
from __future__ import annotations

import numpy as np

from heurist.envs.malloc.env import MallocEnv
from heurist.envs.malloc.generator import pad_instances
from heurist.envs.malloc.instance import SLOW
from heurist.policies.malloc import check_plan, evaluate_plan

__all__ = ["CLASSICAL", "HELD_OUT", "TRAIN", "env_greedy_speedup", "mapping_speedup"]

#: Zoo models a trained network may see, and the ones reported as held out.
TRAIN = ("gpt2", "bert", "resnet50")
HELD_OUT = ("vit", "mobilenet_v2", "smollm2")
#: The classical mapping planners every table compares against.
CLASSICAL = ("msa", "greedy_size", "first_fit")


def mapping_speedup(inst, plan) -> float:
    """The cost-model speedup of a mapping ``plan`` [n], after ``check_plan`` accepted it."""
    if not check_plan(inst, plan, mode="mapping").valid:
        raise AssertionError(f"an invalid plan on {inst.name}")
    return float(evaluate_plan(inst, plan).speedup)


def env_greedy_speedup(inst, order: str, k: int) -> float:
    """The speedup of the Malloc env's greedy episode in decision ``order`` with ``k`` candidates."""
    env = MallocEnv(mode="mapping", order=order, k=k)
    env.greedy_episode(pad_instances([inst]))
    p = env.plans()[0, :inst.n]
    return mapping_speedup(inst, np.where(p >= 0, p, SLOW))

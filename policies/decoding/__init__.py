"""The decoding unit of the routing policies: greedy, sampling, beam search, multi-start (POMO)
and x8 dihedral augmentation, the best solution kept, every solution judged by the env's oracles
(:func:`rollout`); :func:`run_episode` is the shared episode loop (also what training runs)."""
from heurist.policies.decoding.beam import beam_search, replay
from heurist.policies.decoding.episode import Trajectory, greedy, run_episode, sampler
from heurist.policies.decoding.rollout import STRATEGIES, Decoded, judge, rollout

__all__ = ["STRATEGIES", "Decoded", "Trajectory", "beam_search", "greedy", "judge", "replay",
           "rollout", "run_episode", "sampler"]

"""Paging policies and their simulator: the offline optimum (Belady), classic online policies
(LRU, FIFO, LFU, Random, CLOCK, ARC, S3-FIFO), marking algorithms and the learning-augmented ones
that read next-arrival, discard or phase predictions (BlindOracle, Predictive Marker, LMarker,
LNonMarker, Discard, Mark&Predict, Robust), and the learned ones that ship with the package
(LearnedFTP over the learned predictor, Learned: the slot-attention policy, and Distilled /
DistilledTree: LearnedFTP distilled into numba scorers). All are registered
here, so ``list_policies()`` is the same whatever was imported before; they load torch and their
artifacts only when they run.

``simulate(trace, cache_size, policy, predictions=None, seed=0)`` returns a :class:`SimResult`;
``list_policies()`` names every registered policy; ``simulate_file(path, cache_size, policy)``
streams a trace file of any length in chunks.
"""

from heurist.policies.paging.arc import ARC
from heurist.policies.paging.base import (
    REGISTRY,
    PagingPolicy,
    SimResult,
    get_policy,
    list_policies,
    register_policy,
)
from heurist.policies.paging.blind_oracle import BlindOracle
from heurist.policies.paging.clock import CLOCK
from heurist.policies.paging.distilled import DistilledLinear, DistilledTree
from heurist.policies.paging.fifo import FIFO
from heurist.policies.paging.learned_ftp import LearnedFTP
from heurist.policies.paging.learned_policy import LearnedSlotPolicy
from heurist.policies.paging.lfu import LFU
from heurist.policies.paging.lru import LRU
from heurist.policies.paging.marking_policies import (
    Discard,
    DiscardRandomized,
    LMarker,
    LNonMarker,
    MarkAndPredict,
    Marker,
    PredictiveMarker,
    RandomizedMarker,
)
from heurist.policies.paging.opt import OPT
from heurist.policies.paging.random_evict import RandomEviction
from heurist.policies.paging.robust import Robust
from heurist.policies.paging.s3fifo import S3FIFO
from heurist.policies.paging.simulate import simulate
from heurist.policies.paging.stream import STREAMING, StreamResult, simulate_file

__all__ = [
    "ARC",
    "CLOCK",
    "FIFO",
    "LFU",
    "LRU",
    "OPT",
    "REGISTRY",
    "S3FIFO",
    "STREAMING",
    "BlindOracle",
    "Discard",
    "DiscardRandomized",
    "DistilledLinear",
    "DistilledTree",
    "LMarker",
    "LNonMarker",
    "LearnedFTP",
    "LearnedSlotPolicy",
    "MarkAndPredict",
    "Marker",
    "PagingPolicy",
    "PredictiveMarker",
    "RandomEviction",
    "RandomizedMarker",
    "Robust",
    "SimResult",
    "StreamResult",
    "get_policy",
    "list_policies",
    "register_policy",
    "simulate",
    "simulate_file",
]

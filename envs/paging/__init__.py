"""Paging: request sequences (loaders, generators) and the predictions learning-augmented paging
algorithms receive. The simulator and every baseline policy live in ``heurist.policies.paging``."""

from heurist.envs.paging import generators
from heurist.envs.paging.predictions import (
    NEVER,
    CombinedPredictor,
    DiscardBits,
    ExactNextArrival,
    LearnedPredictor,
    NoisyNextArrival,
    PhaseBits,
    Predictions,
    Predictor,
    belady_miss_flags,
    exact_discard_bits,
    exact_phase_bits,
    make_predictor,
    next_arrival_indices,
    next_arrivals,
    phase_ids,
)
from heurist.envs.paging.traces import (
    dense_trace,
    densify,
    load_trace,
    read_oracle_general,
    write_oracle_general,
)

__all__ = [
    "NEVER",
    "CombinedPredictor",
    "DiscardBits",
    "ExactNextArrival",
    "LearnedPredictor",
    "NoisyNextArrival",
    "PhaseBits",
    "Predictions",
    "Predictor",
    "belady_miss_flags",
    "dense_trace",
    "densify",
    "exact_discard_bits",
    "exact_phase_bits",
    "generators",
    "load_trace",
    "make_predictor",
    "next_arrival_indices",
    "next_arrivals",
    "phase_ids",
    "read_oracle_general",
    "write_oracle_general",
]

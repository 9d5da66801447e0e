"""The BrightKite train/test split used by training and evaluation.

The split is fixed and documented: the trace files of ``data_dir`` sorted by file name, the first
``n_train`` (default 70) for training, the rest (30) held out for testing.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

__all__ = ["DATA_HINT", "find_traces", "load_split", "split_traces", "total_requests"]

DATA_HINT = ("point the config at the BrightKite traces with env.data_dir=/path/to/paging/brightkite, "
             "or leave env.data_dir=null for the shipped copy")


def find_traces(data_dir) -> list[Path]:
    """The trace files (``*.txt``) of ``data_dir`` (``None``: the shipped BrightKite set, or
    ``$HEURIST_DATA/paging/brightkite``), sorted by name; a clear error when absent."""
    if data_dir is None:
        from heurist.envs.common.data import data_dir as shipped_data_dir

        data_dir = shipped_data_dir("paging/brightkite")
    path = Path(data_dir).expanduser()
    if not path.is_dir():
        raise FileNotFoundError(f"trace folder not found: {path}; {DATA_HINT}")
    files = sorted(p for p in path.iterdir() if p.is_file() and p.suffix == ".txt")
    if not files:
        raise FileNotFoundError(f"no *.txt trace files in {path}; {DATA_HINT}")
    return files


def split_traces(files: list[Path], *, n_train: int) -> tuple[list[Path], list[Path]]:
    """First ``n_train`` files (sorted by name) for training, the rest held out."""
    if not 0 < int(n_train) < len(files):
        raise ValueError(f"n_train must lie in [1, {len(files) - 1}] for {len(files)} files, got "
                         f"{n_train}")
    return files[:int(n_train)], files[int(n_train):]


def load_split(data_dir, *, n_train: int = 70) -> dict[str, list]:
    """Loads both halves: ``{"train": [trace [T]], "test": [...], "train_names": [...],
    "test_names": [...]}``."""
    from heurist.envs.paging.traces import load_trace

    train, test = split_traces(find_traces(data_dir), n_train=n_train)
    return {"train": [load_trace(p) for p in train], "test": [load_trace(p) for p in test],
            "train_names": [p.name for p in train], "test_names": [p.name for p in test]}


def total_requests(traces: list[np.ndarray]) -> int:
    """Number of requests over all traces."""
    return int(sum(len(t) for t in traces))

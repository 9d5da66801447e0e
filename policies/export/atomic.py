"""Atomic writes of plain-tensor files (a temporary file, then ``os.replace``).

Lives with the artifact format because exported policies and training checkpoints are written the
same way; ``heurist.agents.checkpoint`` builds on it.
"""
from __future__ import annotations

import os
from pathlib import Path

import torch

__all__ = ["load_tensors", "save_tensors"]


def save_tensors(path, state: dict) -> Path:
    """Writes ``state`` to ``path`` atomically: a crash leaves the previous file intact."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    torch.save(state, tmp)
    os.replace(tmp, path)
    return path


def load_tensors(path) -> dict:
    """Reads a file written by :func:`save_tensors` (plain tensors and builtins only, no pickle)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint not found: {path}")
    return torch.load(path, map_location="cpu", weights_only=True)

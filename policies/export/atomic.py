"""Atomic writes of plain-tensor files (a temporary file, then ``os.replace``).

Training checkpoints use it (``heurist.agents.checkpoint`` builds on it). They are ``torch.save``
files, read back with ``weights_only=True``. Exported policies are not: they are safetensors + JSON
folders (``artifact.py``), which are read without any unpickler.
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
    """Reads a file written by :func:`save_tensors` (plain tensors and builtins only, through
    torch's restricted ``weights_only`` unpickler)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint not found: {path}")
    return torch.load(path, map_location="cpu", weights_only=True)

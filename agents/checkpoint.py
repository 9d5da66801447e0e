"""Atomic, resumable checkpoints (write a temporary file, then ``os.replace``)."""
from __future__ import annotations

import os
from pathlib import Path

import torch

__all__ = ["load_checkpoint", "save_checkpoint"]


def save_checkpoint(path, state: dict) -> Path:
    """Writes ``state`` to ``path`` atomically: a crash leaves the previous checkpoint intact."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    torch.save(state, tmp)
    os.replace(tmp, path)
    return path


def load_checkpoint(path) -> dict:
    """Reads a checkpoint written by :func:`save_checkpoint` (plain tensors and builtins only)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint not found: {path}")
    return torch.load(path, map_location="cpu", weights_only=True)

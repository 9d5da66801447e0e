"""On-disk cache of extracted zoo instances (npz), keyed by model, shape, mode and code version.

The folder is ``$HEURIST_CACHE/malloc`` when ``HEURIST_CACHE`` is set, else
``~/.cache/heurist/malloc``. Bump ``EXTRACT_VERSION`` whenever the extraction rules change, so stale
files are never read.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

from heurist.envs.malloc.instance import TPU_V4I_CMEM_BYTES, MallocInstance, MemoryConfig

__all__ = [
    "EXTRACT_VERSION",
    "cache_dir",
    "cache_key",
    "load_instance",
    "load_or_extract",
    "save_instance",
]

EXTRACT_VERSION = 1
_FIELDS = ("size", "start", "end", "op_flops", "use_buffer", "use_op", "use_bytes")


def cache_dir() -> Path:
    """The cache folder (created on demand)."""
    root = os.environ.get("HEURIST_CACHE")
    base = Path(root) if root else Path.home() / ".cache" / "heurist"
    return base / "malloc"


def cache_key(model: str, *, batch: int, seq: int, mode: str, n_layers: int | None,
              inputs: str) -> str:
    """File stem of one extracted instance."""
    layers = "default" if n_layers is None else f"L{int(n_layers)}"
    return f"{model}-b{batch}-s{seq}-{mode}-{layers}-{inputs}-v{EXTRACT_VERSION}"


def save_instance(inst: MallocInstance, path: Path) -> None:
    """Writes the program part of ``inst`` (not its memory) to ``path`` (npz)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    # One temp file per process: two processes caching the same key never write into one file.
    tmp = path.with_name(f".{path.stem}.tmp-{os.getpid()}.npz")
    arrays: dict[str, Any] = {f: np.asarray(getattr(inst, f)) for f in _FIELDS}
    np.savez_compressed(tmp, name=np.asarray(inst.name), **arrays)
    os.replace(tmp, path)  # atomic: a crash never leaves a half-written cache file


def load_instance(path: Path, *, memory: MemoryConfig | None = None) -> MallocInstance:
    """Reads an instance written by ``save_instance``; ``ValueError`` names a bad file."""
    memory = MemoryConfig(capacity=TPU_V4I_CMEM_BYTES) if memory is None else memory
    try:
        with np.load(path) as z:
            data = {f: z[f] for f in _FIELDS}
            name = str(z["name"])
    except (OSError, KeyError, ValueError) as exc:
        raise ValueError(f"{path}: not a heurist malloc cache file ({exc})") from exc
    return MallocInstance(ids=np.arange(len(data["size"]), dtype=np.int64), memory=memory,
                          name=name, **data)


def load_or_extract(model: str, *, batch: int = 1, seq: int = 128, mode: str = "inference",
                    n_layers: int | None = None, inputs: str = "first_use",
                    memory: MemoryConfig | None = None, refresh: bool = False) -> MallocInstance:
    """The zoo instance, from the cache or extracted (and then cached)."""
    from heurist.envs.malloc.extract import extract
    from heurist.envs.malloc.zoo import build

    key = cache_key(model, batch=batch, seq=seq, mode=mode, n_layers=n_layers, inputs=inputs)
    path = cache_dir() / f"{key}.npz"
    if path.exists() and not refresh:
        return load_instance(path, memory=memory)
    net, args = build(model, batch=batch, seq=seq, mode=mode, n_layers=n_layers)
    inst = extract(net, args, mode=mode, inputs=inputs, memory=memory, name=key)
    save_instance(inst, path)
    return inst

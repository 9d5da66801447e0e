"""PVRP batches as ``.npz`` files: keys ``depot`` [S, 2], ``locs`` [S, N, 2], ``demand`` [S, N],
``capacity`` [S, M], ``speed`` [S, M], ``preference`` [S, M, N] and, for PVRP-ZC, ``allowed`` [S, M, N]
(bool; its presence marks the ZC variant)."""
from __future__ import annotations

import zipfile
from pathlib import Path

import numpy as np

from heurist.envs.pvrp.instance import KEYS, PVRPInstances

__all__ = ["load_npz", "save_npz"]


def save_npz(path: str | Path, inst: PVRPInstances) -> Path:
    """Writes ``inst`` to ``path`` (compressed); returns the path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "wb") as fh:
        np.savez_compressed(fh, **inst.arrays())
    return path


def load_npz(path: str | Path) -> PVRPInstances:
    """Reads and validates a batch; errors name the file and the key. A key outside
    :data:`~heurist.envs.pvrp.instance.KEYS` is an error too: a misspelt ``allowed`` would otherwise
    turn a PVRP-ZC batch silently into PVRP-P."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such file")
    try:
        with np.load(path, allow_pickle=False) as data:
            unknown = sorted(set(data.files) - set(KEYS))
            arrays = {k: data[k] for k in KEYS if k in data.files}
    except (zipfile.BadZipFile, OSError, ValueError) as exc:
        raise ValueError(f"{path}: not a readable .npz file ({exc})") from exc
    if unknown:
        raise ValueError(f"{path}: key '{unknown[0]}': unknown key; expected keys {', '.join(KEYS)}")
    return PVRPInstances(**{k: arrays.get(k) for k in KEYS}, source=str(path))

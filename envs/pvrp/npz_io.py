"""PVRP batches as ``.npz`` files: keys ``depot`` [S, 2], ``locs`` [S, N, 2], ``demand`` [S, N],
``capacity`` [S, M], ``speed`` [S, M], ``preference`` [S, M, N] and, for PVRP-ZC, ``allowed`` [S, M, N]
(bool; its presence marks the ZC variant)."""
from __future__ import annotations

import zipfile
import zlib
from pathlib import Path

import numpy as np

from heurist.envs.pvrp.instance import KEYS, PVRPInstances

__all__ = ["load_npz", "save_npz"]

#: the first bytes of a zip archive (what ``numpy.savez`` writes; an empty archive starts with
#: the end-of-directory record) and of a single ``.npy`` array
_ZIP_MAGIC = (b"PK\x03\x04", b"PK\x05\x06")
_NPY_MAGIC = b"\x93NUMPY"


def save_npz(path: str | Path, inst: PVRPInstances) -> Path:
    """Writes ``inst`` to ``path`` (compressed); returns the path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "wb") as fh:
        np.savez_compressed(fh, **inst.arrays())
    return path


def _brief(exc: BaseException) -> str:
    """An exception's message on one line (numpy's header errors span several)."""
    text = " ".join(str(exc).split()) or type(exc).__name__
    return text if len(text) <= 160 else text[:157] + "..."


def _check_container(path: Path) -> None:
    """Says what ``path`` is when it is not a zip archive of arrays (ValueError, one line)."""
    if path.is_dir():
        raise ValueError(f"{path}: is a directory, not a .npz file")
    if not path.exists():
        raise FileNotFoundError(f"{path}: no such file")
    with open(path, "rb") as fh:
        head = fh.read(6)
    if not head:
        raise ValueError(f"{path}: the file is empty (0 bytes), not a .npz archive")
    if head.startswith(_NPY_MAGIC):
        raise ValueError(f"{path}: is a single .npy array, not a .npz archive of the keys "
                         f"{', '.join(KEYS)} (write it with numpy.savez)")
    if not head.startswith(_ZIP_MAGIC):
        raise ValueError(f"{path}: not a .npz archive (no zip signature); write it with "
                         "numpy.savez or heurist.envs.pvrp.save_npz")


def load_npz(path: str | Path) -> PVRPInstances:
    """Reads and validates a batch; errors (``ValueError``, ``FileNotFoundError``) are one line
    naming the file and, where one is at fault, the key. A key outside
    :data:`~heurist.envs.pvrp.instance.KEYS` is an error too: a misspelt ``allowed`` would otherwise
    turn a PVRP-ZC batch silently into PVRP-P."""
    path = Path(path)
    _check_container(path)
    arrays = {}
    try:
        with np.load(path, allow_pickle=False) as data:
            names = list(data.files)
            if not names:
                raise ValueError(f"{path}: the archive holds no arrays; expected the keys "
                                 f"{', '.join(KEYS)}")
            unknown = sorted(set(names) - set(KEYS))
            if unknown:
                raise ValueError(f"{path}: key '{unknown[0]}': unknown key; expected keys "
                                 f"{', '.join(KEYS)}")
            for key in names:
                try:
                    arrays[key] = data[key]
                except ValueError as exc:
                    if "allow_pickle" in str(exc):
                        raise ValueError(f"{path}: key '{key}': holds Python objects, not numbers "
                                         "(object arrays are refused: loading them runs pickle)") \
                            from exc
                    raise ValueError(f"{path}: key '{key}': not a readable array ({_brief(exc)})") from exc
                # zipfile raises NotImplementedError for an unsupported compression and
                # RuntimeError for an "encrypted" member: flipped flag bits in a damaged file
                except (zipfile.BadZipFile, zlib.error, EOFError, OSError, NotImplementedError,
                        RuntimeError) as exc:
                    raise ValueError(f"{path}: key '{key}': damaged archive member ({_brief(exc)})") from exc
    except (zipfile.BadZipFile, EOFError, OSError, NotImplementedError, RuntimeError) as exc:
        raise ValueError(f"{path}: damaged .npz archive ({_brief(exc)})") from exc
    return PVRPInstances(**{k: arrays.get(k) for k in KEYS}, source=str(path))

"""The artifact's ``manifest.json``: what the weights are, and the checks made before using them.

A policy artifact is a folder with two files, ``weights.safetensors`` and ``manifest.json``::

    {"format": {"name": "heurist-policy", "version": 1},
     "env": {"name": "Paging", "features": {"slot_features": [...], "request_features": [...]}},
     "network": {"class": "SlotAttentionPolicy", "config": {...}, "parameters": 12345},
     "weights": {"file": "weights.safetensors", "sha256": "...", "bytes": 50000, "tensors": 20},
     "training": {...}, "metrics": {...}, "provenance": {...}}

Both are read without unpickling anything: JSON and safetensors only.
"""
from __future__ import annotations

import hashlib
import json
import math
import os
import shutil
from pathlib import Path

__all__ = ["FORMAT_NAME", "FORMAT_VERSION", "MANIFEST", "WEIGHTS", "plain", "read_manifest",
           "read_verified", "sha256_hex", "write_folder"]

FORMAT_NAME = "heurist-policy"
FORMAT_VERSION = 1
MANIFEST = "manifest.json"
WEIGHTS = "weights.safetensors"
_SECTIONS = ("format", "env", "network", "weights", "training", "metrics", "provenance")


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def plain(value):
    """``value`` as strict-JSON data: numpy/torch scalars become numbers, paths and other objects
    strings, tuples lists, non-finite floats ``None``."""
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    if isinstance(value, bool) or value is None or isinstance(value, (int, str)):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if hasattr(value, "item") and getattr(value, "ndim", 1) == 0:  # numpy / torch scalar
        return plain(value.item())
    return str(value)


def read_manifest(folder) -> dict:
    """The manifest of artifact ``folder``, its format name and version checked; ``ValueError``
    (naming the folder) for anything else, ``FileNotFoundError`` when the folder or file is
    missing. The weights' checksum is checked where they are read (``load_artifact``)."""
    folder = Path(folder)
    if not folder.is_dir():
        hint = (" (a policy artifact is a folder: export the run's checkpoint.pt with heurist "
                "export)") if folder.is_file() else ""
        raise FileNotFoundError(f"policy artifact folder not found: {folder}{hint}")
    path = folder / MANIFEST
    if not path.is_file():
        raise FileNotFoundError(f"{folder}: no {MANIFEST}; not a heurist policy artifact")
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ValueError(f"{path}: not valid JSON ({exc})") from None
    fmt = manifest.get("format") if isinstance(manifest, dict) else None
    if not isinstance(fmt, dict) or fmt.get("name") != FORMAT_NAME:
        raise ValueError(f"{path}: not a {FORMAT_NAME} manifest (format {fmt!r})")
    if fmt.get("version") != FORMAT_VERSION:
        raise ValueError(f"{path}: format version {fmt.get('version')!r}, this heurist reads "
                         f"version {FORMAT_VERSION}; re-export the policy with this heurist")
    missing = [s for s in _SECTIONS if not isinstance(manifest.get(s), dict)]
    if missing:
        raise ValueError(f"{path}: manifest lacks section(s) {missing}")
    return manifest


def read_verified(folder) -> tuple[dict, bytes]:
    """``(manifest, weights file bytes)`` of artifact ``folder``: the manifest checked by
    :func:`read_manifest` and the weights' sha256 equal to the manifest's (``ValueError`` naming
    the file otherwise; ``FileNotFoundError`` when the weights are missing)."""
    folder = Path(folder)
    manifest = read_manifest(folder)
    weights = folder / WEIGHTS
    if not weights.is_file():
        raise FileNotFoundError(f"{folder}: no {WEIGHTS}")
    blob = weights.read_bytes()
    want = manifest["weights"].get("sha256")
    if sha256_hex(blob) != want:
        raise ValueError(f"{weights}: sha256 {sha256_hex(blob)[:12]}... does not match the "
                         f"manifest's {str(want)[:12]}...: the weights were changed after export")
    return manifest, blob


def write_folder(out_dir, blob: bytes, manifest: dict) -> Path:
    """Writes artifact ``out_dir`` (the weights ``blob`` and ``manifest``) atomically: both go to
    a temporary sibling first, and an existing folder is replaced only once the new one is
    complete, so a reader sees the old artifact or the new one, never a mix."""
    out_dir = Path(out_dir)
    tmp = out_dir.with_name(f".{out_dir.name}.tmp-{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    (tmp / WEIGHTS).write_bytes(blob)
    (tmp / MANIFEST).write_text(json.dumps(manifest, indent=2, allow_nan=False) + "\n",
                                encoding="utf-8")
    if out_dir.exists():
        old = out_dir.with_name(f".{out_dir.name}.old-{os.getpid()}")
        os.replace(out_dir, old)
        os.replace(tmp, out_dir)
        shutil.rmtree(old)
    else:
        os.replace(tmp, out_dir)
    return out_dir

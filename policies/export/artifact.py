"""Writing and loading policy artifacts (``weights.safetensors`` + ``manifest.json``).

Loading checks, in order, and refuses with one ``ValueError`` naming the folder: the format name
and version, the weights' sha256 against the manifest (a tampered or truncated file), the network
name against the registry (no class is imported from the manifest), and the feature layout
against the installed env's. The weights bytes are read once, hashed and parsed from the same
bytes, so the checked file is the loaded one.
"""
from __future__ import annotations

from pathlib import Path

import torch
from safetensors import SafetensorError
from safetensors.torch import load as load_safetensors
from safetensors.torch import save as save_safetensors
from torch import nn

from heurist.policies.export.manifest import (
    FORMAT_NAME,
    FORMAT_VERSION,
    WEIGHTS,
    plain,
    read_verified,
    sha256_hex,
    write_folder,
)
from heurist.policies.export.networks import network_entry, network_name

__all__ = ["export_artifact", "load_network"]


def export_artifact(net: nn.Module, out_dir, *, training: dict | None = None,
                    metrics: dict | None = None, provenance: dict | None = None,
                    replace: bool = False) -> Path:
    """Writes ``net`` (a registered network) as an artifact folder ``out_dir``; the folder
    appears whole or not at all. An existing ``out_dir`` is a ``ValueError`` unless ``replace``."""
    out_dir = Path(out_dir)
    if out_dir.exists() and not (replace and out_dir.is_dir()):
        raise ValueError(f"{out_dir}: already exists; pass a new folder")
    name = network_name(net)
    entry = network_entry(name)
    state = {k: v.detach().cpu().contiguous().clone() for k, v in net.state_dict().items()}
    blob = save_safetensors(state)
    manifest = {
        "format": {"name": FORMAT_NAME, "version": FORMAT_VERSION},
        "env": {"name": entry.env, "features": entry.features()},
        "network": {"class": name, "config": plain(dict(net.config)),  # type: ignore[arg-type]
                    "parameters": int(sum(p.numel() for p in net.parameters()))},
        "weights": {"file": WEIGHTS, "sha256": sha256_hex(blob), "bytes": len(blob),
                    "tensors": len(state)},
        "training": plain(training or {}), "metrics": plain(metrics or {}),
        "provenance": plain({"torch": torch.__version__, **(provenance or {})}),
    }
    return write_folder(out_dir, blob, manifest)


def load_network(folder) -> tuple[nn.Module, dict]:
    """``(network in eval mode, manifest)`` of artifact ``folder``, every check passed."""
    folder = Path(folder)
    manifest, blob = read_verified(folder)
    name = manifest["network"].get("class")
    try:
        entry = network_entry(str(name))
    except ValueError as exc:
        raise ValueError(f"{folder}: {exc}") from None
    trained, now = manifest["env"].get("features"), entry.features()
    if manifest["env"].get("name") != entry.env or trained != now:
        raise ValueError(f"{folder}: trained on {manifest['env'].get('name')} features {trained}, "
                         f"the installed {entry.env} env gives {now}; retrain or use the heurist "
                         f"version it was trained with")
    try:
        net = entry.build(**manifest["network"].get("config", {}))
        net.load_state_dict(load_safetensors(blob))
    except (TypeError, RuntimeError, ValueError, SafetensorError) as exc:
        raise ValueError(f"{folder}: weights do not fit network {name} "
                         f"({str(exc).splitlines()[0]})") from None
    return net.eval(), manifest

"""The exported eviction policy: an artifact folder (``weights.safetensors`` + ``manifest.json``,
see :mod:`heurist.policies.export.manifest`) and the greedy policy it loads as."""
from __future__ import annotations

from pathlib import Path

import torch
from tensordict import TensorDictBase
from torch import nn

from heurist.policies.export.artifact import export_artifact, load_network

__all__ = ["ExportedPolicy", "export_policy", "load_policy"]


def export_policy(net: nn.Module, out_dir, *, training: dict | None = None,
                  metrics: dict | None = None, provenance: dict | None = None,
                  replace: bool = False) -> Path:
    """Writes ``net`` (a :class:`~heurist.policies.nets.SlotAttentionPolicy`) as the artifact
    folder ``out_dir``; ``training`` (its config), ``metrics`` and ``provenance`` (the data it
    saw) are plain values recorded in the manifest."""
    return export_artifact(net, out_dir, training=training, metrics=metrics,
                           provenance=provenance, replace=replace)


class ExportedPolicy:
    """Greedy eviction from the env observation: ``policy(td) -> action int64 [B]``;
    ``policy.logits(td)`` gives the masked scores [B, k]; ``policy.manifest`` the artifact's
    manifest."""

    def __init__(self, net: nn.Module, manifest: dict) -> None:
        self.net = net.eval()
        self.manifest = manifest

    @torch.no_grad()
    def logits(self, td: TensorDictBase) -> torch.Tensor:
        return self.net(td["slot_features"], td["request_features"], td["action_mask"])

    def __call__(self, td: TensorDictBase) -> torch.Tensor:
        return self.logits(td).argmax(-1)


def load_policy(folder) -> ExportedPolicy:
    """Loads the artifact folder written by :func:`export_policy` (checksum, format version,
    network and feature layout checked; ``ValueError`` names the folder)."""
    net, manifest = load_network(folder)
    return ExportedPolicy(net, manifest)

"""The exported eviction policy: one ``.pt`` file holding the network's weights, its
constructor config and the observation layout it was trained on (feature names), readable with
``torch.load(weights_only=True)``; no pickled code."""
from __future__ import annotations

from pathlib import Path

import torch
from tensordict import TensorDictBase
from torch import nn

__all__ = ["FORMAT", "ExportedPolicy", "export_policy", "load_policy"]

FORMAT = "heurist/paging-slot-attention/v1"


def export_policy(net: nn.Module, path, *, metadata: dict | None = None) -> Path:
    """Writes ``net`` (a :class:`~heurist.policies.nets.SlotAttentionPolicy`) to ``path``
    atomically; ``metadata`` (plain values) is stored alongside, e.g. training results."""
    from heurist.policies.export.atomic import save_tensors as save_checkpoint
    from heurist.envs.paging.env import REQUEST_FEATURES, SLOT_FEATURES

    blob = {"format": FORMAT, "config": dict(net.config),
            "state_dict": {k: v.detach().cpu().clone() for k, v in net.state_dict().items()},
            "slot_features": list(SLOT_FEATURES), "request_features": list(REQUEST_FEATURES),
            "metadata": dict(metadata or {})}
    return save_checkpoint(path, blob)


class ExportedPolicy:
    """Greedy eviction from the env observation: ``policy(td) -> action int64 [B]``;
    ``policy.logits(td)`` gives the masked scores [B, k]."""

    def __init__(self, net: nn.Module, metadata: dict) -> None:
        self.net = net.eval()
        self.metadata = metadata

    @torch.no_grad()
    def logits(self, td: TensorDictBase) -> torch.Tensor:
        return self.net(td["slot_features"], td["request_features"], td["action_mask"])

    def __call__(self, td: TensorDictBase) -> torch.Tensor:
        return self.logits(td).argmax(-1)


def load_policy(path) -> ExportedPolicy:
    """Loads a file written by :func:`export_policy`; ``ValueError`` names the file when it is
    not one, or when its observation layout differs from the installed env's."""
    from heurist.policies.nets import SlotAttentionPolicy
    from heurist.envs.paging.env import REQUEST_FEATURES, SLOT_FEATURES

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"exported policy not found: {path}")
    try:
        blob = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - any unreadable file is "not a policy"
        raise ValueError(f"{path}: not a heurist exported policy ({exc})") from None
    if not isinstance(blob, dict) or blob.get("format") != FORMAT:
        got = blob.get("format") if isinstance(blob, dict) else type(blob).__name__
        raise ValueError(f"{path}: format {got!r}, expected {FORMAT!r}")
    if (list(blob["slot_features"]) != list(SLOT_FEATURES)
            or list(blob["request_features"]) != list(REQUEST_FEATURES)):
        raise ValueError(f"{path}: trained on observation features {blob['slot_features']} / "
                         f"{blob['request_features']}, the env now gives {list(SLOT_FEATURES)} / "
                         f"{list(REQUEST_FEATURES)}")
    net = SlotAttentionPolicy(**blob["config"])
    net.load_state_dict(blob["state_dict"])
    return ExportedPolicy(net, dict(blob.get("metadata", {})))

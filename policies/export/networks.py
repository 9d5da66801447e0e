"""The networks an artifact may name, by name: loading never imports a class the manifest names,
it looks the name up here. Each entry also says which env the network reads and that env's
feature layout today, so an artifact trained on another layout is refused."""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from torch import nn

__all__ = ["NETWORKS", "NetworkEntry", "network_entry", "network_name"]


@dataclass(frozen=True)
class NetworkEntry:
    """``build(**config)`` makes the network; ``features()`` is the installed env's layout
    (feature group -> feature names) the network's inputs follow."""

    env: str
    build: Callable[..., nn.Module]
    features: Callable[[], dict[str, list[str]]]


def _slot_attention(**config) -> nn.Module:
    from heurist.policies.nets import SlotAttentionPolicy

    return SlotAttentionPolicy(**config)


def _paging_features() -> dict[str, list[str]]:
    from heurist.envs.paging.env import REQUEST_FEATURES, SLOT_FEATURES

    return {"slot_features": list(SLOT_FEATURES), "request_features": list(REQUEST_FEATURES)}


def _paging_predictor(**config) -> nn.Module:
    from heurist.policies.paging.learned_predictor import PagingPredictorNet

    return PagingPredictorNet(**config)


def _paging_predictor_features() -> dict[str, list[str]]:
    from heurist.policies.paging.learned_predictor import feature_layout

    return feature_layout()


def _routing(cls_name: str) -> Callable[..., nn.Module]:
    def build(**config) -> nn.Module:
        from heurist.policies.nets import routing

        return getattr(routing, cls_name)(**config)

    return build


def _routing_features() -> dict[str, list[str]]:
    from heurist.policies.nets.routing.features import FEATURES

    return {k: list(v) for k, v in FEATURES.items()}


def _kv_scorer(**config) -> nn.Module:
    from heurist.policies.kv.learned import KVScorer

    return KVScorer(**config)


def _kv_features() -> dict[str, list[str]]:
    from heurist.policies.kv.learned import FEATURES

    return {"token_features": list(FEATURES)}


def _muzero(**config) -> nn.Module:
    from heurist.policies.nets.muzero import MuZeroNet

    return MuZeroNet(**config)


def _malloc_features() -> dict[str, list[str]]:
    from heurist.envs.malloc.state import N_BUFFER_FEATURES, N_CANDIDATE_FEATURES, N_PROGRESS

    return {"buffers": [f"buffer_{i}" for i in range(N_BUFFER_FEATURES)],
            "candidates": [f"candidate_{i}" for i in range(N_CANDIDATE_FEATURES)],
            "progress": [f"progress_{i}" for i in range(N_PROGRESS)]}


NETWORKS: dict[str, NetworkEntry] = {
    "SlotAttentionPolicy": NetworkEntry("Paging", _slot_attention, _paging_features),
    # the learned next-arrival / discard / phase predictor (issue 11)
    "PagingPredictorNet": NetworkEntry("Paging", _paging_predictor, _paging_predictor_features),
    # the learned KV-cache eviction scorer (one entry's features per cached token)
    "KVScorer": NetworkEntry("KVCache", _kv_scorer, _kv_features),
    # the routing models: CAMP acts in the parallel env, the single-agent ones in the sequential
    "CAMP": NetworkEntry("PVRP", _routing("CAMP"), _routing_features),
    "AttentionModel": NetworkEntry("PVRPSequential", _routing("AttentionModel"), _routing_features),
    "POMO": NetworkEntry("PVRPSequential", _routing("POMO"), _routing_features),
    "SymNCO": NetworkEntry("PVRPSequential", _routing("SymNCO"), _routing_features),
    "PointerNetwork": NetworkEntry("PVRPSequential", _routing("PointerNetwork"),
                                   _routing_features),
    # mallocMuZero's representation/dynamics/prediction networks (issue 10)
    "MuZeroNet": NetworkEntry("Malloc", _muzero, _malloc_features),
}


def network_entry(name: str) -> NetworkEntry:
    """The registered network ``name``; ``ValueError`` lists the known ones."""
    if name not in NETWORKS:
        raise ValueError(f"unknown network {name!r}: this heurist knows {sorted(NETWORKS)}")
    return NETWORKS[name]


def network_name(net: nn.Module) -> str:
    """The registry name of ``net``'s class (``ValueError`` when it is not registered)."""
    name = type(net).__name__
    network_entry(name)
    return name

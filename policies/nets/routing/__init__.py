"""Routing networks in plain torch (no torch_geometric): Ptr-Net, AM, POMO, SymNCO on
``PVRPSequential`` and CAMP on the parallel ``PVRP`` env. All follow :class:`RoutingPolicy`
(``init`` once per episode, ``step`` per decision, masked logits); the decoding unit
:mod:`heurist.policies.decoding` runs them."""
from heurist.policies.nets.routing.attention_model import AttentionModel
from heurist.policies.nets.routing.base import RoutingPolicy
from heurist.policies.nets.routing.camp import CAMP
from heurist.policies.nets.routing.camp_parts import (
                                                      MultiPointerDecoder,
                                                      ProfiledEmbedding,
                                                      ProfileEncoder,
                                                      VehicleCommunication,
                                                      conflict_priority,
)
from heurist.policies.nets.routing.decoder import PointerDecoder, masked_logits
from heurist.policies.nets.routing.embeddings import (
                                                      ContextEmbedding,
                                                      DynamicEmbedding,
                                                      InitEmbedding,
)
from heurist.policies.nets.routing.encoder import MHAEncoder, MHALayer, Norm
from heurist.policies.nets.routing.pomo import POMO, shared_baseline_loss, start_actions
from heurist.policies.nets.routing.ptrnet import PointerNetwork
from heurist.policies.nets.routing.symmetry import N_DIHEDRAL, dihedral, dihedral8
from heurist.policies.nets.routing.symnco import SymNCO, invariance_loss

__all__ = ["CAMP", "N_DIHEDRAL", "POMO", "AttentionModel", "ContextEmbedding", "DynamicEmbedding",
           "InitEmbedding", "MHAEncoder", "MHALayer", "MultiPointerDecoder", "Norm",
           "PointerDecoder", "PointerNetwork", "ProfileEncoder", "ProfiledEmbedding",
           "RoutingPolicy", "SymNCO", "VehicleCommunication", "conflict_priority", "dihedral",
           "dihedral8", "invariance_loss", "masked_logits", "shared_baseline_loss",
           "start_actions"]

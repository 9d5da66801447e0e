"""Networks of heurist's learned policies (no training code here)."""
from heurist.policies.nets.slot_attention import SlotAttentionPolicy

__all__ = ["SlotAttentionPolicy"]

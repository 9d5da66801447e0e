"""Exported learned policies: a self-contained weights + config file and its loader."""
from heurist.policies.export.slot_policy import FORMAT, ExportedPolicy, export_policy, load_policy

__all__ = ["FORMAT", "ExportedPolicy", "export_policy", "load_policy"]

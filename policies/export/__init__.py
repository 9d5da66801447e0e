"""Exported learned policies: the pickle-free artifact format (a folder holding
``weights.safetensors`` and ``manifest.json``), its writer and its checked loader."""
from heurist.policies.export.artifact import export_artifact, load_network
from heurist.policies.export.manifest import FORMAT_NAME, FORMAT_VERSION, read_manifest
from heurist.policies.export.networks import NETWORKS
from heurist.policies.export.provenance import data_provenance
from heurist.policies.export.slot_policy import ExportedPolicy, export_policy, load_policy

__all__ = ["FORMAT_NAME", "FORMAT_VERSION", "NETWORKS", "ExportedPolicy", "data_provenance", "export_artifact",
           "export_policy", "load_network", "load_policy", "read_manifest"]

"""Atomic, resumable training checkpoints (written like exported policies: temporary file, then
``os.replace``; read back without unpickling code)."""
from heurist.policies.export.atomic import load_tensors as load_checkpoint
from heurist.policies.export.atomic import save_tensors as save_checkpoint

__all__ = ["load_checkpoint", "save_checkpoint"]

"""Hydra configs of heurist, shipped as package data (``pkg://heurist.configs``).

``train.yaml`` composes the groups ``env``, ``agent``, ``logger``, ``trainer`` and (optional)
``experiment``; ``evaluate.yaml`` drives ``scripts/evaluate.py``.
"""
__all__: list[str] = []

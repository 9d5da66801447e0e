"""The real text the KV tests run SmolLM2 on: Python's own ``os.py`` (always present, fixed per
Python version)."""
import os

import torch


def os_py_ids(tok) -> torch.Tensor:
    """``os.py`` tokenised by ``tok`` without special tokens: int64 ``[T]``."""
    with open(os.__file__, encoding="utf-8") as f:
        return torch.tensor(tok(f.read(), add_special_tokens=False).input_ids)

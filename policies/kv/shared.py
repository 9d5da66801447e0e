"""One SmolLM2 per process: the CLI, the benchmark and the tests share it (loading costs seconds,
and the tests must load it once per session)."""
from __future__ import annotations

import functools

__all__ = ["shared_model"]


@functools.lru_cache(maxsize=1)
def shared_model():
    """``(model, tokenizer)`` from :func:`heurist.envs.kv.model.load_model`, loaded once, eval mode."""
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()  # no bars in logs and test output
    from heurist.envs.kv.model import load_model

    model, tok = load_model()
    return model.eval(), tok

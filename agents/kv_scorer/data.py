"""Training data for the learned KV scorer: SmolLM2's attention over real text, with a fixed
train/test split BY DOCUMENT.

Kinds (all offline): ``chat`` -- ShareGPT conversations through SmolLM2's chat template (document
id: the record's ``id``); ``code`` -- the Python standard library's top-level ``.py`` files (id: the
file name); ``prose`` -- Python's ``pydoc_data`` topic documentation, one topic per document, and
``LICENSE.txt`` (id: the topic name / ``LICENSE.txt``).

Split: a document is TEST when ``sha1("kind:id") % 5 == 0`` (about one in five), whatever its
length or the order documents are read in, so the split never changes; :func:`load_documents`
returns a kind's first ``count`` documents of a split that hold at least ``need`` tokens.

A training example (:func:`record_window`) is one window of ``T + C`` tokens run once through the
full cache with eager attention: the first ``T`` queries are exactly the prefill's observation
(causal masking), the last ``C`` queries' attention to the context is the future the oracle reads.
"""
from __future__ import annotations

import hashlib
import sysconfig
from collections.abc import Iterator
from pathlib import Path

import torch
from transformers import DynamicCache

from heurist.policies.kv.learned import prefill_features
from heurist.policies.kv.observation import LayerObservation, group_mean

__all__ = ["EXTRAS", "KINDS", "TEST_MODULUS", "documents", "is_test", "load_documents",
           "record_window"]

KINDS = ("chat", "code", "prose")
TEST_MODULUS = 5


def is_test(kind: str, doc_id: str) -> bool:
    """Whether document ``doc_id`` of ``kind`` is held out (fixed hash split, ~1 in 5)."""
    h = int(hashlib.sha1(f"{kind}:{doc_id}".encode()).hexdigest()[:8], 16)
    return h % TEST_MODULUS == 0


def _chat_docs(tok) -> Iterator[tuple[str, list[int]]]:
    from heurist.envs.kv.texts import _ROLES, read_conversations, sharegpt_path

    path = sharegpt_path()
    with open(path, encoding="utf-8") as f:
        for rec in read_conversations(f, name=str(path)):
            turns = rec.get("conversations") if isinstance(rec, dict) else None
            if not turns or not rec.get("id"):
                continue
            msgs = [{"role": _ROLES.get(t.get("from", ""), ""), "content": t.get("value", "")}
                    for t in turns]
            if any(not m["role"] or not isinstance(m["content"], str) or not m["content"]
                   for m in msgs):
                continue
            out = tok.apply_chat_template(msgs, tokenize=True)
            if hasattr(out, "keys") and "input_ids" in out:
                out = out["input_ids"]
            yield str(rec["id"]), list(out)


def _code_docs(tok) -> Iterator[tuple[str, list[int]]]:
    from heurist.envs.kv.texts import stdlib_files

    for p in stdlib_files():
        yield p.name, tok(p.read_text(encoding="utf-8", errors="replace"))["input_ids"]


def _prose_docs(tok) -> Iterator[tuple[str, list[int]]]:
    from pydoc_data.topics import topics

    lic = Path(sysconfig.get_paths()["stdlib"]) / "LICENSE.txt"
    texts = [(k, topics[k]) for k in sorted(topics)]
    if lic.is_file():
        texts.append(("LICENSE.txt", lic.read_text(encoding="utf-8")))
    for name, text in texts:
        yield name, tok(text, add_special_tokens=False)["input_ids"]


def documents(tok, kind: str) -> Iterator[tuple[str, list[int]]]:
    """Every document of ``kind`` as ``(id, token ids)``, in a fixed order."""
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {KINDS}, got {kind!r}")
    return {"chat": _chat_docs, "code": _code_docs, "prose": _prose_docs}[kind](tok)


def load_documents(tok, kind: str, split: str, *, count: int, need: int
                   ) -> list[tuple[str, torch.Tensor]]:
    """The first ``count`` documents of ``kind`` in ``split`` (``train``/``test``) holding at
    least ``need`` tokens, as ``(id, ids [N])``; fewer if the kind has fewer."""
    if split not in ("train", "test"):
        raise ValueError(f"split must be 'train' or 'test', got {split!r}")
    out = []
    for doc_id, ids in documents(tok, kind):
        if len(ids) >= need and is_test(kind, doc_id) == (split == "test"):
            out.append((doc_id, torch.tensor(ids, dtype=torch.long)))
            if len(out) == count:
                break
    return out


#: Extra per-entry quantities :func:`record_window` returns with ``extras=True`` (last dim of its
#: third output): the value's L2 norm, the continuation's MAX attention over its queries, and the
#: continuation's attention weighted by how far the value lies from each query's output,
#: ``sum_q a_qj ||v_j - o_q||`` -- to first order what the output loses when entry ``j`` is dropped.
EXTRAS = ("value_norm", "future_max", "future_value")


@torch.inference_mode()
def record_window(model, ids: torch.Tensor, *, context: int, continuation: int,
                  extras: bool = False):
    """One example from ``ids [>= T + C]``: ``(features [L, Hkv, T, F], future [L, Hkv, T])``,
    the future being the GQA-mean attention mass the ``C`` continuation queries pay each entry;
    with ``extras`` also ``[L, Hkv, T, len(EXTRAS)]`` (GQA means, see :data:`EXTRAS`)."""
    t, c = context, continuation
    cache = DynamicCache(config=model.config)
    out = model(ids[None, :t + c], past_key_values=cache, output_attentions=True, use_cache=True,
                logits_to_keep=1)
    feats, future, more = [], [], []
    for layer, (a, lay) in enumerate(zip(out.attentions, cache.layers)):
        a = a[0]  # [Hq, T+C, T+C]
        hkv = lay.keys.shape[1]
        keys, values = lay.keys[0, :, :t], lay.values[0]  # [Hkv, T, D], [Hkv, T+C, D]
        obs = LayerObservation(attn=a[:, :t, :t], keys=keys, layer=layer, values=values[:, :t])
        feats.append(prefill_features(obs))
        fut = a[:, t:, :t]  # [Hq, C, T]
        future.append(group_mean(fut.sum(1), hkv))
        if extras:
            v = values.repeat_interleave(a.shape[0] // hkv, dim=0)  # [Hq, T+C, D]
            o = a[:, t:, :] @ v  # [Hq, C, D] the continuation's attention outputs
            dist = torch.cdist(o.float(), v[:, :t].float())  # [Hq, C, T]
            more.append(torch.stack([
                torch.linalg.vector_norm(values[:, :t].float(), dim=-1),
                group_mean(fut.amax(1), hkv), group_mean((fut * dist).sum(1), hkv)], -1))
    if extras:
        return torch.stack(feats), torch.stack(future), torch.stack(more)
    return torch.stack(feats), torch.stack(future)

"""Records the learned KV scorer's training set: for each kind, non-overlapping windows of
``T + C`` tokens from the TRAIN documents, each stored as features and future attention.

    python -m heurist.agents.kv_scorer.record --out runs/kv_scorer/data --docs 24 --windows 2

Writes ``<out>/<kind>.safetensors`` (``features [N, L, Hkv, T, F]`` float32, ``future
[N, L, Hkv, T]``, ``extras [N, L, Hkv, T, 3]``: value norm, max and value-weighted future
attention, :data:`~heurist.agents.kv_scorer.data.EXTRAS`) and ``<out>/<kind>.json`` (the
documents and windows used, and the held-out test documents of the same scan, so the split is
written down beside the data).
"""
from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch
from safetensors.torch import save_file
from tqdm import tqdm

from heurist.agents.kv_scorer.data import EXTRAS, KINDS, documents, is_test, record_window

__all__ = ["main"]


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=Path("runs/kv_scorer/data"))
    ap.add_argument("--kinds", default=",".join(KINDS))
    ap.add_argument("--docs", type=int, default=24, help="train documents per kind")
    ap.add_argument("--windows", type=int, default=2, help="windows per document (at most)")
    ap.add_argument("--context", type=int, default=512)
    ap.add_argument("--continuation", type=int, default=64)
    ap.add_argument("--threads", type=int, default=1)
    a = ap.parse_args(argv)
    kinds = [k for k in a.kinds.split(",") if k]
    if any(k not in KINDS for k in kinds) or min(a.docs, a.windows, a.context - 1,
                                                   a.continuation) < 1:
        ap.error(f"--kinds among {KINDS}; --docs, --windows, --continuation >= 1; --context >= 2")
    torch.set_num_threads(a.threads)
    from heurist.policies.kv.shared import shared_model

    model, tok = shared_model()
    a.out.mkdir(parents=True, exist_ok=True)
    span = a.context + a.continuation
    for kind in kinds:
        feats, futures, more, used, test = [], [], [], [], []
        t0 = time.perf_counter()
        docs = iter(documents(tok, kind))
        with tqdm(total=a.docs, desc=kind) as bar:
            for doc_id, ids in docs:
                if len(ids) < span:
                    continue
                if is_test(kind, doc_id):
                    test.append(doc_id)
                    continue
                ids = torch.tensor(ids, dtype=torch.long)
                for w in range(min(a.windows, len(ids) // span)):
                    f, fu, ex = record_window(model, ids[w * span:], context=a.context,
                                              continuation=a.continuation, extras=True)
                    feats.append(f)
                    futures.append(fu)
                    more.append(ex)
                    used.append([doc_id, w * span])
                bar.update(1)
                if bar.n == a.docs:
                    break
        save_file({"features": torch.stack(feats).contiguous(),
                   "future": torch.stack(futures).contiguous(),
                   "extras": torch.stack(more).contiguous()}, a.out / f"{kind}.safetensors")
        (a.out / f"{kind}.json").write_text(json.dumps({
            "kind": kind, "context": a.context, "continuation": a.continuation, "extras": EXTRAS,
            "train_windows": used, "test_docs_seen": test,
            "seconds": round(time.perf_counter() - t0, 1)}, indent=1))
        print(f"{kind}: {len(used)} windows from {bar.n} docs in {time.perf_counter() - t0:.0f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

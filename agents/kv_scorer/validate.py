"""Real KL of KV policies on the learned scorer's VALIDATION windows (never the test documents):
how a candidate scorer is chosen, since attention recall barely tracks KL.

    python -m heurist.agents.kv_scorer.validate --data runs/kv_scorer/data3 \\
        --policies observed,h2o,learned --artifact runs/kv_scorer/lv_fv/artifact

The validation documents are the last ``--val-docs`` train documents of each kind in the recorded
data (as :func:`heurist.agents.kv_scorer.train.load_data` holds them out of training); each
gives one window (its first ``context + continuation + 1`` tokens) run through kvpress's protocol
in prefill mode, without greedy decoding. A policy ``learned@FOLDER`` is the learned scorer of the
artifact at ``FOLDER`` (several in one call share the reference runs). ``--layers LO:HI:POLICY`` replaces the policy in layers
``LO..HI-1`` by ``POLICY`` (a diagnostic: which layers decide the KL). Prints one JSON line per
policy: mean KL over all windows and per kind.
"""
from __future__ import annotations

import argparse
import json
import statistics
from pathlib import Path

import torch

from heurist.agents.kv_scorer.data import KINDS, documents
from heurist.policies.kv.base import KVPolicy
from heurist.policies.kv.fidelity import Reference, reference_run, run_policy
from heurist.policies.kv.registry import make_policy

__all__ = ["LayerSplit", "main", "validation_kl", "validation_references"]


class LayerSplit(KVPolicy):
    """``inner`` chooses the kept sets of layers ``lo..hi-1``, ``outer`` the others (prefill)."""

    name = "split"

    def __init__(self, *, outer: KVPolicy, inner: KVPolicy, lo: int, hi: int) -> None:
        super().__init__()
        self.outer, self.inner, self.lo, self.hi = outer, inner, lo, hi
        self.offline = outer.offline or inner.offline

    def prefill_scores(self, obs, n_kept: int) -> torch.Tensor:
        use = self.inner if self.lo <= obs.layer < self.hi else self.outer
        return use.prefill_scores(obs, n_kept)


def validation_references(model, tok, folder: Path, *, val_docs: int, context: int,
                          continuation: int) -> list[tuple[str, str, Reference]]:
    """``(kind, doc, reference)`` for the first window of each validation document."""
    refs = []
    for kind in KINDS:
        meta = json.loads((folder / f"{kind}.json").read_text())
        docs = list(dict.fromkeys(doc for doc, _ in meta["train_windows"]))[-val_docs:]
        want = set(docs)
        for doc_id, ids in documents(tok, kind):
            if doc_id in want:
                refs.append((kind, doc_id, reference_run(
                    model, torch.tensor(ids), context=context, continuation=continuation,
                    greedy_steps=0)))
                want.discard(doc_id)
                if not want:
                    break
    return refs


def validation_kl(model, refs, policy: KVPolicy, budget: float) -> dict[str, float]:
    """Mean KL(full || compressed) of ``policy`` at ``budget``: ``all`` and per kind."""
    per: dict[str, list[float]] = {}
    for kind, _, ref in refs:
        per.setdefault(kind, []).append(run_policy(model, ref, policy, budget, greedy=False).kl)
    every = [k for ks in per.values() for k in ks]
    return {"all": statistics.fmean(every), **{k: statistics.fmean(v) for k, v in per.items()}}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, default=Path("runs/kv_scorer/data3"))
    ap.add_argument("--policies", default="observed,h2o,learned")
    ap.add_argument("--artifact", type=Path, default=None, help="for learned (default: shipped)")
    ap.add_argument("--layers", default=None, help="LO:HI:POLICY inside every other policy")
    ap.add_argument("--val-docs", type=int, default=3)
    ap.add_argument("--budget", type=float, default=0.25)
    ap.add_argument("--context", type=int, default=512)
    ap.add_argument("--continuation", type=int, default=64)
    ap.add_argument("--threads", type=int, default=1)
    a = ap.parse_args(argv)
    if not all((a.data / f"{k}.json").is_file() for k in KINDS):
        ap.error(f"--data {a.data}: no recorded data (run heurist.agents.kv_scorer.record)")
    split = None
    if a.layers:
        try:
            lo, hi, inner = a.layers.split(":")
            split = (int(lo), int(hi), inner)
        except ValueError:
            ap.error(f"--layers {a.layers!r}: expected LO:HI:POLICY")
    torch.set_num_threads(a.threads)
    from heurist.policies.kv.shared import shared_model

    model, tok = shared_model()

    def policy(name: str) -> KVPolicy:
        if name.startswith("learned@"):  # one run per artifact, the references computed once
            return make_policy("learned", artifact=Path(name.split("@", 1)[1]))
        kw = {"artifact": a.artifact} if name == "learned" and a.artifact else {}
        return make_policy(name, **kw)

    refs = validation_references(model, tok, a.data, val_docs=a.val_docs, context=a.context,
                                 continuation=a.continuation)
    for name in a.policies.split(","):
        p = policy(name)
        label = name
        if split is not None:
            p = LayerSplit(outer=p, inner=policy(split[2]), lo=split[0], hi=split[1])
            label = f"{name} with {split[2]} in layers {split[0]}..{split[1] - 1}"
        print(json.dumps({"policy": label, "windows": len(refs),
                          **validation_kl(model, refs, p, a.budget)}), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""Chooses the budget split (:class:`~heurist.policies.kv.allocation.Allocation`) on TRAIN windows
by real KL, then reports the chosen ones on the VALIDATION windows (never the test documents).

    python -m heurist.agents.kv_scorer.allocate --per-kind 8 --out runs/kv_scorer/alloc.jsonl

Documents: as the recorded data of ``record --docs 16`` (the first 16 train documents of each kind
holding ``T + C`` tokens; no recording is needed): the last ``--val-docs`` of each kind are the
validation documents (as :mod:`.validate`), the first ``--per-kind`` of the others (holding a
target token after the continuation) the train windows. Each document gives its first window,
run through kvpress's protocol in prefill mode at ``--budget``. Every (policy, allocation) of the
grid is measured on the train windows (one batched forward each); per policy the allocation with
the lowest train KL, and uniform, are then measured on the validation windows. One JSON line per
measurement.

``--search POLICY=START`` (repeatable) instead fits a per-layer weight curve (``Allocation.knots``,
``--knots`` knots evenly over depth) by coordinate descent on the train KL, starting from START's
depth ramp (e.g. ``learned=ada,s0.75``): each round tries every knot times each factor of the
round (``--factors``, one round per ``/``-separated group), keeping a move when the mean train KL
falls; it stops early at ``--stop-at`` (UTC ``HH:MM``). Only START and the final curve (and the
best after round 1, when it differs) are then measured on the validation windows.

    python -m heurist.agents.kv_scorer.allocate --search learned=ada,s0.75 --per-kind 6 --batch 18
"""
from __future__ import annotations

import argparse
import dataclasses
import datetime
import itertools
import json
import statistics
import time
from dataclasses import dataclass
from pathlib import Path

import torch
from transformers import DynamicCache

from heurist.agents.kv_scorer.data import KINDS, load_documents
from heurist.policies.kv.allocation import (
    SCORE_KINDS,
    Allocation,
    kept_with_mask,
    knot_weights,
    masked_attention,
)
from heurist.policies.kv.fidelity import reference_run
from heurist.policies.kv.metrics import kl_divergence
from heurist.policies.kv.registry import make_policy
from heurist.policies.kv.select import n_kept as count_kept

__all__ = ["AllocWindow", "batched_kl", "grid", "knot_search", "main", "prepare",
           "ramp_knots", "split_documents"]


@dataclass
class AllocWindow:
    """One prefill window: the policies' prefill scores and what the batched run needs."""

    kind: str
    doc: str
    scores: dict[str, list[torch.Tensor]]  # policy -> per layer [Hkv, T]
    keys: torch.Tensor  # [L, Hkv, T, D]
    values: torch.Tensor  # [L, Hkv, T, D]
    inputs: torch.Tensor  # [C]
    logits: torch.Tensor  # [C, V]


def split_documents(tok, *, docs: int, val_docs: int, span: int
                    ) -> dict[str, tuple[list, list]]:
    """kind -> (train documents, validation documents), each ``(id, ids)``, as ``record``
    would pick ``docs`` train documents of at least ``span`` tokens."""
    out = {}
    for kind in KINDS:
        picked = load_documents(tok, kind, "train", count=docs, need=span)
        out[kind] = (picked[:len(picked) - val_docs], picked[-val_docs:])
    return out


def prepare(model, docs, *, policies: list[str], context: int, continuation: int, budget: float,
            limit: int | None = None) -> list[AllocWindow]:
    """The first window of each ``(kind, id, ids)`` in ``docs`` (documents with no target token
    after the continuation skipped; at most ``limit`` per kind)."""
    out, taken = [], {}
    n = count_kept(context, budget)
    pols = {p: make_policy(p) for p in policies}
    for kind, doc, ids in docs:
        if len(ids) < context + continuation + 1 or taken.get(kind, 0) == limit:
            continue
        ref = reference_run(model, ids, context=context, continuation=continuation,
                            greedy_steps=0)
        scores = {p: [pol.prefill_scores(o, n) for o in ref.observations]
                  for p, pol in pols.items()}
        out.append(AllocWindow(kind, doc, scores, torch.stack(ref.keys), torch.stack(ref.values),
                               ref.inputs, ref.logits))
        taken[kind] = taken.get(kind, 0) + 1
    return out


@torch.inference_mode()
def batched_kl(model, windows: list[AllocWindow], policy: str, allocation: Allocation,
               budget: float) -> list[float]:
    """KL(full || compressed) of each window under ``policy`` and ``allocation`` (one batched
    forward; masked padding as :func:`heurist.policies.kv.fidelity.run_policy`)."""
    n_layers, _, t, d = windows[0].keys.shape
    n = count_kept(t, budget)
    kind = SCORE_KINDS.get(policy, "mass")
    counts = [allocation.counts(w.scores[policy], n, kind=kind) for w in windows]
    width = max(int(c.max()) for c in counts)
    cache = DynamicCache(config=model.config)
    masks = []
    for layer in range(n_layers):
        pairs = [kept_with_mask(w.scores[policy][layer], c[layer], width)
                 for w, c in zip(windows, counts)]
        idx = torch.stack([p[0] for p in pairs])  # [B, Hkv, P]
        masks.append(torch.stack([p[1] for p in pairs]))
        gi = idx[..., None].expand(-1, -1, -1, d)
        k = torch.stack([w.keys[layer] for w in windows]).gather(2, gi)
        v = torch.stack([w.values[layer] for w in windows]).gather(2, gi)
        cache.update(k, v, layer)
    inputs = torch.stack([w.inputs for w in windows])
    c = inputs.shape[1]
    with masked_attention(masks):
        out = model(inputs, past_key_values=cache,
                    position_ids=torch.arange(t, t + c).expand(len(windows), -1), use_cache=True)
    return [kl_divergence(w.logits, out.logits[b]) for b, w in enumerate(windows)]


def grid(slopes: list[float], floors: list[float]) -> list[Allocation]:
    """Equal heads at every slope, and AdaKV heads at every (slope, floor) (none: no floors)."""
    out = [Allocation(slope=s) for s in slopes]
    out += [Allocation(slope=s, across_heads=True, floor=f)
            for s, f in itertools.product(slopes, floors)]
    return out


def ramp_knots(alloc: Allocation, count: int) -> Allocation:
    """The same allocation with its depth ramp written as ``count`` knots (the same budgets); an
    allocation with knots already gets its curve sampled at ``count`` even knots (a refinement)."""
    if alloc.knots is not None:
        return dataclasses.replace(alloc, knots=tuple(
            round(float(w), 6) for w in knot_weights(alloc.knots, count)))
    depth = [-1.0 + 2.0 * i / (count - 1) for i in range(count)]
    return dataclasses.replace(alloc, slope=0.0,
                               knots=tuple(round(1.0 + alloc.slope * x, 6) for x in depth))


def knot_search(evaluate, start: Allocation, rounds: list[list[float]], *, stop=lambda: False,
                log=lambda row: None) -> list[tuple[Allocation, float]]:
    """Coordinate descent over ``start.knots``: ``evaluate(alloc) -> loss``; per round, each knot
    in turn times each factor, a move kept when the loss falls. Returns the best
    ``(allocation, loss)`` after each round (the first entry: ``start``)."""
    best, best_loss = start, evaluate(start)
    log({"search": "start", "allocation": best.label, "loss": best_loss})
    history = [(best, best_loss)]
    for r, factors in enumerate(rounds):
        for i in range(len(start.knots)):
            for f in factors:
                if stop():
                    history.append((best, best_loss))
                    return history
                knots = list(best.knots)
                knots[i] = round(knots[i] * f, 4)
                cand = dataclasses.replace(best, knots=tuple(knots))
                loss = evaluate(cand)
                log({"search": f"round {r + 1}", "knot": i, "factor": f,
                     "allocation": cand.label, "loss": loss, "kept": loss < best_loss})
                if loss < best_loss:
                    best, best_loss = cand, loss
                    break  # this knot moved; the other factor would undo it
        history.append((best, best_loss))
    return history


def _summary(windows, kls) -> dict[str, float]:
    per: dict[str, list[float]] = {}
    for w, k in zip(windows, kls):
        per.setdefault(w.kind, []).append(k)
    return {"all": statistics.fmean(kls), **{k: statistics.fmean(v) for k, v in per.items()}}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=Path("runs/kv_scorer/alloc.jsonl"))
    ap.add_argument("--policies", default="observed,learned")
    ap.add_argument("--slopes", default="-0.5,0,0.5,1")
    ap.add_argument("--floors", default="0.2,0.5", help="AdaKV floors; 'none': no AdaKV")
    ap.add_argument("--docs", type=int, default=16, help="train documents per kind (as record)")
    ap.add_argument("--val-docs", type=int, default=3)
    ap.add_argument("--per-kind", type=int, default=8, help="train windows per kind")
    ap.add_argument("--budget", type=float, default=0.25)
    ap.add_argument("--context", type=int, default=512)
    ap.add_argument("--continuation", type=int, default=64)
    ap.add_argument("--batch", type=int, default=12, help="windows per batched forward")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--search", action="append", default=[], metavar="POLICY=START",
                    help="fit per-layer knots for POLICY from START's ramp (repeatable)")
    ap.add_argument("--knots", type=int, default=5)
    ap.add_argument("--factors", default="0.6,1.5/0.8,1.25/0.9,1.1",
                    help="per round, the factors tried on each knot; rounds split by /")
    ap.add_argument("--stop-at", default=None, help="UTC HH:MM: stop searching then")
    a = ap.parse_args(argv)
    if a.search:
        return _search_main(ap, a)
    try:
        allocations = grid([float(s) for s in a.slopes.split(",")],
                           [] if a.floors == "none" else [float(f) for f in a.floors.split(",")])
    except ValueError as e:
        ap.error(f"--slopes/--floors: {e}")
    if min(a.docs - a.val_docs, a.val_docs, a.per_kind, a.batch) < 1:
        ap.error("need --docs > --val-docs >= 1, --per-kind >= 1, --batch >= 1")
    policies = a.policies.split(",")
    log, measure, windows = _session(a, policies)
    train = windows(0)
    best = {}
    for policy in policies:
        for alloc in allocations:
            t1 = time.perf_counter()
            s = _summary(train, measure(train, policy, alloc))
            log({"split": "train", "policy": policy, "allocation": alloc.label,
                 "slope": alloc.slope, "across_heads": alloc.across_heads, "floor": alloc.floor,
                 **s, "seconds": round(time.perf_counter() - t1, 1)})
            if policy not in best or s["all"] < best[policy][1]:
                best[policy] = (alloc, s["all"])
    del train
    val = windows(1)
    chosen = {b[0] for b in best.values()} | {Allocation()}
    for policy in policies:
        for alloc in sorted(chosen, key=lambda x: x.label):
            log({"split": "val", "policy": policy, "allocation": alloc.label,
                 "chosen_for": [p for p, b in best.items() if b[0] == alloc],
                 **_summary(val, measure(val, policy, alloc))})
    return 0


def _session(a, policies: list[str]):
    """What both modes share: the model on ``a.threads`` threads, a JSONL ``log`` (stdout and
    ``a.out``, appended), ``measure(windows, policy, alloc)`` (per-window KL, batched) and
    ``windows(part)`` (0: the train windows, ``a.per_kind`` per kind; 1: the validation ones)."""
    torch.set_num_threads(a.threads)
    from heurist.policies.kv.shared import shared_model

    model, tok = shared_model()
    a.out.parent.mkdir(parents=True, exist_ok=True)
    log_file = a.out.open("a")

    def log(row: dict) -> None:
        line = json.dumps(row)
        print(line, flush=True)
        log_file.write(line + "\n")
        log_file.flush()

    def measure(windows, policy, alloc) -> list[float]:
        kls = []
        for i in range(0, len(windows), a.batch):
            kls += batched_kl(model, windows[i:i + a.batch], policy, alloc, a.budget)
        return kls

    split = split_documents(tok, docs=a.docs, val_docs=a.val_docs,
                            span=a.context + a.continuation)

    def windows(part: int) -> list:
        t0 = time.perf_counter()
        out = prepare(model, [(k, d, ids) for k in KINDS for d, ids in split[k][part]],
                      policies=policies, context=a.context, continuation=a.continuation,
                      budget=a.budget, limit=a.per_kind if part == 0 else None)
        log({"stage": ("train", "validation")[part] + " windows",
             "windows": [[w.kind, w.doc] for w in out],
             "seconds": round(time.perf_counter() - t0, 1)})
        return out

    return log, measure, windows


def _search_main(ap, a) -> int:
    try:
        starts = {p: Allocation.parse(x) for p, x in (s.split("=", 1) for s in a.search)}
        rounds = [[float(f) for f in grp.split(",")] for grp in a.factors.split("/")]
        stop_at = (datetime.datetime.strptime(a.stop_at, "%H:%M").time()
                   if a.stop_at else None)
    except ValueError as e:
        ap.error(f"--search POLICY=SPLIT / --factors / --stop-at: {e}")
    if a.knots < 2:
        ap.error("--knots must be >= 2")

    def stop() -> bool:
        return stop_at is not None and datetime.datetime.now(datetime.timezone.utc).time() >= stop_at

    policies = list(starts)
    log, measure, windows = _session(a, policies)
    train = windows(0)
    candidates = {}
    for policy, start in starts.items():
        def evaluate(alloc, policy=policy):
            t1 = time.perf_counter()
            s = _summary(train, measure(train, policy, alloc))
            log({"split": "train", "policy": policy, "allocation": alloc.label, **s,
                 "seconds": round(time.perf_counter() - t1, 1)})
            return s["all"]

        hist = knot_search(evaluate, ramp_knots(start, a.knots), rounds, stop=stop,
                           log=lambda row, policy=policy: log({"policy": policy, **row}))
        cands = [start, hist[-1][0]] + ([hist[1][0]] if len(hist) > 2 else [])
        candidates[policy] = list(dict.fromkeys(cands))
        log({"policy": policy, "search": "done", "best": hist[-1][0].label,
             "train": hist[-1][1], "candidates": [c.label for c in candidates[policy]]})
    train.clear()  # free the cached keys before the validation windows
    val = windows(1)
    for policy, cands in candidates.items():
        for alloc in cands:
            log({"split": "val", "policy": policy, "allocation": alloc.label,
                 **_summary(val, measure(val, policy, alloc))})
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

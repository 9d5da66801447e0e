"""Distils the learned paging policy (LearnedFTP over the shipped learned predictor, the teacher)
into the cheap runtime scorers of :mod:`heurist.policies.paging.distilled`: a linear model and a
depth-limited regression tree over per-page features, fitted on the training users only.

Data: the teacher runs on each training trace at every cache size of ``ks``. At each eviction,
every cached page is a row: its features (the request features of its latest request and
``log_elapsed``) and the teacher's score, the expected remaining log2 gap of its predicted gap
distribution given the time elapsed. The target is the score negated (a priority: higher =
keep). Then ``dagger_rounds`` rounds of DAgger: the fitted student runs on the same traces and
the pages it saw at its own evictions are labelled by the teacher and added, so the student also
learns the states its own choices lead to. sklearn fits (it is never imported at run time); the
exported arrays are evaluated by numba.

Run: ``python -m heurist.agents.paging_predictors.distill --out DIR`` (fits, exports, prints the
held-out miss table). Every hyperparameter is a keyword of :class:`DistillConfig`, reported once;
nothing is chosen on held-out users.
"""
from __future__ import annotations

import argparse
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
from numba import njit

from heurist.envs.paging.traces import dense_trace
from heurist.policies.paging.distilled import (
    FEATURES,
    N_FEATURES,
    DistilledScorer,
    _page_priority,
    export_distilled,
    log_elapsed,
)
from heurist.policies.paging.learned_features import request_features
from heurist.policies.paging.learned_ftp import _remaining

__all__ = ["DistillConfig", "distil", "evaluate", "main", "teacher_rows"]


@dataclass(frozen=True, kw_only=True)
class DistillConfig:
    """Hyperparameters of one distillation run."""

    ks: tuple[int, ...] = (10, 50, 100)  # cache sizes the teacher (and student) run at
    max_depth: int = 6
    min_samples_leaf: int = 200
    ridge: float = 1e-3                 # L2 on the linear weights (standardised features)
    dagger_rounds: int = 1
    max_rows: int = 600_000             # uniform subsample of the rows per fit
    seed: int = 0

    def __post_init__(self) -> None:
        if not self.ks or min(self.ks) < 1:
            raise ValueError(f"ks must be positive cache sizes, got {self.ks}")
        if not 1 <= self.max_depth <= 6:
            raise ValueError(f"max_depth must lie in [1, 6], got {self.max_depth}")
        if self.min_samples_leaf < 1 or self.max_rows < 1000 or self.dagger_rounds < 0:
            raise ValueError("min_samples_leaf >= 1, max_rows >= 1000, dagger_rounds >= 0")


@njit(cache=True)
def _rollout(trace, n_ids, k, probs, centres, state, student, rec_r, rec_e):
    """Demand paging of dense ``trace`` with ``k`` slots; the victim is the teacher's (largest
    expected remaining log2 gap, first slot on ties, as LearnedFTP) or, with ``student``, the
    distilled scorer's (lowest priority, the older page on ties). Records every cached page at
    every eviction: ``(rec_r, rec_e)`` = (its latest request, requests elapsed). Returns
    ``(rows recorded, misses)``."""
    cached = np.zeros(n_ids, dtype=np.bool_)
    last = np.zeros(n_ids, dtype=np.int64)
    slot_of = np.zeros(n_ids, dtype=np.int64)
    slots = np.zeros(k, dtype=np.int64)
    filled, n, misses = 0, 0, 0
    for t in range(trace.size):
        page = trace[t]
        if cached[page]:
            last[page] = t
            continue
        misses += 1
        if filled < k:
            i = filled
            filled += 1
        else:
            victim, best = -1, 0.0
            for s in range(k):
                q = slots[s]
                rec_r[n] = last[q]
                rec_e[n] = t - last[q]
                n += 1
                if student:
                    p = _page_priority(state, last[q], t - last[q])
                    if victim < 0 or p < best or (p == best and last[q] < last[victim]):
                        victim, best = q, p
                else:
                    p = _remaining(probs, centres, last[q], t - last[q])
                    if victim < 0 or p > best:
                        victim, best = q, p
            cached[victim] = False
            i = slot_of[victim]
        slots[i] = page
        slot_of[page] = i
        cached[page] = True
        last[page] = t
    return n, misses


@njit(cache=True)
def _teacher_scores(probs, centres, r, e):
    out = np.empty(r.size, dtype=np.float64)
    for i in range(r.size):
        out[i] = _remaining(probs, centres, r[i], e[i])
    return out


class _Trace:
    """One trace's dense ids, request features and teacher distributions."""

    def __init__(self, trace: np.ndarray, predictor) -> None:
        self.dense, _, self.n_ids = dense_trace(np.asarray(trace))
        self.feats = request_features(self.dense)
        probs, _ = predictor.distributions(self.dense)
        self.probs = np.ascontiguousarray(probs)
        n = probs.shape[1] - 1
        self.centres = np.append(np.arange(n) + 0.5, predictor.net.config["never_log2"])

    def rows(self, k: int, state=None) -> tuple[np.ndarray, np.ndarray, int]:
        """``(X [n, F] float32, priority target [n], misses)`` of one rollout at ``k`` (by the
        teacher, or by the student whose simulator ``state`` is given)."""
        k = max(1, min(int(k), self.n_ids))
        cap = self.dense.size * k
        rec_r = np.zeros(cap, dtype=np.int64)
        rec_e = np.zeros(cap, dtype=np.int64)
        dummy = state if state is not None else _dummy_state()
        n, misses = _rollout(self.dense, self.n_ids, k, self.probs, self.centres, dummy,
                             state is not None, rec_r, rec_e)
        r, e = rec_r[:n], rec_e[:n]
        x = np.concatenate([self.feats[r], log_elapsed(e)[:, None]], axis=1)
        return x, -_teacher_scores(self.probs, self.centres, r, e), int(misses)


def _dummy_state():
    """A state of the student's types for the teacher's rollouts (numba types the unused branch)."""
    from heurist.policies.paging.distilled import scoring_state

    return scoring_state(DistilledScorer("linear", _complete({})),
                         np.zeros((1, N_FEATURES - 1), np.float32), 1, 1)


def _student_state(scorer: DistilledScorer, tr: _Trace):
    from heurist.policies.paging.distilled import scoring_state

    return scoring_state(scorer, tr.feats, 1, 1)


def teacher_rows(traces: list[_Trace], ks) -> tuple[np.ndarray, np.ndarray]:
    """``(X [n, F], y [n])``: every cached page at every teacher eviction, all traces and ks."""
    xs, ys = [], []
    for tr in traces:
        for k in ks:
            x, y, _ = tr.rows(k)
            xs.append(x)
            ys.append(y)
    return np.concatenate(xs), np.concatenate(ys)


def _fit_linear(x: np.ndarray, y: np.ndarray, ridge: float) -> tuple[np.ndarray, float]:
    """Ridge regression on standardised features, mapped back to raw-feature weights ``[F]``."""
    x = x.astype(np.float64)
    mu, sd = x.mean(0), np.maximum(x.std(0), 1e-6)
    z = (x - mu) / sd
    ym = y.mean()
    a = z.T @ z + ridge * z.shape[0] * np.eye(z.shape[1])
    beta = np.linalg.solve(a, z.T @ (y - ym))
    w = beta / sd
    return w, float(ym - w @ mu)


def _fit_tree(x: np.ndarray, y: np.ndarray, cfg: DistillConfig) -> dict[str, np.ndarray]:
    from sklearn.tree import DecisionTreeRegressor

    tree = DecisionTreeRegressor(max_depth=cfg.max_depth, min_samples_leaf=cfg.min_samples_leaf,
                                 random_state=cfg.seed).fit(x, y)
    t = tree.tree_
    return {"tree_feature": t.feature.astype(np.int64),
            "tree_threshold": t.threshold.astype(np.float64),
            "tree_left": t.children_left.astype(np.int64),
            "tree_right": t.children_right.astype(np.int64),
            "tree_value": t.value[:, 0, 0].astype(np.float64)}


def _subsample(x, y, cap, rng):
    if x.shape[0] <= cap:
        return x, y
    idx = np.sort(rng.choice(x.shape[0], cap, replace=False))
    return x[idx], y[idx]


def distil(cfg: DistillConfig, train: list[np.ndarray], predictor, *, progress: bool = True
           ) -> tuple[dict[str, np.ndarray], dict]:
    """``(arrays, record)``: both scorers' arrays (for :func:`export_distilled`) and a plain
    record of the run, fitted on ``train`` only."""
    start = time.perf_counter()
    rng = np.random.default_rng(cfg.seed)
    traces = [_Trace(t, predictor) for t in train]
    x0, y0 = teacher_rows(traces, cfg.ks)
    arrays: dict[str, np.ndarray] = {}
    record: dict = {"config": asdict(cfg), "teacher_rows": int(x0.shape[0]), "rounds": {}}
    for kind in ("linear", "tree"):
        xs, ys = [x0], [y0]
        for rnd in range(cfg.dagger_rounds + 1):
            x, y = _subsample(np.concatenate(xs), np.concatenate(ys), cfg.max_rows, rng)
            if kind == "linear":
                w, b = _fit_linear(x, y, cfg.ridge)
                part = {"linear_weight": w, "linear_bias": np.array([b])}
            else:
                part = _fit_tree(x, y, cfg)
            scorer = DistilledScorer(kind, _complete({**arrays, **part}))
            rmse = float(np.sqrt(np.mean((scorer.priorities(x) - y) ** 2)))
            record["rounds"].setdefault(kind, []).append({"rows": int(x.shape[0]),
                                                          "train_rmse": round(rmse, 4)})
            if progress:
                print(f"{kind} round {rnd}: {x.shape[0]} rows, train rmse {rmse:.3f}",
                      file=sys.stderr)
            if rnd == cfg.dagger_rounds:
                break
            for tr in traces:  # DAgger: the student's own states, labelled by the teacher
                for k in cfg.ks:
                    xd, yd, _ = tr.rows(k, _student_state(scorer, tr))
                    xs.append(xd)
                    ys.append(yd)
        arrays.update(part)
    record["train_seconds"] = round(time.perf_counter() - start, 1)
    return _complete(arrays), record


def _complete(arrays: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Fills the other model's arrays with a placeholder while one is being fitted."""
    out = dict(arrays)
    out.setdefault("linear_weight", np.zeros(N_FEATURES))
    out.setdefault("linear_bias", np.zeros(1))
    if "tree_feature" not in out:
        out.update(tree_feature=np.full(1, -2, np.int64), tree_threshold=np.full(1, -2.0),
                   tree_left=np.full(1, -1, np.int64), tree_right=np.full(1, -1, np.int64),
                   tree_value=np.zeros(1))
    return out


def evaluate(traces: list[np.ndarray], ks, *, artifact=None, predictor=None,
             baselines=("LRU", "ARC", "S3-FIFO", "OPT")) -> dict[int, dict[str, int]]:
    """Misses ``{k: {policy: total}}`` of the teacher, both distilled scorers (from ``artifact``,
    default the shipped one) and ``baselines`` over ``traces``."""
    from heurist.policies.paging import simulate
    from heurist.policies.paging.distilled import DistilledLinear, DistilledTree
    from heurist.policies.paging.learned_ftp import LearnedFTP

    pols = {"LearnedFTP (teacher)": LearnedFTP(predictor=predictor),
            "Distilled (linear)": DistilledLinear(artifact=artifact),
            "DistilledTree": DistilledTree(artifact=artifact), **{b: b for b in baselines}}
    return {int(k): {name: int(sum(simulate(t, k, p, seed=0).misses for t in traces))
                     for name, p in pols.items()} for k in ks}


def agreement(traces: list[np.ndarray], ks, predictor, scorers) -> dict:
    """Fraction of the teacher's evictions (on its own trajectory) where each scorer picks the
    same victim: ``{kind: {k: fraction}}``."""
    out: dict = {s.kind: {} for s in scorers}
    prepared = [_Trace(t, predictor) for t in traces]
    for k in ks:
        same = {s.kind: 0 for s in scorers}
        total = 0
        for tr in prepared:
            kk = max(1, min(int(k), tr.n_ids))
            x, y, _ = tr.rows(kk)
            groups = x.shape[0] // kk
            if groups == 0:
                continue
            teacher = np.argmax((-y).reshape(groups, kk), axis=1)
            total += groups
            for s in scorers:
                p = s.priorities(x).reshape(groups, kk)
                # the student's rule: lowest priority, the older page (larger elapsed) on ties
                el = x[:, -1].reshape(groups, kk)
                pick = _argmin_ties(p, el)
                same[s.kind] += int(np.sum(pick == teacher))
        for s in scorers:
            out[s.kind][int(k)] = round(same[s.kind] / max(total, 1), 4)
    return out


def _argmin_ties(p: np.ndarray, elapsed: np.ndarray) -> np.ndarray:
    """Per row of ``p [G, k]``: the column of the lowest value, the largest ``elapsed`` on ties
    (then the first)."""
    lowest = p == p.min(1, keepdims=True)
    return np.argmax(np.where(lowest, elapsed, -np.inf), axis=1)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m heurist.agents.paging_predictors.distill",
                                     description=__doc__.splitlines()[0])
    parser.add_argument("--out", required=True, help="artifact folder to write (replaced)")
    parser.add_argument("--predictor", default=None, help="teacher predictor artifact (default: "
                        "the shipped one)")
    parser.add_argument("--dagger-rounds", type=int, default=DistillConfig.dagger_rounds)
    parser.add_argument("--eval-ks", default="10,50,100")
    args = parser.parse_args(argv)
    try:
        cfg = DistillConfig(dagger_rounds=args.dagger_rounds)
        eval_ks = [int(x) for x in args.eval_ks.split(",")]
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    from heurist.agents.data import find_traces, load_split, split_traces
    from heurist.policies.export.provenance import data_provenance
    from heurist.policies.paging.learned_predictor import load_predictor

    try:
        predictor = load_predictor(args.predictor)
    except (FileNotFoundError, ValueError) as exc:
        print(f"error: --predictor: {exc}", file=sys.stderr)
        return 2
    split = load_split(None)
    arrays, record = distil(cfg, split["train"], predictor)
    train_files, test_files = split_traces(find_traces(None), n_train=70)
    provenance = {
        "teacher": {"policy": "LearnedFTP",
                    "predictor": ("policies/artifacts/paging_predictor (shipped)"
                                  if args.predictor is None else str(args.predictor)),
                    "predictor_sha256": predictor.manifest.get("weights", {}).get("sha256")},
        "data": {**data_provenance(train_files[0].parent, [p.name for p in train_files],
                                   [p.name for p in test_files]), "data_dir": None},
        "fitted_with": f"sklearn {__import__('sklearn').__version__} (fitting only), numpy "
                       f"{np.__version__}",
        "command": "python -m heurist.agents.paging_predictors.distill --out DIR",
    }
    config = {"models": ["linear", "tree"], "max_depth": cfg.max_depth,
              "tree_nodes": int(arrays["tree_feature"].size), "features": list(FEATURES),
              "target": "-(teacher's expected remaining log2 gap)"}
    out = export_distilled(Path(args.out), arrays, config=config, training=record,
                           provenance=provenance, replace=True)
    start = time.perf_counter()
    table = evaluate(split["test"], eval_ks, artifact=out, predictor=predictor)
    from heurist.policies.paging.distilled import load_distilled

    agree = agreement(split["test"], eval_ks, predictor,
                      [load_distilled(out, "linear"), load_distilled(out, "tree")])
    metrics = {"held_out_misses": {str(k): v for k, v in table.items()},
               "held_out_teacher_agreement": agree,
               "held_out": "30 BrightKite test users (heurist.agents.data.load_split); reported, "
                           "not used for any choice"}
    export_distilled(out, arrays, config=config, training=record, metrics=metrics,
                     provenance=provenance, replace=True)
    names = list(next(iter(table.values())))
    print("| k | " + " | ".join(names) + " |")
    print("|---:|" + "---:|" * len(names))
    for k, row in table.items():
        print(f"| {k} | " + " | ".join(str(row[n]) for n in names) + " |")
    print(f"teacher agreement (held out, teacher's trajectory): {agree}")
    print(f"wrote {out} (fit {record['train_seconds']} s, evaluation "
          f"{time.perf_counter() - start:.0f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())

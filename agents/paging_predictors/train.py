"""Trains the learned paging predictor (:class:`~heurist.policies.paging.learned_predictor.
PagingPredictorNet`) by supervised learning on the training part of each family, then fixes the
bit rules' constants at the training cache size (``train_k``) on the training traces only, and
exports the artifact.

Everything is a keyword-only hyperparameter of :class:`PredictorConfig`, reported once; nothing is
chosen on held-out data or per trace family.
"""
from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field

import numpy as np
import torch

from heurist.agents.paging_predictors.data import family_traces, labels
from heurist.envs.paging.predictions import exact_discard_bits, exact_phase_bits
from heurist.policies.paging.learned_features import request_features
from heurist.policies.paging.learned_predictor import (
    LearnedPagingPredictor,
    PagingPredictorNet,
)

__all__ = ["PredictorConfig", "calibrate", "train_predictor"]


@dataclass(frozen=True, kw_only=True)
class PredictorConfig:
    """Hyperparameters of one predictor training run."""

    families: tuple[str, ...] = ("brightkite", "zipf", "loop", "scan", "multi_tenant",
                                 "prefix_cache")
    n_synthetic: int = 20          # training traces per synthetic family
    length: int = 2100             # requests per synthetic trace (BrightKite's length)
    hidden: int = 64
    n_layers: int = 2
    epochs: int = 8
    batch: int = 2048
    lr: float = 3e-3
    weight_decay: float = 1e-5
    never_log2: float = 20.0       # "never requested again" counts as a gap of 2**20
    train_k: int = 10              # the bit rules' constants are fixed at this cache size
    seed: int = 0
    threads: int = 1
    thresholds: tuple[float, ...] = field(default=(0.3, 0.4, 0.5, 0.6, 0.7))
    phase_scales: tuple[float, ...] = field(default=(0.5, 1.0, 1.5, 2.0))

    def __post_init__(self) -> None:
        for name in ("n_synthetic", "length", "hidden", "n_layers", "epochs", "batch", "train_k",
                     "threads"):
            if int(getattr(self, name)) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        if not self.families:
            raise ValueError("families must name at least one trace family")


def _rows(traces: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    xs, gs, ds = [], [], []
    for trace in traces:
        xs.append(request_features(trace))
        g, d = labels(trace)
        gs.append(g)
        ds.append(d)
    return np.concatenate(xs), np.concatenate(gs), np.concatenate(ds)


def calibrate(predictor: LearnedPagingPredictor, traces: list[np.ndarray], *, k: int,
              thresholds, phase_scales) -> dict:
    """The discard threshold and the phase (scale, threshold) with the fewest bit errors against
    the exact bits at cache size ``k`` over ``traces``; sets them in the network's config."""
    from heurist.policies.paging.learned_predictor import _tail_prob

    dists = [predictor.distributions(t)[1] for t in traces]
    exact_d = np.concatenate([exact_discard_bits(t, k) for t in traces])
    exact_p = np.concatenate([exact_phase_bits(t, k) for t in traces])
    tail_k = np.concatenate([_tail_prob(d, k) for d in dists])
    d_err = {th: float(np.mean((tail_k >= th) != exact_d)) for th in thresholds}
    best_d = min(d_err, key=d_err.get)
    p_err = {}
    for scale in phase_scales:
        near = 1.0 - np.concatenate([_tail_prob(d, scale * k) for d in dists])
        for th in thresholds:
            p_err[(scale, th)] = float(np.mean((near >= th) != exact_p))
    best_p = min(p_err, key=p_err.get)
    predictor.net.config.update(discard_threshold=float(best_d), phase_scale=float(best_p[0]),
                                phase_threshold=float(best_p[1]))
    return {"discard_threshold": best_d, "discard_bit_error_train": d_err[best_d],
            "phase_scale": best_p[0], "phase_threshold": best_p[1],
            "phase_bit_error_train": p_err[best_p]}


def train_predictor(cfg: PredictorConfig, *, progress: bool = True
                    ) -> tuple[LearnedPagingPredictor, dict]:
    """``(predictor, record)``: the trained predictor and a plain record of the run (config,
    rows, losses, calibration, wall time)."""
    start = time.perf_counter()
    torch.manual_seed(cfg.seed)
    torch.set_num_threads(cfg.threads)
    train = {f: family_traces(f, part="train", n_traces=cfg.n_synthetic, length=cfg.length,
                              seed=cfg.seed) for f in cfg.families}
    all_train = [t for traces in train.values() for t in traces]
    x, g, d = _rows(all_train)
    net = PagingPredictorNet(hidden=cfg.hidden, n_layers=cfg.n_layers, never_log2=cfg.never_log2)
    net.mean.copy_(torch.from_numpy(x.mean(0)))
    net.std.copy_(torch.from_numpy(np.maximum(x.std(0), 1e-3)))
    X, G, D = torch.from_numpy(x), torch.from_numpy(g), torch.from_numpy(d)
    opt = torch.optim.Adam(net.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    gen = torch.Generator().manual_seed(cfg.seed)
    losses = []
    iterator = range(cfg.epochs)
    if progress:
        from tqdm import tqdm

        iterator = tqdm(iterator, desc="predictor epochs", leave=False)
    net.train()
    for _epoch in iterator:
        order = torch.randperm(X.shape[0], generator=gen)
        total, n = 0.0, 0
        for i in range(0, X.shape[0], cfg.batch):
            idx = order[i:i + cfg.batch]
            gap_logits, dist_logits = net(X[idx])
            loss = (torch.nn.functional.cross_entropy(gap_logits, G[idx])
                    + torch.nn.functional.cross_entropy(dist_logits, D[idx]))
            opt.zero_grad()
            loss.backward()
            opt.step()
            total += float(loss.detach()) * idx.numel()
            n += idx.numel()
        losses.append(total / n)
    predictor = LearnedPagingPredictor(net.eval())
    cal = calibrate(predictor, all_train, k=cfg.train_k, thresholds=cfg.thresholds,
                    phase_scales=cfg.phase_scales)
    record = {"config": asdict(cfg), "train_rows": int(X.shape[0]),
              "train_traces": {f: len(v) for f, v in train.items()}, "epoch_loss": losses,
              "calibration": cal, "train_seconds": round(time.perf_counter() - start, 1),
              "parameters": int(sum(p.numel() for p in net.parameters()))}
    return predictor, record

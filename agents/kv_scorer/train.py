"""Trains the learned KV scorer by imitating the future-attention oracle, and exports it.

    python -m heurist.agents.kv_scorer.train --data runs/kv_scorer/data --out runs/kv_scorer/run

Loss, per (window, layer, KV head) list of ``T`` cached entries: listwise softmax cross-entropy
between the network's scores and the oracle's distribution of future attention mass over the
entries (ListNet): the entries the continuation will read most get the top scores, as the oracle
ranks them. Validation (the last ``--val-docs`` training documents of each kind, never seen by the
optimiser): future-attention recall of the top ``budget`` entries, beside the oracle's (1.0 at its
own budget is not the scale: we report the fraction of the oracle's recall reached) and beside
two classical scores computed from the same features (observed mean, slow mean). The best
validation step is exported (``<out>/artifact``) with the training budget in its manifest; metrics
go to wandb (offline) and ``<out>/metrics.csv``; ``<out>/checkpoint.pt`` holds the final state.
"""
from __future__ import annotations

import argparse
import copy
import json
import time
from pathlib import Path

import torch
from safetensors.torch import load_file

from heurist.agents.kv_scorer.data import EXTRAS, KINDS
from heurist.policies.kv.learned import FEATURES, KVScorer, value_norm_features

__all__ = ["LOSSES", "TARGETS", "list_loss", "load_data", "main", "recall_at", "train"]

#: What the scorer imitates per entry: ``future`` -- the continuation's attention mass (the
#: oracle's score); ``future_max`` -- its largest single-query weight; ``future_value`` -- the
#: mass weighted by the value's distance from each query's output (``sum_q a_qj ||v_j - o_q||``,
#: what the output loses without the entry).
TARGETS = ("future", "future_max", "future_value")


def load_data(folder: Path, kinds, val_docs: int, *, target: str = "future",
              values: bool = False):
    """``(train, val)``: each ``(features [N, L, H, T, F], target [N, L, H, T])``, split by doc;
    ``values`` appends :data:`~heurist.policies.kv.learned.VALUE_FEATURES` (``F`` + 2)."""
    if target not in TARGETS:
        raise ValueError(f"target must be one of {TARGETS}, got {target!r}")
    parts = {"train": ([], []), "val": ([], [])}
    for kind in kinds:
        d = load_file(str(folder / f"{kind}.safetensors"))
        meta = json.loads((folder / f"{kind}.json").read_text())
        docs = list(dict.fromkeys(doc for doc, _ in meta["train_windows"]))
        val = set(docs[-val_docs:]) if val_docs else set()
        is_val = torch.tensor([doc in val for doc, _ in meta["train_windows"]])
        x = d["features"]
        if values:  # the same numbers value_features computes at inference
            x = torch.cat([x, value_norm_features(d["extras"][..., EXTRAS.index("value_norm")])],
                          dim=-1)
        y = d["future"] if target == "future" else d["extras"][..., EXTRAS.index(target)]
        for name, mask in (("train", ~is_val), ("val", is_val)):
            parts[name][0].append(x[mask])
            parts[name][1].append(y[mask])
    return tuple((torch.cat(x), torch.cat(y)) for x, y in (parts["train"], parts["val"]))


def recall_at(scores: torch.Tensor, future: torch.Tensor, budget: float) -> torch.Tensor:
    """Mean fraction of future mass on the top ``budget`` entries, entry 0 (the sink) always
    among them as the policy keeps it: ``[..., T]`` x2 -> scalar."""
    k = max(1, int(scores.shape[-1] * budget))
    scores = scores.clone()
    scores[..., 0] = float("inf")
    idx = scores.topk(k, dim=-1).indices
    return (future.gather(-1, idx).sum(-1) / future.sum(-1).clamp(min=1e-12)).mean()


def _scores(net, x, batch: int = 8):
    """Network scores of ``x [N, L, H, T, F]`` -> ``[N, L, H, T]``."""
    n, L = x.shape[:2]
    out = torch.empty(x.shape[:-1])
    flat = x.reshape(n * L, *x.shape[2:])
    layers = torch.arange(L).repeat(n)
    with torch.no_grad():
        for i in range(0, n * L, batch * L):
            out.view(n * L, *x.shape[2:-1])[i:i + batch * L] = net(flat[i:i + batch * L],
                                                                   layers[i:i + batch * L])
    return out


LOSSES = ("listnet", "listnet_sqrt", "mse_log", "topk_bce")


def list_loss(s: torch.Tensor, future: torch.Tensor, kind: str) -> torch.Tensor:
    """Loss of scores ``s [B, H, T]`` against future attention mass ``future [B, H, T]``.

    ``listnet``: cross-entropy to the normalised future mass; ``listnet_sqrt``: to the normalised
    square root of it (flatter: the sink's mass does not swamp the boundary of the kept set);
    ``mse_log``: squared error to the per-list z-scored log mass (every rank counts alike);
    ``topk_bce``: binary cross-entropy on "is among the top 25 %" (the oracle's kept set at the
    target budget: only the boundary of the kept set matters, not the order inside it).
    Entry 0 (the sink, always kept by the policy) is left out of every list.
    """
    s, future = s[..., 1:], future[..., 1:]
    if kind == "topk_bce":
        k = max(1, int((future.shape[-1] + 1) * 0.25) - 1)
        top = torch.zeros_like(future).scatter_(-1, future.topk(k, dim=-1).indices, 1.0)
        return torch.nn.functional.binary_cross_entropy_with_logits(s, top)
    if kind == "mse_log":
        y = torch.log(future + 1e-4)
        y = (y - y.mean(-1, keepdim=True)) / (y.std(-1, keepdim=True) + 1e-3)
        return ((s - y) ** 2).mean()
    w = future.sqrt() if kind == "listnet_sqrt" else future
    p = w / w.sum(-1, keepdim=True).clamp(min=1e-12)
    return -(p * torch.log_softmax(s, -1)).sum(-1).mean()


def train(train_set, val_set, *, steps: int, batch: int, lr: float, hidden: int, embed: int,
          seed: int, budget: float, eval_every: int, loss: str = "listnet", logger=None,
          neighbours: int = 0, residual: bool = False, layer_range=None,
          corr_l2: float = 0.0):
    """Returns ``(best network, history)``; ``batch`` (window, layer) lists per step.

    ``neighbours``/``residual``/``layer_range``: :class:`KVScorer`'s options; with a
    ``layer_range`` only those layers' lists are trained on. ``corr_l2`` penalises the mean
    squared correction (residual networks stay near observed attention unless the data says)."""
    if loss not in LOSSES:
        raise ValueError(f"loss must be one of {LOSSES}, got {loss!r}")
    torch.manual_seed(seed)
    x, y = train_set
    n, L, H, _, F = x.shape
    net = KVScorer(n_features=F, n_layers=L, n_kv_heads=H, hidden=hidden, embed=embed,
                   neighbours=neighbours, residual=residual, layer_range=layer_range)
    lo, hi = (0, L) if layer_range is None else layer_range
    flat = x.reshape(-1, F)
    net.set_normalisation(flat.mean(0), flat.std(0))
    opt = torch.optim.Adam(net.parameters(), lr=lr)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, steps)
    xv, yv = val_set
    ref = {"oracle": recall_at(yv, yv, budget).item(),
           "observed": recall_at(xv[..., FEATURES.index("log_mean")], yv, budget).item(),
           "slow_mean": recall_at(xv[..., FEATURES.index("log_ema_slow")], yv, budget).item()}
    best, best_recall, history = copy.deepcopy(net), -1.0, []
    gen = torch.Generator().manual_seed(seed)
    t0 = time.perf_counter()
    for step in range(1, steps + 1):
        wi = torch.randint(n, (batch,), generator=gen)
        li = torch.randint(lo, hi, (batch,), generator=gen)
        s = net(x[wi, li], li)  # [B, H, T]
        value = list_loss(s, y[wi, li], loss)
        if corr_l2:
            value = value + corr_l2 * net.correction(x[wi, li], li).pow(2).mean()
        opt.zero_grad()
        value.backward()
        opt.step()
        sched.step()
        if step % eval_every == 0 or step == steps:
            net.eval()
            rec = recall_at(_scores(net, xv), yv, budget).item()
            net.train()
            row = {"loss": value.item(), "val_recall": rec, "val_recall_of_oracle": rec / ref["oracle"],
                   **{f"val_recall_{k}": v for k, v in ref.items()},
                   "seconds": time.perf_counter() - t0}
            history.append({"step": step, **row})
            if logger is not None:
                logger.log(row, step=step)
            print(f"step {step}: loss {value.item():.4f} val recall@{budget:g} {rec:.4f} "
                  f"(oracle {ref['oracle']:.4f}, observed {ref['observed']:.4f}, "
                  f"slow mean {ref['slow_mean']:.4f})", flush=True)
            if rec > best_recall:
                best, best_recall = copy.deepcopy(net), rec
    return best.eval(), history


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, default=Path("runs/kv_scorer/data"))
    ap.add_argument("--out", type=Path, default=Path("runs/kv_scorer/run"))
    ap.add_argument("--kinds", default=",".join(KINDS))
    ap.add_argument("--val-docs", type=int, default=3, help="last train docs per kind held for validation")
    ap.add_argument("--steps", type=int, default=1500)
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--lr", type=float, default=3e-3)
    ap.add_argument("--hidden", type=int, default=64)
    ap.add_argument("--embed", type=int, default=8)
    ap.add_argument("--loss", choices=LOSSES, default="listnet")
    ap.add_argument("--target", choices=TARGETS, default="future")
    ap.add_argument("--values", action="store_true", help="add the value-norm features")
    ap.add_argument("--neighbours", type=int, default=0, help="read features of j-n..j+n too")
    ap.add_argument("--residual", action="store_true", help="observed attention + a correction")
    ap.add_argument("--layer-range", default=None, help="LO:HI: correct (and train) only there")
    ap.add_argument("--corr-l2", type=float, default=0.0, help="penalty on the correction")
    ap.add_argument("--budget", type=float, default=0.25, help="validation recall budget")
    ap.add_argument("--eval-every", type=int, default=100)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--logger", choices=("wandb", "csv"), default="wandb")
    a = ap.parse_args(argv)
    layer_range = None
    if a.layer_range is not None:
        try:
            layer_range = [int(v) for v in a.layer_range.split(":")]
            lo, hi = layer_range
        except ValueError:
            ap.error(f"--layer-range {a.layer_range!r}: expected LO:HI")
        if not a.residual or not 0 <= lo < hi:
            ap.error("--layer-range needs --residual and 0 <= LO < HI")
    if a.neighbours < 0 or a.corr_l2 < 0:
        ap.error("--neighbours and --corr-l2 must be >= 0")
    torch.set_num_threads(a.threads)
    kinds = [k for k in a.kinds.split(",") if k]
    train_set, val_set = load_data(a.data, kinds, a.val_docs, target=a.target, values=a.values)
    from heurist.agents.loggers import make_logger
    from heurist.policies.export import export_artifact

    a.out.mkdir(parents=True, exist_ok=True)
    cfg = {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(a).items()}
    logger = make_logger(a.logger, a.out, project="heurist-kv-scorer", config=cfg)
    t0 = time.perf_counter()
    net, history = train(train_set, val_set, steps=a.steps, batch=a.batch, lr=a.lr,
                         hidden=a.hidden, embed=a.embed, seed=a.seed, budget=a.budget,
                         eval_every=a.eval_every, loss=a.loss, logger=logger,
                         neighbours=a.neighbours, residual=a.residual, layer_range=layer_range,
                         corr_l2=a.corr_l2)
    seconds = time.perf_counter() - t0
    logger.finish()
    torch.save({"state_dict": net.state_dict(), "config": net.config, "history": history},
               a.out / "checkpoint.pt")
    best = max(history, key=lambda r: r["val_recall"])
    meta = {k: json.loads((a.data / f"{k}.json").read_text()) for k in kinds}
    training = {**cfg, "train_windows": int(train_set[0].shape[0]),
                "val_windows": int(val_set[0].shape[0]), "train_seconds": round(seconds, 1),
                "threads": a.threads, "best_step": best["step"],
                "data": {k: {"context": m["context"], "continuation": m["continuation"],
                             "train_docs": sorted({d for d, _ in m["train_windows"]}),
                             "record_seconds": m["seconds"]} for k, m in meta.items()}}
    export_artifact(net, a.out / "artifact", training=training,
                    metrics={k: v for k, v in best.items() if k != "step"}, replace=True)
    print(f"best step {best['step']}: val recall {best['val_recall']:.4f}; trained in "
          f"{seconds:.0f} s; artifact {a.out / 'artifact'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""A learned KV-cache eviction policy: a small network scores each cached entry from what is known
at eviction time, trained to imitate the future-attention oracle (``agents/kv_scorer``).

Features (:data:`FEATURES` = :data:`ATTENTION_FEATURES` + :data:`VALUE_FEATURES`) per (layer, KV
head, entry), from the GQA-group mean attention ``A``
(kvpress's aggregation) with every weight taken RELATIVE TO UNIFORM, ``a = A * (visible keys)``,
so the numbers mean the same at 512 and 2,048 tokens:

* observed attention: log mean, log std and log max of ``a`` over the queries that saw the entry,
  the last query's ``a`` (TOVA), two exponentially weighted means (decay 1/2 and 31/32: a recent
  window), and the weighted rate of queries for which ``a >= 1`` (Scissorhands' persistence);
* kvpress's observed attention (mean RAW weight over the queries that saw the entry, times the
  tokens seen) and H2O's accumulated raw attention, in logs;
* the key's log L2 norm, and the value's log L2 norm with its z-score within the head
  (:data:`VALUE_FEATURES`, from the cached values; a network with ``len(ATTENTION_FEATURES)``
  inputs, trained without them, does not read them);
* position: relative position ``pos / now``, log recency ``log(now - pos)`` capped at
  :data:`MAX_LOG_RECENCY` (trained at 512), and whether the entry is token 0 (the sink);
* the same head's z-scores of log mean, slow mean, key norm and observed attention (scale-free within a head);
* layer and KV head identity: embeddings inside the network.

Both forms compute the same statistics: prefill from the ``[Hq, T, T]`` attention, decode by
running sums (the policy's decode statistics), so a decoded query updates them exactly as one more
prefill query would. ``sink`` first positions are always kept (score above any network output).
"""
from __future__ import annotations

import functools
import math
from pathlib import Path

import torch
from torch import nn

from heurist.policies.kv.allocation import PRESETS, Allocation
from heurist.policies.kv.base import KVPolicy
from heurist.policies.kv.observation import DecodeStep, LayerObservation, group_mean

__all__ = ["ATTENTION_FEATURES", "DEFAULT_ARTIFACT", "FEATURES", "MAX_LOG_RECENCY",
           "NEIGHBOUR_FEATURES", "VALUE_FEATURES", "KVScorer", "LearnedScorer", "decode_features", "load_scorer",
           "observe_step", "prefill_features", "prefill_stats", "value_features",
           "value_norm_features"]

ATTENTION_FEATURES = ("log_mean", "log_std", "log_max", "log_last", "log_ema_fast", "log_ema_slow",
            "hit_rate", "log_key_norm", "rel_pos", "log_recency", "is_sink", "z_log_mean",
            "z_log_ema_slow", "z_log_key_norm", "log_observed", "log_accumulated",
            "z_log_observed")
#: Features from the cached VALUES: dropping entry ``j`` changes the output by about
#: ``a_j (v_j - o)``, so the value's size matters beside its attention.
VALUE_FEATURES = ("log_value_norm", "z_log_value_norm")
FEATURES = ATTENTION_FEATURES + VALUE_FEATURES
STATS = ("sum", "sumsq", "n", "max", "last", "ema_f", "w_f", "ema_s", "w_s", "hit_s", "raw")
#: Decays of the fast and slow exponentially weighted means (per query).
FAST, SLOW = 0.5, 31.0 / 32.0
#: Recency is capped at the training context (512): longer contexts see no unseen value.
MAX_LOG_RECENCY = math.log(512.0)
_EPS = 1e-4
_SINK_BONUS = 1e6
DEFAULT_ARTIFACT = Path(__file__).resolve().parent.parent / "artifacts" / "kv_scorer"


def prefill_stats(attn: torch.Tensor, n_kv_heads: int) -> dict[str, torch.Tensor]:
    """Running statistics after ``T`` causal queries: ``attn [Hq, T, T]`` -> each ``[Hkv, T]``."""
    a = group_mean(attn.float(), n_kv_heads)  # [Hkv, T, T]
    t = a.shape[-1]
    raw = a.sum(1)
    a = a * torch.arange(1, t + 1, dtype=a.dtype)[None, :, None]  # relative to uniform
    causal = torch.ones(t, t, dtype=torch.bool).tril()  # [q, j]: query q sees key j
    age = torch.arange(t - 1, -1, -1, dtype=torch.float64)  # queries after q

    def ema(decay: float):
        w = (decay ** age).to(a.dtype)  # [T] weight of query q now
        return (a * w[None, :, None]).sum(1), (causal * w[:, None]).sum(0).expand_as(a[:, 0])

    ema_f, w_f = ema(FAST)
    ema_s, w_s = ema(SLOW)
    hit_w = ((a >= 1.0) & causal).to(a.dtype) * (SLOW ** age).to(a.dtype)[None, :, None]
    n = causal.sum(0).to(a.dtype).expand_as(a[:, 0])
    return {"sum": a.sum(1), "sumsq": (a * a).sum(1), "n": n.clone(), "max": a.amax(1),
            "last": a[:, -1].clone(), "ema_f": ema_f, "w_f": w_f.clone(), "ema_s": ema_s,
            "w_s": w_s.clone(), "hit_s": hit_w.sum(1), "raw": raw}


def observe_step(stats: dict[str, torch.Tensor], attn: torch.Tensor, n_kv_heads: int) -> None:
    """One more query: ``attn [Hq, Tk]`` over the cache (new entry's zero column already there)."""
    raw = group_mean(attn.float(), n_kv_heads)
    a = raw * attn.shape[-1]
    stats["raw"] += raw
    stats["sum"] += a
    stats["sumsq"] += a * a
    stats["n"] += 1.0
    stats["max"] = torch.maximum(stats["max"], a)
    stats["last"] = a
    for e, w, d in (("ema_f", "w_f", FAST), ("ema_s", "w_s", SLOW)):
        stats[e] = stats[e] * d + a
        stats[w] = stats[w] * d + 1.0
    stats["hit_s"] = stats["hit_s"] * SLOW + (a >= 1.0).to(a.dtype)


def _log(x: torch.Tensor) -> torch.Tensor:
    return torch.log(x + _EPS)


def _z(x: torch.Tensor) -> torch.Tensor:
    return (x - x.mean(-1, keepdim=True)) / (x.std(-1, keepdim=True, unbiased=False) + 1e-3)


def decode_features(stats: dict[str, torch.Tensor], keys: torch.Tensor,
                    positions: torch.Tensor, now: int) -> torch.Tensor:
    """``[Hkv, Tk, len(ATTENTION_FEATURES)]`` features from the statistics, ``keys [Hkv, Tk, D]``
    and real ``positions [Hkv, Tk]``; ``now`` is the number of tokens seen so far."""
    n = stats["n"].clamp(min=1.0)
    mean = stats["sum"] / n
    var = (stats["sumsq"] / n - mean * mean).clamp(min=0.0)
    log_mean = _log(mean)
    log_slow = _log(stats["ema_s"] / stats["w_s"].clamp(min=1e-30))
    log_knorm = torch.log(torch.linalg.vector_norm(keys.float(), dim=-1) + _EPS)
    pos = positions.to(mean.dtype)
    log_obs = _log(stats["raw"] / n * now)  # kvpress's observed attention, x uniform's 1/now
    cols = [log_mean, _log(var.sqrt()), _log(stats["max"]), _log(stats["last"]),
            _log(stats["ema_f"] / stats["w_f"].clamp(min=1e-30)), log_slow,
            stats["hit_s"] / stats["w_s"].clamp(min=1e-30), log_knorm, pos / now,
            torch.log((now - pos).clamp(min=1.0)).clamp(max=MAX_LOG_RECENCY),
            (positions == 0).to(mean.dtype), _z(log_mean), _z(log_slow), _z(log_knorm),
            log_obs, _log(stats["raw"]), _z(log_obs)]
    return torch.stack(cols, dim=-1)


def value_norm_features(norm: torch.Tensor) -> torch.Tensor:
    """Value L2 norms ``[..., T]`` -> ``[..., T, 2]``: :data:`VALUE_FEATURES`."""
    log_vnorm = torch.log(norm + _EPS)
    return torch.stack([log_vnorm, _z(log_vnorm)], dim=-1)


def value_features(values: torch.Tensor) -> torch.Tensor:
    """``values [Hkv, T, D]`` -> ``[Hkv, T, 2]``: :data:`VALUE_FEATURES`."""
    return value_norm_features(torch.linalg.vector_norm(values.float(), dim=-1))


def prefill_features(obs: LayerObservation) -> torch.Tensor:
    """``[Hkv, T, len(ATTENTION_FEATURES)]`` features of the context entries after the prefill."""
    t = obs.n_tokens
    stats = prefill_stats(obs.attn, obs.n_kv_heads)
    return decode_features(stats, obs.keys, torch.arange(t).expand(obs.n_kv_heads, -1), t)


#: Attention features the network also reads at the neighbouring entries (``neighbours`` > 0):
#: a copied span is read token after token, so an entry next to an attended one is read soon.
NEIGHBOUR_FEATURES = ("log_mean", "log_max", "log_ema_slow", "log_observed")


def _shift(x: torch.Tensor, d: int) -> torch.Tensor:
    """``x [B, H, T, k]`` -> the same at entry ``j + d`` (zero, the training mean, off the end)."""
    t = x.shape[-2]
    if abs(d) >= t:
        return torch.zeros_like(x)
    if d > 0:
        return nn.functional.pad(x[:, :, d:], (0, 0, 0, d))
    return nn.functional.pad(x[:, :, :d], (0, 0, -d, 0))


class KVScorer(nn.Module):
    """Per-entry MLP over :data:`FEATURES` plus layer and (layer, KV head) embeddings, shared by
    every layer and head: ``x [Hkv, T, F]`` -> keep-scores ``[Hkv, T]``.

    hidden: width of the MLP's two hidden layers; 0 makes the correction linear in the inputs.
    neighbours: the MLP also reads :data:`NEIGHBOUR_FEATURES` at entries ``j - n .. j + n``.
    residual: the score is ``scale * log_observed + MLP`` with the MLP's last layer starting at
    zero, so the untrained network ranks exactly as observed attention and learns a correction.
    layer_range: ``[lo, hi]``; with ``residual``, layers outside it keep observed attention's
    ranking (no correction).
    """

    def __init__(self, *, n_features: int = len(FEATURES), n_layers: int = 30,
                 n_kv_heads: int = 3, hidden: int = 64, embed: int = 8, neighbours: int = 0,
                 residual: bool = False, layer_range=None) -> None:
        super().__init__()
        if min(n_features, n_layers, n_kv_heads, embed) < 1 or min(hidden, neighbours) < 0:
            raise ValueError("every KVScorer size must be >= 1 (hidden, neighbours >= 0)")
        lo, hi = (0, n_layers) if layer_range is None else (int(layer_range[0]),
                                                            int(layer_range[1]))
        if not 0 <= lo < hi <= n_layers or (layer_range is not None and not residual):
            raise ValueError(f"layer_range needs residual and 0 <= lo < hi <= {n_layers}, "
                             f"got {layer_range}")
        self.config = {"n_features": n_features, "n_layers": n_layers, "n_kv_heads": n_kv_heads,
                       "hidden": hidden, "embed": embed}
        # Only the non-default options go in the config, so older artifacts load unchanged.
        if neighbours:
            self.config["neighbours"] = neighbours
        if residual:
            self.config["residual"] = True
        if layer_range is not None:
            self.config["layer_range"] = [lo, hi]
        self.n_kv_heads, self.neighbours, self.residual = n_kv_heads, neighbours, residual
        self.lo, self.hi = lo, hi
        self.nb_index = [FEATURES.index(f) for f in NEIGHBOUR_FEATURES]
        self.obs_index = FEATURES.index("log_observed")
        # Input normalisation, set from the training data (saved with the weights).
        self.register_buffer("mu", torch.zeros(n_features))
        self.register_buffer("sd", torch.ones(n_features))
        self.layer_emb = nn.Embedding(n_layers, embed)
        self.head_emb = nn.Embedding(n_layers * n_kv_heads, embed)
        width = n_features + 2 * embed + 2 * neighbours * len(NEIGHBOUR_FEATURES)
        # hidden=0: a linear correction (searched directly on the KL, agents/kv_scorer/search.py)
        self.mlp = nn.Sequential(nn.Linear(width, 1)) if hidden == 0 else nn.Sequential(
            nn.Linear(width, hidden), nn.SiLU(), nn.Linear(hidden, hidden), nn.SiLU(),
            nn.Linear(hidden, 1))
        if residual:
            self.scale = nn.Parameter(torch.ones(()))
            nn.init.zeros_(self.mlp[-1].weight)
            nn.init.zeros_(self.mlp[-1].bias)

    def set_normalisation(self, mean: torch.Tensor, std: torch.Tensor) -> None:
        """Inputs are standardised by these ``[F]`` statistics of the training features."""
        self.mu.copy_(mean)
        self.sd.copy_(std.clamp(min=1e-3))

    def correction(self, x: torch.Tensor, layer: torch.Tensor) -> torch.Tensor:
        """The MLP's output alone: ``x [B, Hkv, T, F]``, ``layer [B]`` -> ``[B, Hkv, T]``."""
        _, h, t, _ = x.shape
        x = (x - self.mu) / self.sd
        if self.neighbours:
            near = x[..., self.nb_index]  # [B, Hkv, T, k]
            x = torch.cat([x] + [_shift(near, d) for d in range(1, self.neighbours + 1)]
                          + [_shift(near, -d) for d in range(1, self.neighbours + 1)], dim=-1)
        heads = layer[:, None] * self.n_kv_heads + torch.arange(h, device=x.device)[None]
        emb = torch.cat([self.layer_emb(layer)[:, None, :].expand(-1, h, -1),
                         self.head_emb(heads)], dim=-1)  # [B, Hkv, 2E]
        z = torch.cat([x, emb[:, :, None, :].expand(-1, -1, t, -1)], dim=-1)
        return self.mlp(z).squeeze(-1)

    def forward(self, x: torch.Tensor, layer: torch.Tensor) -> torch.Tensor:
        """``x [B, Hkv, T, F]``, ``layer [B]`` (long) -> ``[B, Hkv, T]``."""
        out = self.correction(x, layer)
        if self.residual:
            inside = ((layer >= self.lo) & (layer < self.hi)).to(out.dtype)[:, None, None]
            out = self.scale * x[..., self.obs_index] + inside * out
        return out


@functools.lru_cache(maxsize=4)
def _load_cached(folder: str, stamp: tuple) -> tuple[KVScorer, dict]:
    from heurist.policies.export.artifact import load_network

    net, manifest = load_network(folder)
    if not isinstance(net, KVScorer):  # the CLI maps ValueError to exit 2
        raise ValueError(f"{folder}: holds a {type(net).__name__}, not a KVScorer")  # noqa: TRY004
    return net, manifest


def load_scorer(folder) -> tuple[KVScorer, dict]:
    """The checked artifact at ``folder``, loaded once per process while its files are unchanged
    (a rewritten file is loaded and checked again)."""
    folder = Path(folder).resolve()
    stamp = tuple((st.st_mtime_ns, st.st_size) for st in
                  (p.stat() for p in (folder / "manifest.json", folder / "weights.safetensors")
                   if p.is_file()))
    return _load_cached(str(folder), stamp)


class LearnedScorer(KVPolicy):
    """Keeps the entries the trained :class:`KVScorer` scores highest (both forms).

    artifact: policy artifact folder (default: the one shipped, :data:`DEFAULT_ARTIFACT`).
    net: a network to use instead of an artifact (training and tests).
    sink: the first ``sink`` positions are always kept (0: none).

    ``default_allocation``: the budget split :func:`~heurist.policies.kv.evaluate.evaluate_text`
    uses in prefill mode when none is given -- the ``learned-curve`` preset for the SHIPPED scorer
    (fitted for it on train windows, chosen on validation: ``docs/benchmarks/kv_learned.md``, round
    6), ``None`` (equal split) for any other artifact or network.
    """

    name = "learned"

    def __init__(self, *, artifact=None, net: KVScorer | None = None, sink: int = 1,
                 window: int = 0, parity: str = "heurist") -> None:
        super().__init__(parity=parity)
        if sink < 0 or window < 0:
            raise ValueError(f"sink and window must be >= 0, got {sink}, {window}")
        self.sink, self.window = sink, window
        self.default_allocation = None
        if net is None:
            folder = Path(artifact) if artifact is not None else DEFAULT_ARTIFACT
            net, _ = load_scorer(folder)
            if folder.resolve() == DEFAULT_ARTIFACT and sink == 1 and window == 0:
                self.default_allocation = Allocation.parse(PRESETS["learned-curve"])
        self.net = net.eval()
        if net.config["n_features"] not in (len(ATTENTION_FEATURES), len(FEATURES)):
            raise ValueError(f"a KV scorer reads {len(ATTENTION_FEATURES)} or {len(FEATURES)} "
                             f"features, this one {net.config['n_features']}")
        self.uses_values = net.config["n_features"] == len(FEATURES)

    def _score(self, feats: torch.Tensor, layer: int, positions: torch.Tensor, now: int,
               values: torch.Tensor | None) -> torch.Tensor:
        if self.uses_values:
            if values is None:
                raise ValueError("this KV scorer reads the cached values; the caller passed none")
            feats = torch.cat([feats, value_features(values)], dim=-1)
        with torch.inference_mode():
            s = self.net(feats[None], torch.tensor([layer]))[0].to(torch.float64)
        if self.sink:
            # Earlier sink positions rank higher, so a budget under ``sink`` keeps the first ones.
            s = s + _SINK_BONUS * (self.sink - positions).clamp(min=0).to(s.dtype)
        if self.window:
            # The last ``window`` tokens are kept too (below the sinks), as SnapKV keeps its window.
            s = s + 0.5 * _SINK_BONUS * (positions >= now - self.window).to(s.dtype)
        return s

    def prefill_scores(self, obs: LayerObservation, n_kept: int) -> torch.Tensor:
        pos = torch.arange(obs.n_tokens).expand(obs.n_kv_heads, -1)
        return self._score(prefill_features(obs), obs.layer, pos, obs.n_tokens, obs.values)

    def prefill_stats(self, obs: LayerObservation) -> dict[str, torch.Tensor]:
        return prefill_stats(obs.attn, obs.n_kv_heads)

    def observe(self, stats: dict[str, torch.Tensor], step: DecodeStep) -> None:
        observe_step(stats, step.attn, step.n_kv_heads)

    def decode_scores(self, stats: dict[str, torch.Tensor], step: DecodeStep) -> torch.Tensor:
        now = int(step.positions.max()) + 1
        feats = decode_features(stats, step.keys, step.positions, now)
        return self._score(feats, step.layer, step.positions, now, step.values)

"""Adaptive budget split: the same TOTAL budget (``n_kept(T, budget)`` entries times every
(layer, KV head)), spent unevenly across layers and heads.

Uniform eviction keeps ``n`` entries in every (layer, KV head). An :class:`Allocation` instead
gives each (layer, KV head) its own count ``c[l, h]`` with ``sum c == L * Hkv * n`` exactly:

* per-layer budgets ``B_l`` from a linear ramp over depth, ``w_l = 1 + slope * (2 l / (L - 1) - 1)``
  (``slope > 0``: deeper layers get more, an inverted PyramidKV; ``slope < 0``: PyramidKV's
  funnel), split by largest remainders and capped at ``Hkv * T``; or, instead of the ramp, a
  piecewise-linear weight curve through ``knots`` evenly spaced over depth (``knots[0]`` at layer
  0, ``knots[-1]`` at layer ``L - 1``; label ``k<w0>:<w1>:...``), fitted on train windows;
* within a layer, either an equal split (``across_heads=False``) or AdaKV's rule
  (``across_heads=True``): one top-``B_l`` over the layer's heads on NORMALISED scores (each
  head's scores made a distribution: mass policies divided by their sum, logit policies --
  the learned scorer -- through a softmax), after every head first takes a floor of its
  ``floor * B_l / Hkv`` best entries (and at least ``min_per_head``, the sink).

Named presets (:data:`PRESETS`, accepted wherever a split is parsed): ``learned-curve`` -- AdaKV
across heads and the 9-knot depth curve fitted for the shipped learned scorer on train windows
(512 tokens, 25 %) and chosen on 41 validation windows (``docs/benchmarks/kv_learned.md``, round
6); the shipped scorer uses it by default in prefill mode (:attr:`LearnedScorer.default_allocation`).

Then each (layer, head) keeps its ``c[l, h]`` best entries by the policy's OWN scores. The
allocation's hyperparameters are chosen on train windows (``agents/kv_scorer/allocate.py``), never
per document.

Real generation with unequal counts: transformers' cache holds one dense ``[B, Hkv, Tk, D]``
tensor per layer, so every (layer, head) is padded to the same ``P = max c`` slots and the padding
is MASKED: :func:`masked_attention` adds ``-inf`` to those keys' attention logits inside the eager
attention of every layer (kvpress's AdaKV does the same by replacing masked keys with a key no
query can attend to). A masked entry gets exactly zero attention, as if evicted; memory is not
saved in this simulation, fidelity is exact.
"""
from __future__ import annotations

import contextlib
from dataclasses import dataclass

import torch

__all__ = [
    "PRESETS",
    "SCORE_KINDS",
    "Allocation",
    "head_counts",
    "kept_with_mask",
    "knot_weights",
    "layer_budgets",
    "masked_attention",
    "normalise",
    "split_evenly",
]

#: How a policy's prefill scores become a per-head distribution: ``mass`` (non-negative
#: attention-like scores, divided by their sum) or ``logit`` (softmax).
SCORE_KINDS = {"learned": "logit"}
#: Named splits: name -> label (see the module doc; fitted on train windows, chosen on validation).
PRESETS = {"learned-curve": "ada,k0.0864:0.463:0.8122:0.8269:1.26:2.5007:2.2688:1.0011:0.6464"}
#: Scores at or above this are keep-bonuses (sinks, protected windows), not attention.
_BONUS = 1e5


def normalise(scores: torch.Tensor, kind: str) -> torch.Tensor:
    """``[Hkv, T]`` scores -> ``[Hkv, T]`` per-head distributions (rows sum to 1).

    Bonus entries (``>= 1e5``: the sink, a protected window) count as the head's best plain entry,
    so they do not swamp the comparison between heads.
    """
    if kind not in ("mass", "logit"):
        raise ValueError(f"kind must be 'mass' or 'logit', got {kind!r}")
    s = scores.to(torch.float64)
    bonus = s >= _BONUS
    plain_max = s.masked_fill(bonus, -torch.inf).amax(-1, keepdim=True)
    s = torch.where(bonus, plain_max.expand_as(s), s)
    if kind == "logit":
        return torch.softmax(s, dim=-1)
    s = s.clamp(min=0.0)
    return s / s.sum(-1, keepdim=True).clamp(min=1e-30)


def split_evenly(total: int, weights: torch.Tensor, cap: int) -> torch.Tensor:
    """``total`` units over ``weights [N]`` (>= 0) by largest remainders, none above ``cap``;
    returns ``[N]`` long summing to ``total`` (needs ``total <= N * cap``)."""
    n = weights.numel()
    if total > n * cap or total < 0:
        raise ValueError(f"cannot split {total} over {n} slots of at most {cap}")
    w = weights.to(torch.float64).clamp(min=0.0)
    out = torch.zeros(n, dtype=torch.long)
    free = torch.ones(n, dtype=torch.bool)
    left = total
    while left > 0:
        wf = torch.where(free, w, torch.zeros_like(w))
        if wf.sum() <= 0:
            wf = free.to(torch.float64)
        share = left * wf / wf.sum()
        add = share.floor().long()
        rem = left - int(add.sum())
        if rem:  # the largest remainders get one more (ties: lowest index, deterministic)
            frac = (share - share.floor()).masked_fill(~free, -1.0)
            add[frac.topk(rem).indices] += 1
        add = torch.minimum(add, cap - out)
        out += add
        left = total - int(out.sum())
        free = out < cap
    return out


def knot_weights(knots: tuple[float, ...], n_layers: int) -> torch.Tensor:
    """``[L]`` layer weights: linear interpolation through ``knots`` placed evenly over depth
    (one knot: constant)."""
    k = torch.tensor(knots, dtype=torch.float64)
    if len(knots) == 1 or n_layers == 1:
        return k[:1].expand(n_layers).clone()
    x = torch.linspace(0.0, len(knots) - 1.0, n_layers, dtype=torch.float64)
    lo = x.floor().long().clamp(max=len(knots) - 2)
    frac = x - lo
    return k[lo] * (1.0 - frac) + k[lo + 1] * frac


def layer_budgets(total: int, n_layers: int, *, slope: float, cap: int, least: int = 0,
                  knots: tuple[float, ...] | None = None) -> torch.Tensor:
    """``[L]`` per-layer entry counts summing to ``total`` from the depth ramp, or from the
    ``knots`` curve when given (module doc); every layer gets at least ``least`` (the weights
    split what is left)."""
    if not -1.0 <= slope <= 1.0:
        raise ValueError(f"slope must be in [-1, 1], got {slope}")
    if knots is not None:
        w = knot_weights(knots, n_layers)
    else:
        depth = torch.linspace(-1.0, 1.0, n_layers, dtype=torch.float64) if n_layers > 1 else \
            torch.zeros(1, dtype=torch.float64)
        w = 1.0 + slope * depth
    least = min(least, total // n_layers)
    return least + split_evenly(total - least * n_layers, w, cap - least)


def head_counts(probs: torch.Tensor, budget: int, *, floor: int) -> torch.Tensor:
    """AdaKV inside one layer: ``probs [Hkv, T]`` -> ``[Hkv]`` counts summing to ``budget``.

    Each head first takes its ``floor`` best entries; the rest of the budget goes to the largest
    remaining normalised scores over all heads (ties: ``torch.topk``'s order)."""
    hkv, t = probs.shape
    floor = min(floor, t, budget // hkv)
    order = probs.argsort(dim=-1, descending=True, stable=True)
    rank = torch.empty_like(order)
    rank.scatter_(1, order, torch.arange(t).expand(hkv, -1).contiguous())
    s = probs.masked_fill(rank < floor, 2.0)  # above any probability: always taken
    chosen = s.reshape(-1).topk(budget).indices
    return torch.bincount(chosen // t, minlength=hkv)


def kept_with_mask(scores: torch.Tensor, counts: torch.Tensor, width: int
                   ) -> tuple[torch.Tensor, torch.Tensor]:
    """``scores [Hkv, T]``, ``counts [Hkv]`` -> ``(idx [Hkv, width], masked [Hkv, width])``:
    each head's ``width`` best entries in position order, those beyond its own ``count`` best
    masked (``True``). ``width >= max(counts)``."""
    width = min(width, scores.shape[-1])
    top = scores.topk(width, dim=-1)  # the same call as select.keep_top: equal sets at c == n
    rank = torch.arange(width).expand_as(top.indices)
    masked = rank >= counts[:, None]
    idx, order = top.indices.sort(dim=-1)
    return idx, masked.gather(1, order)


@dataclass(frozen=True)
class Allocation:
    """How the total budget is split over (layer, KV head); see the module doc.

    slope: depth ramp of the per-layer budgets in [-1, 1] (0: equal layers).
    across_heads: AdaKV's top-k over the layer's heads on normalised scores (else equal heads).
    floor: fraction of a head's equal share it always keeps with ``across_heads``.
    min_per_head: entries every (layer, head) keeps at least (1: the sink survives), so every
        layer's budget is at least ``Hkv * min_per_head`` whatever the ramp.
    knots: per-layer weight curve (piecewise linear, knots evenly over depth, each >= 0, not all
        0) replacing the ramp; ``slope`` must then be 0.
    """

    slope: float = 0.0
    across_heads: bool = False
    floor: float = 0.2
    min_per_head: int = 1
    knots: tuple[float, ...] | None = None

    def __post_init__(self) -> None:
        if not -1.0 <= self.slope <= 1.0 or not 0.0 <= self.floor <= 1.0 or self.min_per_head < 0:
            raise ValueError(f"need slope in [-1, 1], floor in [0, 1], min_per_head >= 0: {self}")
        if self.knots is not None:
            if self.slope or not self.knots or min(self.knots) < 0 or sum(self.knots) <= 0:
                raise ValueError(f"knots need slope 0, weights >= 0, not all 0: {self}")
            object.__setattr__(self, "knots", tuple(float(k) for k in self.knots))

    @property
    def uniform(self) -> bool:
        return self.slope == 0.0 and not self.across_heads and (
            self.knots is None or len(set(self.knots)) == 1)

    @property
    def label(self) -> str:
        """Short name used in result rows, e.g. ``ada`` or ``ada,s0.5``."""
        parts = (["ada" + ("" if self.floor == 0.2 else f"f{self.floor:g}")]
                 if self.across_heads else [])
        if self.slope:
            parts.append(f"s{self.slope:g}")
        if self.knots is not None:
            parts.append("k" + ":".join(f"{k:g}" for k in self.knots))
        return ",".join(parts) or "uniform"

    @classmethod
    def parse(cls, spec: str) -> Allocation:
        """The inverse of :attr:`label`: ``"uniform"``, ``"ada"``, ``"adaf0.5"``, ``"s0.5"``,
        ``"ada,s-0.5"``, ``"ada,k0.3:1:1.7"`` ..., or a :data:`PRESETS` name."""
        spec = PRESETS.get(spec.strip(), spec)
        kw: dict = {}
        try:
            for part in (p.strip() for p in spec.split(",") if p.strip()):
                if part == "uniform":
                    continue
                if part.startswith("ada"):
                    kw["across_heads"] = True
                    if part[3:]:
                        if not part.startswith("adaf"):
                            raise ValueError(part)
                        kw["floor"] = float(part[4:])
                elif part.startswith("s"):
                    kw["slope"] = float(part[1:])
                elif part.startswith("k"):
                    kw["knots"] = tuple(float(x) for x in part[1:].split(":"))
                else:
                    raise ValueError(part)
        except ValueError:
            raise ValueError(f"allocation {spec!r}: expected parts uniform, ada, adafF, sS, "
                             "kW0:W1:... (e.g. ada,s0.5), or one of "
                             f"{', '.join(PRESETS)}") from None
        try:
            return cls(**kw)
        except ValueError as e:
            raise ValueError(f"allocation {spec!r}: {e}") from None

    def counts(self, scores: list[torch.Tensor], n: int, *, kind: str = "mass") -> torch.Tensor:
        """Per-layer ``[Hkv, T]`` scores and the uniform count ``n`` -> ``[L, Hkv]`` counts with
        ``sum == L * Hkv * n``."""
        n_layers = len(scores)
        hkv, t = scores[0].shape
        budgets = layer_budgets(n_layers * hkv * n, n_layers, slope=self.slope, cap=hkv * t,
                                least=hkv * self.min_per_head, knots=self.knots)
        rows = []
        for s, b in zip(scores, budgets.tolist()):
            if self.across_heads:
                floor = max(self.min_per_head, int(self.floor * b / hkv))
                rows.append(head_counts(normalise(s, kind), b, floor=floor))
            else:
                rows.append(split_evenly(b, torch.ones(hkv), t))
        return torch.stack(rows)


@contextlib.contextmanager
def masked_attention(masks: list[torch.Tensor | None]):
    """Inside, every eager Llama attention layer ``l`` gives zero weight to the cached keys
    ``masks[l] [B, Hkv, P]`` marks ``True`` (keys beyond ``P``, appended later, are visible).

    Patches ``transformers.models.llama.modeling_llama.eager_attention_forward`` (the function
    ``LlamaAttention`` looks up at call time with ``attn_implementation="eager"``) and restores it
    on exit."""
    import transformers.models.llama.modeling_llama as ml

    original = ml.eager_attention_forward

    def attention(module, query, key, value, attention_mask, scaling, dropout=0.0, **kwargs):
        m = masks[module.layer_idx]
        if m is not None:
            m = torch.nn.functional.pad(m, (0, key.shape[-2] - m.shape[-1]), value=False)
            low = torch.finfo(query.dtype).min
            bias = torch.zeros(m.shape, dtype=query.dtype).masked_fill(m, low)
            bias = bias.repeat_interleave(module.num_key_value_groups, dim=1)[:, :, None, :]
            attention_mask = bias if attention_mask is None else (
                attention_mask + bias).clamp(min=low)
        return original(module, query, key, value, attention_mask, scaling, dropout, **kwargs)

    ml.eager_attention_forward = attention
    try:
        yield
    finally:
        ml.eager_attention_forward = original

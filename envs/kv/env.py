"""The KV-cache eviction MDP ("KVCache") as a batched TorchRL env. The MDP with shapes is in
``envs/kv/README.md``.

One row = one (layer, KV head) attention trace (or, with ``budget_scope="layer"``, the KV heads of
one layer sharing one budget). Units (tokens, or blocks of ``block_size`` tokens for a paged cache)
arrive one per step; when the cache holds one unit over its budget the agent evicts one cached
unit (a pointer over ``n_slots = budget_units + 1`` slots). The reward of a step
is the attention recall of the next unit's queries: the attention mass (from the full-cache trace)
that falls on units still cached. Steps that need no eviction have one legal action, 0, a no-op.
"""
from __future__ import annotations

import math

import torch
from tensordict import TensorDict, TensorDictBase
from torchrl.data import Bounded, Categorical, Composite, Unbounded

from heurist.envs.common import HeuristEnv, register
from heurist.envs.kv import oracle
from heurist.envs.kv.generator import SyntheticAttention, TraceSet, validate_instance
from heurist.envs.kv.state import KVState

__all__ = ["GLOBAL_FEATURES", "SLOT_FEATURES", "KVCacheEnv"]

#: Names of ``slot_features[..., S, F]``.
SLOT_FEATURES = ("rel_position", "log_age", "acc_attn", "window_attn", "key_norm", "sink",
                 "cur_attn", "is_new")
#: Names of ``global_features[..., G]``.
GLOBAL_FEATURES = ("progress", "budget_fraction", "compress_phase", "cache_fill")


@register("KVCache")  # declared, with its test_kwargs, in heurist.envs.ENVS
class KVCacheEnv(HeuristEnv):
    """KV-cache eviction over attention traces.

    Args (keyword-only):
        generator: instance generator; default :class:`SyntheticAttention` (``length=max_len``).
        traces: trace files/dirs for a :class:`TraceSet` generator (instead of ``generator``).
        max_len: most tokens per instance (``N`` of the instance, padding included).
        budget: cache size in tokens: an ``int`` (absolute) or a ``float`` in (0, 1) (fraction of
            each row's length). In units: ``max(1, budget_tokens // unit)``.
        granularity: ``"token"`` or ``"block"`` (units of ``block_size`` tokens).
        prefill: ``"evict"`` (every query, prompt included, runs on the evicted cache) or
            ``"compress"`` (the prompt runs in full; its kept set is then chosen with prompt-end
            statistics, one eviction per step, before decoding evicts step by step).
        window: recent window of the ``window_attn`` feature, in query units.
        n_sink: tokens flagged as attention sinks.
        min_length: shortest length of the default generator's rows.
        budget_scope: ``"head"`` (one row = one (layer, KV head) stream, its own budget) or
            ``"layer"`` (one row = the ``n_heads`` KV heads of a layer sharing ``n_heads x`` the
            per-head budget; each step appends one head's next unit; rewards are divided by
            ``n_heads`` so a step's reward is that head's share of the layer's mean recall).
        n_heads: KV heads per layer under ``budget_scope="layer"`` (SmolLM2: 3).
    """

    def __init__(self, *, generator=None, traces=None, max_len: int = 512,
                 budget: float = 0.25, granularity: str = "token", block_size: int = 16,
                 prefill: str = "evict", window: int = 32, n_sink: int = 4,
                 min_length: int | None = None, budget_scope: str = "head", n_heads: int = 3,
                 seed: int = 0, device: str = "cpu") -> None:
        if granularity not in ("token", "block"):
            raise ValueError(f"granularity must be 'token' or 'block', got {granularity!r}")
        if prefill not in ("evict", "compress"):
            raise ValueError(f"prefill must be 'evict' or 'compress', got {prefill!r}")
        self.unit = 1 if granularity == "token" else int(block_size)
        if self.unit < 1 or max_len < 2 * self.unit:
            raise ValueError(f"need block_size >= 1 and max_len >= 2 units, got {block_size}, {max_len}")
        if isinstance(budget, bool) or not isinstance(budget, (int, float)):
            raise TypeError(f"budget must be an int or a float, got {budget!r}")
        if isinstance(budget, float) and not 0 < budget < 1:
            raise ValueError(f"a fractional budget must be in (0, 1), got {budget}")
        if isinstance(budget, int) and budget < 1:
            raise ValueError(f"budget must be >= 1 token, got {budget}")
        if budget_scope not in ("head", "layer"):
            raise ValueError(f"budget_scope must be 'head' or 'layer', got {budget_scope!r}")
        self.budget_scope = budget_scope
        self.n_heads = int(n_heads) if budget_scope == "layer" else 1
        if self.n_heads < 1:
            raise ValueError(f"n_heads must be >= 1, got {n_heads}")
        if window < 1 or n_sink < 0:
            raise ValueError("window must be >= 1 and n_sink >= 0")
        if generator is not None and traces is not None:
            raise ValueError("pass generator or traces, not both")
        if traces is not None:
            generator = TraceSet(traces, length=max_len, per_layer=budget_scope == "layer")
        elif generator is None:
            generator = SyntheticAttention(length=max_len, min_length=min_length,
                                           n_heads=self.n_heads if budget_scope == "layer" else None)
        super().__init__(generator=generator, seed=seed, device=device)
        self.max_len, self.budget, self.granularity = int(max_len), budget, granularity
        self.prefill, self.window, self.n_sink = prefill, int(window), int(n_sink)
        self.max_units = math.ceil(self.max_len / self.unit)
        self.n_slots = self.n_heads * min(self._budget_units(self.max_len), self.max_units) + 1
        S = self.n_slots
        self.observation_spec = Composite(
            slot_features=Unbounded(shape=(S, len(SLOT_FEATURES)), dtype=torch.float32),
            global_features=Bounded(0.0, 1.0, shape=(len(GLOBAL_FEATURES),), dtype=torch.float32),
            position=Bounded(-1, self.max_len - 1, shape=(S,), dtype=torch.int64),
            # [0, 1] even for one head: Gym's Box warns on equal bounds.
            head=Bounded(0, max(self.n_heads - 1, 1), shape=(S,), dtype=torch.int64),
            slot_valid=Categorical(2, shape=(S,), dtype=torch.bool),
            action_mask=Categorical(2, shape=(S,), dtype=torch.bool),
        )
        self.action_spec = Categorical(S, shape=(), dtype=torch.int64)
        self.reward_spec = Unbounded(shape=(1,), dtype=torch.float32)
        self.done_spec = Composite(done=Categorical(2, shape=(1,), dtype=torch.bool),
                                   terminated=Categorical(2, shape=(1,), dtype=torch.bool))

    # ------------------------------------------------------------------ budget
    def _budget_units(self, length):
        """Budget in units for rows of ``length`` tokens (int or int64 tensor)."""
        tokens = self.budget if isinstance(self.budget, int) else (
            length * self.budget if not torch.is_tensor(length)
            else torch.floor(length.double() * self.budget).long())
        if torch.is_tensor(tokens):
            return torch.clamp(tokens // self.unit, min=1)
        units = max(1, int(tokens) // self.unit)
        return torch.full_like(length, units) if torch.is_tensor(length) else units

    # ------------------------------------------------------------------ reset
    def _reset_instance(self, instance: TensorDictBase) -> TensorDictBase:
        validate_instance(instance, max_len=self.max_len, n_heads=self.n_heads)
        g, H = self.unit, self.n_heads
        A = instance["attn"]
        kn = instance["key_norm"].to(torch.float64)
        if self.budget_scope == "head":  # one stream per row: view it as a layer of one head
            A, kn = A[:, None], kn[:, None]
        B, _, N, _ = A.shape
        Nu = math.ceil(N / g)
        length = instance["length"].clone()
        n_units = (length + g - 1) // g
        # Unit attention: keys summed within a unit, queries averaged within a unit.
        pad = Nu * g - N
        if g == 1:
            Aq = A.to(torch.float64)  # token units: the unit attention is the trace itself
        else:
            # Block sums in the trace's float32 (16 terms), then float64 on the small result.
            A = torch.nn.functional.pad(A, (0, pad, 0, pad))
            Au = A.reshape(B, H, Nu * g, Nu, g).sum(-1, dtype=torch.float64)
            nq = torch.clamp(torch.minimum(torch.full((B, Nu), g),
                                           length[:, None] - torch.arange(Nu) * g), min=1)
            Aq = Au.reshape(B, H, Nu, g, Nu).sum(3) / nq[:, None, :, None]
        kn = torch.nn.functional.pad(kn, (0, pad))
        n_tok = torch.clamp(length[:, None] - torch.arange(Nu) * g, 0, g)
        knu = kn.reshape(B, H, Nu, g).sum(-1) / torch.clamp(n_tok, min=1)[:, None]
        p_units = (instance["n_prompt"] + g - 1) // g
        if self.prefill != "compress":
            p_units = torch.zeros_like(p_units)
        # Prompt-end statistics (compress): attention each unit got from all prompt queries and
        # from the last `window` of them. Decoding then updates them one query unit at a time.
        vs = torch.arange(Nu)
        in_p = (vs < p_units[:, None]).double()
        in_w = in_p * (vs >= (p_units - self.window)[:, None]).double()
        if self.prefill == "compress":
            col_p = torch.einsum("bhvu,bv->bhu", Aq, in_p)
            win_p = torch.einsum("bhvu,bv->bhu", Aq, in_w)
        else:  # never read: every query is a decode query
            col_p = win_p = torch.zeros(B, H, Nu, dtype=torch.float64)
        S = self.n_slots
        slot = torch.full((B, S), -1, dtype=torch.int64)
        slot[:, :H] = 0  # unit 0 of every head
        head = torch.where(slot >= 0, torch.arange(S), 0)
        first = torch.where((p_units > 0)[:, None], col_p[:, :, 0], Aq[:, :, 0, 0])  # [B, H]
        first_w = torch.where((p_units > 0)[:, None], win_p[:, :, 0], Aq[:, :, 0, 0])
        acc = torch.zeros(B, S, dtype=torch.float64)
        win = torch.zeros(B, S, dtype=torch.float64)
        acc[:, :H], win[:, :H] = first, first_w
        self.state = KVState(
            Aq=Aq, col_p=col_p, win_p=win_p, knu=knu, n_units=n_units,
            budget=self._budget_units(length) * H, p_units=p_units, slot=slot, head=head,
            acc=acc, win=win, v=torch.zeros(B, dtype=torch.int64),
            h=torch.full((B,), H - 1, dtype=torch.int64), done=torch.zeros(B, dtype=torch.bool))
        return self._observe(None)

    # ------------------------------------------------------------------ observation
    def _observe(self, reward: torch.Tensor | None) -> TensorDict:
        st = self.state
        slot, head, v, h, done = st.slot, st.head, st.v, st.h, st.done
        B, S = slot.shape
        b_ = torch.arange(B)[:, None].expand(B, S)
        valid = slot >= 0
        u = slot.clamp(min=0)
        # The query unit each slot's features summarise: its head's latest query (heads after
        # the newest entry's head have not run unit v yet), or the prompt's last unit while the
        # compressed prefill's kept set is being chosen.
        compress = v < st.p_units
        vq = torch.where(compress[:, None], (st.p_units - 1)[:, None],
                         v[:, None] - (head > h[:, None]).long()).clamp(min=0)
        acc = st.acc
        win = st.win / torch.clamp(vq + 1, max=self.window).double()
        cur = st.Aq[b_, head, vq, u]
        vf = v[:, None].double()
        new = (u == v[:, None]) & (head == h[:, None])
        feats = torch.stack([
            u / torch.clamp(vf, min=1.0),
            torch.log1p(vf - u) / math.log1p(self.max_units),
            acc, win,
            st.knu[b_, head, u],
            (u * self.unit < self.n_sink).double(),
            cur,
            new.double(),
        ], -1)
        feats = torch.where(valid[..., None], feats, 0.0).to(torch.float32)
        n_valid = valid.sum(1)
        decide = (n_valid > st.budget) & ~done
        mask = torch.where(decide[:, None], valid, torch.arange(S) == 0)
        glob = torch.stack([v.double() / torch.clamp(st.n_units - 1, min=1).double(),
                            torch.clamp(st.budget.double() / (self.n_heads * st.n_units).double(),
                                        max=1.0),
                            compress.double(), n_valid.double() / S], -1).to(torch.float32)
        out = TensorDict({
            "slot_features": feats, "global_features": glob,
            "position": torch.where(valid, u * self.unit, -1), "head": torch.where(valid, head, 0),
            "slot_valid": valid, "action_mask": mask, **self._done_td(done)}, batch_size=[B])
        if reward is not None:
            out["reward"] = reward.reshape(B, 1)
        return out

    # ------------------------------------------------------------------ step
    def _step_batch(self, td: TensorDictBase) -> TensorDictBase:
        st = self.state
        slot, head, v, h, done = st.slot, st.head, st.v, st.h, st.done
        B, S = slot.shape
        H = self.n_heads
        rows = torch.arange(B)
        a = td[self.action_key].reshape(B).long()
        if ((a < 0) | (a >= S)).any():
            raise ValueError(f"actions must be in [0, {S}), got {a.tolist()}")
        valid = slot >= 0
        decide = (valid.sum(1) > st.budget) & ~done
        if (decide & ~valid[rows, a.clamp(0, S - 1)]).any():
            raise ValueError("an action evicts an empty slot (masked action)")
        live = ~done
        slot[decide, a[decide]] = -1
        # Next entry: the next head of the same unit, or head 0 of the next unit.
        wrap = h == H - 1
        v_new = torch.where(live & wrap, v + 1, v)
        h_new = torch.where(live, torch.where(wrap, 0, h + 1), h)
        # Head h_new's cached units see one more query unit (v_new) when it is a decode query:
        # add it to their accumulated and windowed attention; the window drops unit v_new - w.
        Aq = st.Aq
        dec = live & (v_new >= st.p_units)
        u = slot.clamp(min=0)
        upd = dec[:, None] & (slot >= 0) & (head == h_new[:, None])
        hv = h_new[:, None].expand(B, S)
        gain = Aq[rows[:, None], hv, v_new[:, None].expand(B, S), u]
        old = v_new - self.window
        drop = torch.where((old >= 0)[:, None],
                           Aq[rows[:, None], hv, old.clamp(min=0)[:, None].expand(B, S), u], 0.0)
        st.acc += torch.where(upd, gain, 0.0)
        st.win += torch.where(upd, gain - drop, 0.0)
        # The new entry fills the lowest empty slot (the oracle replays the same convention).
        free = torch.argmax((slot < 0).to(torch.int8), dim=1)
        slot[live, free[live]] = v_new[live]
        head[live, free[live]] = h_new[live]
        own = Aq[rows, h_new, v_new, v_new]  # its first query: itself
        lv = live.nonzero().squeeze(1)
        st.acc[lv, free[lv]] = torch.where(dec, own, st.col_p[rows, h_new, v_new])[lv]
        st.win[lv, free[lv]] = torch.where(dec, own, st.win_p[rows, h_new, v_new])[lv]
        st.v, st.h = v_new, h_new
        mine = (slot >= 0) & (head == h_new[:, None])
        kept = torch.where(mine, st.Aq[rows[:, None], h_new[:, None], v_new[:, None],
                                          slot.clamp(min=0)], 0.0)
        recall = kept.sum(1) / H
        counted = live & (v_new >= st.p_units)  # prompt queries under compress run in full
        reward = torch.where(counted, recall, 0.0).to(torch.float32)
        st.done = done | (live & (v_new >= st.n_units - 1) & (h_new == H - 1))
        return self._observe(reward)

    # ------------------------------------------------------------------ oracles
    def check_solution(self, instance: TensorDictBase, actions: torch.Tensor) -> torch.Tensor:
        return oracle.check_solution(instance, actions, **self._oracle_kwargs())

    def evaluate(self, instance: TensorDictBase, actions: torch.Tensor) -> torch.Tensor:
        return oracle.evaluate(instance, actions, **self._oracle_kwargs())

    def legal_actions(self, instance: TensorDictBase, actions: torch.Tensor) -> torch.Tensor:
        return oracle.legal_actions(instance, actions, **self._oracle_kwargs())

    def _oracle_kwargs(self) -> dict:
        return {"budget": self.budget, "unit": self.unit, "n_slots": self.n_slots,
                "compress": self.prefill == "compress", "layer": self.budget_scope == "layer"}

    # ------------------------------------------------------------------ snapshot / restore
    #: the evolving part of ``KVState`` (the unit attention and its prompt statistics stay fixed)
    snapshot_fields = ("slot", "head", "acc", "win", "v", "h", "done")

    def _restored_td(self) -> TensorDict:
        return self._observe(None)

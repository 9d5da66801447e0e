"""The malloc env's internal state: what the numba step code reads and writes, kept apart from
the observation TensorDict (which ``env._td`` copies out of the observation buffers below).

Every array is per row ``[B, ...]`` (``N`` buffers padded, ``O`` ops, ``U`` uses, ``K`` candidate
slots). Placement codes in ``off``: ``>= 0`` fast-memory offset, ``-1`` slow, ``-2`` undecided.
"""
from __future__ import annotations

from dataclasses import dataclass
from types import SimpleNamespace

import numpy as np
from tensordict import TensorDictBase

from heurist.envs.malloc.candidates import block_size, buffer_order
from heurist.envs.malloc.cost_model import isolated_saving
from heurist.envs.malloc.dynamics import UNDECIDED
from heurist.envs.malloc.generator import row_instance

__all__ = ["N_BUFFER_FEATURES", "N_CANDIDATE_FEATURES", "N_PROGRESS", "MallocState", "init_state"]

N_BUFFER_FEATURES = 6     # size/C, start/T, end/T, length/T, isolated saving/T_slow, valid
N_CANDIDATE_FEATURES = 4  # offset/C, top/C, free gap/C, valid
N_PROGRESS = 4            # decided fraction, peak/C, time saved fraction, undos left fraction


@dataclass
class MallocState:
    """Per-row episode state of :class:`~heurist.envs.malloc.env.MallocEnv` (batch ``[B]``).

    Instance (fixed after reset):
        size, start, end: int64 [B, N] buffers; n_valid: int64 [B] real buffers of each row.
        cap, align: int64 [B] capacity and alignment; bwf, bws: float64 [B] bandwidths.
        n_steps: int64 [B] program length; comp: float64 [B, O] compute seconds of each op.
        u_op, u_bytes: int64 [B, U] uses sorted by buffer, CSR pointers ptr: int64 [B, N + 1].
        t_slow: float64 [B] all-slow program time; saving: float64 [B, N] isolated saving / T_slow.
        order: int64 [B, N] decision order; total_bytes: int64 [B].
    Time-block index of placed buffers (a LIFO pool of linked lists per row):
        bs: int64 [B] block length; head: int64 [B, n_blocks]; pool_buf, pool_next: int64
        [B, P]; pool_top: int64 [B]; stamp: int64 [B, N] and ctr: int64 [B] (dedup of a gather);
        g_off, g_top, g_start, g_end: int64 [B, N] gathered overlapping buffers (scratch).
    Episode:
        off: int64 [B, N] placements; pos: int64 [B] buffers decided; peak: int64 [B];
        op_fast, op_slow: int64 [B, O] bytes each op moves in fast / slow memory;
        peak_stack: int64 [B, N], reward_stack: float64 [B, N] per decision (for UNDO);
        saved: float64 [B] time saved so far; undos_left: int64 [B]; done, failed: bool [B].
    Observation buffers (filled by ``dynamics.observe_rows``):
        cand_off, cand_gap: int64 [B, K]; n_cand: int64 [B]; mask: bool [B, n_actions];
        buf_feat: float32 [B, L + 1, 6]; cand_feat: float32 [B, K, 4]; occ, sky: float32
        [B, n_bins]; prog: float32 [B, 4]; reward: float64 [B] of the last step.
    """

    size: np.ndarray
    start: np.ndarray
    end: np.ndarray
    n_valid: np.ndarray
    cap: np.ndarray
    align: np.ndarray
    bwf: np.ndarray
    bws: np.ndarray
    n_steps: np.ndarray
    comp: np.ndarray
    u_op: np.ndarray
    u_bytes: np.ndarray
    ptr: np.ndarray
    op_fast: np.ndarray
    op_slow: np.ndarray
    t_slow: np.ndarray
    saving: np.ndarray
    order: np.ndarray
    total_bytes: np.ndarray
    bs: np.ndarray
    head: np.ndarray
    pool_buf: np.ndarray
    pool_next: np.ndarray
    pool_top: np.ndarray
    stamp: np.ndarray
    ctr: np.ndarray
    g_off: np.ndarray
    g_top: np.ndarray
    g_start: np.ndarray
    g_end: np.ndarray
    off: np.ndarray
    pos: np.ndarray
    peak: np.ndarray
    peak_stack: np.ndarray
    reward_stack: np.ndarray
    saved: np.ndarray
    undos_left: np.ndarray
    done: np.ndarray
    failed: np.ndarray
    cand_off: np.ndarray
    cand_gap: np.ndarray
    n_cand: np.ndarray
    mask: np.ndarray
    buf_feat: np.ndarray
    cand_feat: np.ndarray
    occ: np.ndarray
    sky: np.ndarray
    prog: np.ndarray
    reward: np.ndarray


def init_state(instance: TensorDictBase, *, mapping: bool, undo: bool, k: int, max_undos: int,
               order: str, lookahead: int, n_bins: int, n_actions: int) -> MallocState:
    """The state at the start of one episode per row of ``instance`` [B] (see ``generator``).

    Raises:
        ValueError: a missing instance field, ``valid`` not a prefix, or (packing) a buffer
            larger than the capacity.
    """
    g = {key: v.cpu().numpy() for key, v in instance.items()}
    for key in ("size", "start", "end", "valid", "op_flops", "use_buffer", "use_op",
                "use_bytes", "n_buffers", "n_ops", "n_uses", "capacity", "alignment",
                "bw_fast", "bw_slow", "flops_per_s"):
        if key not in g:
            raise ValueError(f"MallocEnv: instance TensorDict lacks field {key!r}")
    B, N = g["size"].shape
    s = SimpleNamespace()
    s.size = np.ascontiguousarray(g["size"], np.int64)
    s.start = np.ascontiguousarray(g["start"], np.int64)
    s.end = np.ascontiguousarray(g["end"], np.int64)
    s.n_valid = g["valid"].sum(1).astype(np.int64)
    if not np.array_equal(g["valid"], np.arange(N)[None, :] < s.n_valid[:, None]):
        raise ValueError("MallocEnv: instance field 'valid' must mark a prefix of each row")
    s.cap = g["capacity"].astype(np.int64)
    s.align = np.maximum(g["alignment"].astype(np.int64), 1)
    s.bwf, s.bws = g["bw_fast"].astype(np.float64), g["bw_slow"].astype(np.float64)
    valid = g["valid"]
    if not mapping:
        big = valid & (s.size > s.cap[:, None])
        if big.any():
            i, b = np.argwhere(big)[0]
            raise ValueError(f"MallocEnv: instance row {i}, buffer {b}: size {s.size[i, b]} > "
                             f"capacity {s.cap[i]}, packing is infeasible")
    s.n_steps = np.where(valid, s.end, 0).max(1).astype(np.int64)
    # cost model state: per-op compute seconds and fast/slow bytes; uses as CSR by buffer
    O = g["op_flops"].shape[1]
    s.comp = g["op_flops"] / np.maximum(g["flops_per_s"][:, None], 1e-30)
    U = g["use_buffer"].shape[1]
    n_uses = g["n_uses"].astype(np.int64)
    live = np.arange(U)[None, :] < n_uses[:, None]
    ub = np.where(live, g["use_buffer"], N)  # padding uses sort last, on no buffer
    srt = np.argsort(ub, axis=1, kind="stable")
    s.u_op = np.ascontiguousarray(np.take_along_axis(g["use_op"], srt, 1), np.int64)
    s.u_bytes = np.ascontiguousarray(
        np.where(np.take_along_axis(live, srt, 1), np.take_along_axis(g["use_bytes"], srt, 1),
                 0), np.int64)
    counts = np.stack([np.bincount(ub[i], minlength=N + 1)[:N] for i in range(B)])
    s.ptr = np.zeros((B, N + 1), np.int64)
    s.ptr[:, 1:] = np.cumsum(counts, 1)
    s.op_fast = np.zeros((B, O), np.int64)
    s.op_slow = np.stack([np.bincount(g["use_op"][i], weights=np.where(live[i],
                          g["use_bytes"][i], 0), minlength=O) for i in range(B)]
                         ).astype(np.int64)
    slow_t = np.maximum(s.comp, s.op_slow / s.bws[:, None])
    s.t_slow = slow_t.sum(1)
    # isolated saving of each buffer, by the cost model: the "msa" order key (raw seconds, so
    # the oracle's order is bit-identical) and, over T_slow, a feature
    s.saving = np.zeros((B, N), np.float64)
    s.order = np.zeros((B, N), np.int64)
    for i in range(B):
        n = s.n_valid[i]
        raw = isolated_saving(row_instance(instance, i))
        s.order[i, :n] = buffer_order(s.size[i, :n], s.start[i, :n], s.end[i, :n], raw,
                                      order)
        if s.t_slow[i] > 0:
            s.saving[i, :n] = raw / s.t_slow[i]
    s.total_bytes = np.where(valid, s.size, 0).sum(1)
    # time-block index of placed buffers (LIFO pool per row)
    s.bs = np.array([block_size(t) for t in s.n_steps], np.int64)
    n_blk = (np.maximum(s.n_steps, 1) - 1) // s.bs + 1
    cover = np.where(valid, (s.end - 1) // s.bs[:, None] - s.start // s.bs[:, None] + 1, 0)
    s.head = np.full((B, int(n_blk.max())), -1, np.int64)
    P = max(int(cover.sum(1).max()), 1)
    s.pool_buf = np.zeros((B, P), np.int64)
    s.pool_next = np.zeros((B, P), np.int64)
    s.pool_top = np.zeros(B, np.int64)
    s.stamp = np.zeros((B, N), np.int64)
    s.ctr = np.zeros(B, np.int64)
    s.g_off, s.g_top, s.g_start, s.g_end = (np.zeros((B, N), np.int64) for _ in range(4))
    s.off = np.full((B, N), UNDECIDED, np.int64)
    s.pos = np.zeros(B, np.int64)
    s.peak = np.zeros(B, np.int64)
    s.peak_stack = np.zeros((B, N), np.int64)
    s.reward_stack = np.zeros((B, N), np.float64)
    s.saved = np.zeros(B, np.float64)
    s.undos_left = np.full(B, max_undos if undo else 0, np.int64)
    s.done = s.n_valid == 0
    s.failed = np.zeros(B, bool)
    s.cand_off = np.zeros((B, k), np.int64)
    s.cand_gap = np.zeros((B, k), np.int64)
    s.n_cand = np.zeros(B, np.int64)
    s.mask = np.zeros((B, n_actions), bool)
    s.buf_feat = np.zeros((B, lookahead + 1, N_BUFFER_FEATURES), np.float32)
    s.cand_feat = np.zeros((B, k, N_CANDIDATE_FEATURES), np.float32)
    s.occ = np.zeros((B, n_bins), np.float32)
    s.sky = np.zeros((B, n_bins), np.float32)
    s.prog = np.zeros((B, N_PROGRESS), np.float32)
    s.reward = np.zeros(B, np.float64)
    return MallocState(**vars(s))

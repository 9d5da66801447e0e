"""The malloc env: place a program's buffers one at a time (packing or mapping mode).

The MDP (shapes, rewards, penalty) is written out in ``envs/malloc/README.md``. Actions
``[0, K)`` pick one of the K lowest canonical candidate offsets (``candidates.py``); in mapping mode
action ``K`` is ``LEAVE_IN_SLOW``; with ``undo=True`` the last action is ``UNDO``.
"""
from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import torch
from tensordict import TensorDict, TensorDictBase
from torchrl.data import Binary, Categorical, Composite, Unbounded

from heurist.envs.common import HeuristEnv, register
from heurist.envs.malloc import oracle
from heurist.envs.malloc.candidates import ORDERS
from heurist.envs.malloc.dynamics import greedy_rows, observe_rows, step_rows
from heurist.envs.malloc.generator import InstanceListGenerator, SyntheticGenerator
from heurist.envs.malloc.instance import MallocInstance
from heurist.envs.malloc.modes import PLAN_MODES
from heurist.envs.malloc.state import (
    N_BUFFER_FEATURES,
    N_CANDIDATE_FEATURES,
    N_PROGRESS,
    MallocState,
    init_state,
)

__all__ = ["N_BUFFER_FEATURES", "N_CANDIDATE_FEATURES", "N_PROGRESS", "MallocEnv",
           "lowest_candidate_action"]


def lowest_candidate_action(mask: torch.Tensor) -> torch.Tensor:
    """The greedy policy: the first legal action of ``mask`` [B, n_actions] -> [B]. That is the
    lowest feasible offset, else ``LEAVE_IN_SLOW`` (mapping) or ``UNDO`` (a packing dead end)."""
    return mask.to(torch.int8).argmax(-1)


@register("Malloc")  # declared, with its test_kwargs, in heurist.envs.ENVS
class MallocEnv(HeuristEnv):
    """mallocGame / MiniMalloc as a batched TorchRL env.

    Args (keyword-only):
        mode: ``"mapping"`` (fast offset or LEAVE_IN_SLOW, reward = fraction of cost-model time
            saved) or ``"packing"`` (every buffer needs an offset; reward = -peak increase / C).
        k: candidate offset slots K.
        lookahead: L buffers after the current one in the observation.
        n_bins: bins of the occupancy and skyline observations.
        order: ``"start"``, ``"size"`` or ``"msa"`` decision order.
        undo: add the ``UNDO`` action (at most ``max_undos`` per episode).
        n_buffers, capacity_fraction: the default synthetic generator.
        instances: sample from these instances instead (overrides ``generator``).
        generator: ``(batch_size, rng) -> instance TensorDict``.
    """

    state: MallocState  # the episodes' internal state (``state.py``), set by every reset

    def __init__(self, *, mode: str = "mapping", k: int = 8, lookahead: int = 4,
                 n_bins: int = 16, order: str = "start", undo: bool = False, max_undos: int = 16,
                 n_buffers: int = 64, capacity_fraction: float | None = None,
                 instances: Sequence[MallocInstance] | None = None,
                 generator: Callable | None = None, seed: int = 0,
                 device: str | torch.device = "cpu") -> None:
        if mode not in PLAN_MODES:
            raise ValueError(f"MallocEnv: mode={mode!r}, expected one of {PLAN_MODES}")
        if order not in ORDERS:
            raise ValueError(f"MallocEnv: order={order!r}, expected one of {ORDERS}")
        for name, v, lo in (("k", k, 1), ("lookahead", lookahead, 0), ("n_bins", n_bins, 1),
                            ("max_undos", max_undos, 0)):
            if int(v) != v or v < lo:
                raise ValueError(f"MallocEnv: {name} must be an integer >= {lo}, got {v!r}")
        if instances is not None:
            generator = InstanceListGenerator(instances)
        elif generator is None:
            generator = SyntheticGenerator(mode=mode, n_buffers=n_buffers,
                                           capacity_fraction=capacity_fraction)
        super().__init__(generator=generator, seed=seed, device=device)
        self.mode, self.k, self.lookahead, self.n_bins = mode, int(k), int(lookahead), int(n_bins)
        self.order, self.undo, self.max_undos = order, bool(undo), int(max_undos)
        self.mapping = mode == "mapping"
        if not self.mapping:  # packing never moves bytes between memories: the per-op byte
            # counters stay as reset left them, and copying them per search node cost ~17 MB a
            # node on MiniMalloc's A (2^20 time steps = ops)
            self.snapshot_fields = tuple(f for f in MallocEnv.snapshot_fields
                                         if f not in ("op_fast", "op_slow"))
        self.leave_action = self.k if self.mapping else -1
        self.undo_action = self.k + int(self.mapping) if self.undo else -1
        self.n_actions = self.k + int(self.mapping) + int(self.undo)
        f32 = torch.float32
        self.observation_spec = Composite(
            buffers=Unbounded(shape=(self.lookahead + 1, N_BUFFER_FEATURES), dtype=f32),
            candidates=Unbounded(shape=(self.k, N_CANDIDATE_FEATURES), dtype=f32),
            occupancy=Unbounded(shape=(self.n_bins,), dtype=f32),
            skyline=Unbounded(shape=(self.n_bins,), dtype=f32),
            progress=Unbounded(shape=(N_PROGRESS,), dtype=f32),
            action_mask=Binary(n=self.n_actions, shape=(self.n_actions,), dtype=torch.bool),
            shape=())
        self.action_spec = Categorical(n=self.n_actions, shape=(), dtype=torch.int64)
        self.reward_spec = Unbounded(shape=(1,), dtype=f32)
        self.done_spec = Composite(done=Categorical(n=2, shape=(1,), dtype=torch.bool),
                                   terminated=Categorical(n=2, shape=(1,), dtype=torch.bool),
                                   shape=())

    # ------------------------------------------------------------------ reset
    def _reset_instance(self, instance: TensorDictBase) -> TensorDictBase:
        self.state = init_state(instance, mapping=self.mapping, undo=self.undo, k=self.k,
                                max_undos=self.max_undos, order=self.order,
                                lookahead=self.lookahead, n_bins=self.n_bins,
                                n_actions=self.n_actions)
        self._observe()
        return self._td(with_reward=False)

    # ------------------------------------------------------------------ step
    def _observe(self) -> None:
        s = self.state
        observe_rows(self.mapping, self.undo, self.k, s.size, s.start, s.end, s.order, s.n_valid,
                     s.pos, s.off, s.cap, s.align, s.n_steps, s.saving, s.peak, s.saved,
                     s.undos_left, self.max_undos, s.done, s.failed, s.total_bytes, s.bs, s.head,
                     s.pool_buf, s.pool_next, s.stamp, s.ctr, s.g_off, s.g_top, s.g_start,
                     s.g_end, s.cand_off, s.cand_gap, s.n_cand, s.mask, s.buf_feat, s.cand_feat,
                     s.occ, s.sky, s.prog, s.reward)

    def _step_batch(self, tensordict: TensorDictBase) -> TensorDictBase:
        s = self.state
        actions = np.ascontiguousarray(tensordict["action"].reshape(-1).cpu().numpy(), np.int64)
        if actions.shape[0] != s.done.shape[0]:
            raise ValueError(f"MallocEnv: {actions.shape[0]} actions for a batch of "
                             f"{s.done.shape[0]} episodes")
        bad = step_rows(actions, self.mapping, self.undo, self.k, s.size, s.start, s.end, s.order,
                        s.n_valid, s.pos, s.off, s.cap, s.align, s.ptr, s.u_op, s.u_bytes, s.comp,
                        s.op_fast, s.op_slow, s.bwf, s.bws, s.t_slow, s.total_bytes, s.peak,
                        s.peak_stack, s.reward_stack, s.saved, s.undos_left, s.done, s.failed,
                        s.bs, s.head, s.pool_buf, s.pool_next, s.pool_top, s.cand_off, s.n_cand,
                        s.reward)
        if bad >= 0:
            raise ValueError(f"MallocEnv: row {bad}: action {int(actions[bad])} is masked "
                             f"(legal: {np.flatnonzero(s.mask[bad]).tolist()})")
        self._observe()
        return self._td(with_reward=True)

    def _td(self, *, with_reward: bool) -> TensorDict:
        s = self.state
        B = s.done.shape[0]
        data = {"buffers": torch.from_numpy(s.buf_feat.copy()),
                "candidates": torch.from_numpy(s.cand_feat.copy()),
                "occupancy": torch.from_numpy(s.occ.copy()),
                "skyline": torch.from_numpy(s.sky.copy()),
                "progress": torch.from_numpy(s.prog.copy()),
                "action_mask": torch.from_numpy(s.mask.copy())}
        data.update(self._done_td(torch.from_numpy(s.done.copy())))
        if with_reward:
            data["reward"] = torch.from_numpy(s.reward.astype(np.float32)).reshape(B, 1)
        return TensorDict(data, batch_size=[B], device=self.device)

    def rand_action(self, tensordict: TensorDictBase | None = None) -> TensorDictBase:
        """A uniform *legal* action from ``tensordict['action_mask']`` (TorchRL's random policy)."""
        if tensordict is None:
            raise ValueError("MallocEnv.rand_action needs the current tensordict")
        mask = tensordict["action_mask"]
        u = torch.from_numpy(self.rng.random(mask.shape)).to(mask.device)
        # the argmax of uniform noise over the legal slots is a uniform legal action
        tensordict[self.action_key] = torch.where(mask, u + 1.0, 0.0).argmax(-1)
        return tensordict

    def greedy_episode(self, instance: TensorDictBase) -> np.ndarray:
        """Plays the greedy policy (``lowest_candidate_action``) on ``instance`` [B] to the end
        in one numba call (no TensorDict per step); returns each row's return, ``float64 [B]``.
        The plans are then in ``plans()``. Same dynamics as ``step``, for fast baselines."""
        self._reset_instance(instance)
        return self.greedy_rollout()

    # ------------------------------------------------------------------ results
    def plans(self) -> np.ndarray:
        """``int64 [B, N]`` offsets of the current episodes (``-1`` slow, ``-2`` undecided)."""
        return self.state.off.copy()

    def failed(self) -> np.ndarray:
        """``bool [B]``: packing episodes that ended at a dead end."""
        return self.state.failed.copy()

    # ------------------------------------------------------------------ oracles
    def _rules(self) -> dict:
        """The configuration the oracles read an action log under (``replay.Rules``)."""
        return {"mode": self.mode, "k": self.k, "order": self.order, "undo": self.undo,
                "max_undos": self.max_undos}

    def check_solution(self, instance: TensorDictBase, actions: torch.Tensor) -> torch.Tensor:
        """Every action legal and the plan feasible -> bool [B] (``oracle.check_solution``)."""
        return oracle.check_solution(instance, actions, **self._rules())

    def evaluate(self, instance: TensorDictBase, actions: torch.Tensor) -> torch.Tensor:
        """The return of each row's log -> float64 [B] (``oracle.evaluate``)."""
        return oracle.evaluate(instance, actions, **self._rules())

    def legal_actions(self, instance: TensorDictBase, actions: torch.Tensor) -> torch.Tensor:
        """The legal actions after a log prefix -> bool [B, n_actions] (``oracle.legal_actions``,
        a plain-numpy replay, independent of the step code and its mask)."""
        return oracle.legal_actions(instance, actions, **self._rules())

    # ------------------------------------------------------------------ snapshot / restore
    #: the evolving part of ``MallocState``; ``stamp``/``ctr`` (a gather's dedup marks, only ever
    #: compared with a larger new ``ctr``) and the ``g_*`` scratch need no copy
    snapshot_fields = ("off", "pos", "peak", "op_fast", "op_slow", "peak_stack", "reward_stack",
                       "saved", "undos_left", "done", "failed", "head", "pool_buf", "pool_next",
                       "pool_top", "cand_off", "cand_gap", "n_cand", "mask", "buf_feat",
                       "cand_feat", "occ", "sky", "prog", "reward")

    def _restored_td(self) -> TensorDict:
        return self._td(with_reward=False)

    def greedy_rollout(self) -> np.ndarray:
        """Plays the greedy policy from the *current* state of every row to its end (in one
        numba call, as ``greedy_episode``); returns the return collected from here, ``float64
        [B]``. The state is then the end of those episodes (``snapshot``/``restore`` around it to
        use it as a search's leaf evaluation)."""
        s = self.state
        returns = np.zeros(s.done.shape[0], np.float64)
        greedy_rows(self.mapping, self.undo, self.k, s.size, s.start, s.end, s.order, s.n_valid,
                    s.pos, s.off, s.cap, s.align, s.n_steps, s.saving, s.ptr, s.u_op, s.u_bytes,
                    s.comp, s.op_fast, s.op_slow, s.bwf, s.bws, s.t_slow, s.total_bytes, s.peak,
                    s.peak_stack, s.reward_stack, s.saved, s.undos_left, self.max_undos, s.done,
                    s.failed, s.bs, s.head, s.pool_buf, s.pool_next, s.pool_top, s.stamp, s.ctr,
                    s.g_off, s.g_top, s.g_start, s.g_end, s.cand_off, s.cand_gap, s.n_cand,
                    s.mask, s.buf_feat, s.cand_feat, s.occ, s.sky, s.prog, s.reward, returns)
        return returns

"""PVRP with one vehicle acting per step (for single-agent pointer policies).

Which vehicle acts is fixed by a round-robin rule, not by float times, so the action log alone
determines it exactly: after vehicle ``k`` acted, the next to act is the first *active* vehicle in
the cyclic order ``k+1, k+2, ..., k`` (the first decision goes to the first active vehicle from 0).
A vehicle is active when it is away from the depot, or at the depot with a feasible client
(:func:`~heurist.envs.pvrp.masks.active_vehicles`). The acting vehicle's mask is row
``current_vehicle`` of the parallel env's mask, so it never stays at the depot; the episode ends when
no vehicle is active (all clients served, all vehicles home).

With ``retire=True`` (torch backend) the parallel env's retire rule applies to the acting vehicle:
at the depot with a feasible client it may also choose the depot, to retire for good, when
:func:`~heurist.envs.pvrp.masks.can_retire` allows it (no open client it could serve would be left
without a server); a retired vehicle has no client move, so it is never active again.
"""
from __future__ import annotations

import numba
import numpy as np
import torch
from tensordict import TensorDict, TensorDictBase
from torchrl.data import Binary, Categorical, Composite

from heurist.envs.common import register
from heurist.envs.pvrp import oracle
from heurist.envs.pvrp.env import PVRPEnv, travel
from heurist.envs.pvrp.masks import (
    active_vehicles,
    f32,
    mark_served,
    refresh_row,
    retire_masks,
    vehicle_masks,
)
from heurist.envs.pvrp.masks import dist_f32 as _dist
from heurist.envs.pvrp.state import PVRPState

__all__ = ["PVRPSequentialEnv", "greedy_rollout_kernel", "next_vehicle", "sequential_kernel"]


def next_vehicle(active: torch.Tensor, last: torch.Tensor) -> torch.Tensor:
    """First active vehicle after ``last`` in cyclic order: ``active`` [B, M] bool, ``last`` [B]
    (-1 before the first decision) -> [B] int64 (0 when no vehicle is active)."""
    M = active.shape[-1]
    order = (torch.arange(M, device=active.device) - last.unsqueeze(-1) - 1) % M
    return torch.where(active, order, M).argmin(-1)


@numba.njit(cache=True, boundscheck=False)
def _illegal_seq(action, cur, mask, n_clients):  # pragma: no cover
    """First row whose action [B] is out of range or masked for its acting vehicle, or -1."""
    for b in range(action.shape[0]):
        j = action[b]
        if j < 0 or j > n_clients or not mask[b, cur[b], j]:
            return b
    return -1


@numba.njit(cache=True, boundscheck=False)
def sequential_kernel(action, cur, locs, demand, capacity, speed, pref_gain, avail, w_time,
                      minmax, pos, load, time, served, mask, any_client, new_cur, reward,
                      done):  # pragma: no cover
    """The sequential step fused row by row: vehicle ``cur[b]`` goes to ``action[b]``.

    ``pos``/``load``/``time``/``served`` are copies of the state, updated in place; ``avail`` is
    updated in place; writes ``mask``, ``any_client``, ``new_cur``, ``reward`` and ``done``.
    """
    B, M = pos.shape
    for b in range(B):
        k = cur[b]
        j = action[b]
        p = pos[b, k]
        old_max = time[b, 0]
        for m in range(M):
            old_max = max(old_max, time[b, m])
        t_old = time[b, k]
        t_new = f32(t_old + f32(_dist(locs, b, p, j) / speed[b, k]))
        time[b, k] = t_new
        new_max = time[b, 0]
        for m in range(M):
            new_max = max(new_max, time[b, m])
        pos[b, k] = j
        gain = np.float32(0.0)
        if j == 0:
            load[b, k] = capacity[b, k]
        else:
            load[b, k] = f32(load[b, k] - demand[b, j])
            gain = pref_gain[b, k, j]
            served[b, j] = True
            for m in range(M):
                avail[b, m, j] = False
        dt = f32(new_max - old_max) if minmax else f32(t_new - t_old)
        reward[b] = f32(gain - f32(w_time * dt))
        refresh_row(b, avail, demand, load, pos, mask, any_client)
        nxt = -1
        for i in range(1, M + 1):
            m = (k + i) % M
            if pos[b, m] != 0 or any_client[b, m]:
                nxt = m
                break
        done[b] = nxt < 0
        new_cur[b] = k if nxt < 0 else nxt


@numba.njit(cache=True, boundscheck=False)
def greedy_rollout_kernel(cur, live, locs, demand, capacity, speed, pref_gain, avail, w_time,
                          minmax, pos, load, time, served, mask, any_client,
                          returns):  # pragma: no cover
    """Plays the greedy policy to the end of every ``live`` row [B], on the state arrays given
    (copies: updated in place) and writes each row's summed reward to ``returns`` [B] (float64).

    Greedy: the acting vehicle goes to the legal client with the best immediate score
    ``pref_gain[k, j] - w_time * d(pos, j) / speed[k]`` (float64; ties to the lowest index), and
    to the depot when it has no legal client (the depot is then legal: the vehicle is away, or
    inactive and never asked)."""
    N1 = demand.shape[1]
    act, cur1, nxt = np.zeros(1, np.int64), np.zeros(1, np.int64), np.zeros(1, np.int64)
    reward, done = np.zeros(1, np.float32), np.zeros(1, np.bool_)
    wt = np.float32(w_time)
    for b in range(pos.shape[0]):
        if not live[b]:
            returns[b] = 0.0
            continue
        k = cur[b]
        total = 0.0
        while True:
            p = pos[b, k]
            best, best_score = 0, -np.inf
            for j in range(1, N1):
                if mask[b, k, j]:
                    dx = np.float64(locs[b, p, 0]) - np.float64(locs[b, j, 0])
                    dy = np.float64(locs[b, p, 1]) - np.float64(locs[b, j, 1])
                    score = (np.float64(pref_gain[b, k, j])
                             - w_time * np.sqrt(dx * dx + dy * dy) / np.float64(speed[b, k]))
                    if score > best_score:
                        best, best_score = j, score
            act[0], cur1[0] = best, k
            # the env's own step kernel on this row (1-row views), so the rollout's dynamics
            # and rewards are the step's, bit for bit
            sequential_kernel(act, cur1, locs[b:b + 1], demand[b:b + 1], capacity[b:b + 1],
                              speed[b:b + 1], pref_gain[b:b + 1], avail[b:b + 1], wt, minmax,
                              pos[b:b + 1], load[b:b + 1], time[b:b + 1], served[b:b + 1],
                              mask[b:b + 1], any_client[b:b + 1], nxt, reward, done)
            total += np.float64(reward[0])
            if done[0]:
                break
            k = nxt[0]
        returns[b] = total


@register("PVRPSequential")  # declared, with its test_kwargs, in heurist.envs.ENVS
class PVRPSequentialEnv(PVRPEnv):
    """Profiled VRP with one vehicle acting per step (round robin over the active vehicles).

    Same arguments, instances, observations and reward as :class:`PVRPEnv`, plus the observation
    ``current_vehicle`` [] (int64); the action is one node [] and ``action_mask`` is [N + 1].
    ``retire=True`` (torch backend): the acting vehicle, at the depot with a feasible client, may
    choose the depot to retire for good where no client would be stranded (the parallel env's
    rule, :func:`~heurist.envs.pvrp.masks.retire_masks`); a retired vehicle never acts again.
    """

    def _make_specs(self) -> None:
        N, M = self.n_clients, self.n_vehicles
        obs = self._common_obs_specs()
        obs["current_vehicle"] = Categorical(n=M, shape=(), dtype=torch.int64)
        obs["action_mask"] = Binary(n=N + 1, shape=(N + 1,), dtype=torch.bool)
        self.observation_spec = Composite(**obs, shape=())
        self.action_spec = Categorical(n=N + 1, shape=(), dtype=torch.int64)
        self._make_reward_done_specs()

    def _observe_seq(self, s: PVRPState, cur: torch.Tensor) -> dict[str, torch.Tensor]:
        obs = self._observe(s)
        obs["current_vehicle"] = cur
        obs["action_mask"] = s.mask[torch.arange(cur.shape[0], device=cur.device), cur]
        return obs

    def _reset_instance(self, instance: TensorDictBase) -> TensorDictBase:
        s = self._initial_state(instance)
        B = s.pos.shape[0]
        self.state = s
        s.current = next_vehicle(active_vehicles(s.pos, s.any_client),
                                 torch.full((B,), -1, dtype=torch.int64, device=self.device))
        done = torch.zeros(B, dtype=torch.bool, device=self.device)
        return TensorDict({**self._observe_seq(s, s.current), **self._done_td(done)},
                          batch_size=[B], device=self.device)

    def _step_batch(self, td: TensorDictBase) -> TensorDictBase:
        B = self.state.pos.shape[0]
        if td.batch_size[0] != B:
            raise ValueError(f"PVRPSequentialEnv: step batch {td.batch_size[0]} != reset batch {B}")
        a = self._read_action(td, (B,))
        advance = self._advance_numba if self.backend == "numba" else self._advance_torch
        reward, done = advance(a)
        out = {**self._observe_seq(self.state, self.state.current), "reward": reward.unsqueeze(-1),
               **self._done_td(done)}
        if self.backend == "numba":  # every entry is built here in its spec's shape and dtype
            return TensorDict._new_unsafe(out, batch_size=torch.Size([B]), device=self.device)
        return TensorDict(out, batch_size=[B], device=self.device)

    def _advance_torch(self, a: torch.Tensor):
        """Vectorized torch step (any device): updates the state; returns (reward, done) [B]."""
        s = self.state
        k = s.current
        rows = torch.arange(a.shape[0], device=self.device)
        self._check_legal(s.mask[rows, k], a)
        acting = torch.nn.functional.one_hot(k, self.n_vehicles).to(torch.bool)  # [B, M]
        pos = torch.where(acting, a.unsqueeze(-1), s.pos)
        time = s.time + travel(s.locs, s.pos, pos) / s.speed
        served = s.served.clone()
        served[rows, a] = True
        served[:, 0] = False
        mark_served(s.avail, a.unsqueeze(-1))
        load = torch.where(acting, torch.where((a == 0).unsqueeze(-1), s.capacity,
                                               s.load - s.demand.gather(1, a.unsqueeze(-1))),
                           s.load)
        gain = s.pref_gain[rows, k, a]
        reward = gain - self.weights.w_time * self._time_term(s.time, time)
        if self.retire:
            # the depot chosen at the depot with a feasible client is a retirement; the mask
            # allowed it only where can_retire did, so no client is stranded
            asks = (a == 0) & (s.pos[rows, k] == 0) & s.any_client[rows, k]
            s.retired = s.retired | (acting & asks.unsqueeze(-1))
            mask, any_client = retire_masks(s.avail, s.demand, load, pos, s.capacity, s.retired)
        else:
            mask, any_client = vehicle_masks(s.avail, s.demand, load, pos)
        active = active_vehicles(pos, any_client)
        done = ~active.any(-1)
        s.current = torch.where(done, k, next_vehicle(active, k))
        s.pos, s.time, s.served, s.load = pos, time, served, load
        s.mask, s.any_client = mask, any_client
        return reward, done

    def _advance_numba(self, a: torch.Tensor):
        """The fused numba step (CPU): same rule as :meth:`_advance_torch`, one pass per row."""
        s = self.state
        k = s.current
        a_np = a.contiguous().numpy()
        bad = _illegal_seq(a_np, k.numpy(), s.mask.numpy(), self.n_clients)
        if bad >= 0:
            self._raise_illegal(bad, tuple(a_np.shape))
        B = a_np.shape[0]
        pos, load, time = s.pos.clone(), s.load.clone(), s.time.clone()
        served, mask = s.served.clone(), torch.empty_like(s.mask)
        any_client, cur = torch.empty_like(s.any_client), torch.empty_like(k)
        reward = torch.empty(B, dtype=torch.float32)
        done = torch.empty(B, dtype=torch.bool)
        sequential_kernel(a_np, k.numpy(), s.locs.numpy(), s.demand.numpy(), s.capacity.numpy(),
                          s.speed.numpy(), s.pref_gain.numpy(), s.avail.numpy(),
                          np.float32(self.weights.w_time), self.weights.minmax, pos.numpy(),
                          load.numpy(), time.numpy(), served.numpy(), mask.numpy(),
                          any_client.numpy(), cur.numpy(), reward.numpy(), done.numpy())
        s.pos, s.time, s.served, s.load = pos, time, served, load
        s.mask, s.any_client = mask, any_client
        s.current = cur
        return reward, done

    # ------------------------------------------------------------------ leaf value
    def greedy_rollout(self) -> np.ndarray:
        """The return (summed step rewards) of the greedy policy played from the *current* state
        of every row to its end: float64 [B], 0 for a finished row. The acting vehicle takes its
        legal client of best immediate reward ``w_pref * preference - w_time * travel time``
        (ties to the lowest index), else the depot (:func:`greedy_rollout_kernel`, one numba
        call on copies of the state). The env's state is left unchanged (the search's leaf
        value, as ``MallocEnv.greedy_rollout``; that one moves its env to the end)."""
        s = self.state
        if s is None:
            raise RuntimeError("PVRPSequentialEnv.greedy_rollout before reset")
        c = lambda x: x.detach().cpu().numpy().copy()  # the rollout must not touch the state
        pos, load, time, served = c(s.pos), c(s.load), c(s.time), c(s.served)
        avail, mask, any_client, cur = c(s.avail), c(s.mask), c(s.any_client), c(s.current)
        if self.retire:  # greedy never retires; a retired vehicle keeps no client, so no move
            avail &= ~c(s.retired)[:, :, None]
        live = ~c(self._done(s))
        n = lambda x: np.ascontiguousarray(x.detach().cpu().numpy())
        returns = np.zeros(pos.shape[0], np.float64)
        greedy_rollout_kernel(cur, live, n(s.locs), n(s.demand), n(s.capacity), n(s.speed),
                              n(s.pref_gain), avail, float(self.weights.w_time),
                              self.weights.minmax, pos, load, time, served, mask, any_client,
                              returns)
        return returns

    # ------------------------------------------------------------------ oracles
    def _log(self, instance: TensorDictBase, actions: torch.Tensor) -> torch.Tensor:
        """Checks the log's shape against this env ([B, T]) and the instance's sizes."""
        self._instances(instance)
        actions = torch.as_tensor(actions)
        if actions.ndim != 2 or actions.shape[0] != instance.batch_size[0]:
            raise ValueError(f"PVRPSequentialEnv: actions must be [B={instance.batch_size[0]}, T], "
                             f"got {list(actions.shape)}")
        return actions

    def check_solution(self, instance: TensorDictBase, actions: torch.Tensor,
                       priorities: None = None) -> torch.Tensor:
        """Whether each row's log [B, T] takes only legal actions and ends the episode with valid
        routes (:mod:`.oracle`) -> bool [B]."""
        return oracle.check_solution(instance, self._log(instance, actions), weights=self.weights,
                                     priorities=priorities, retire=self.retire)

    def evaluate(self, instance: TensorDictBase, actions: torch.Tensor,
                 priorities: None = None) -> torch.Tensor:
        """Minus the oracle objective of each row's routes -> float64 [B]; NaN when invalid or
        unfinished."""
        return oracle.evaluate(instance, self._log(instance, actions), weights=self.weights,
                               priorities=priorities, retire=self.retire)

    def legal_actions(self, instance: TensorDictBase, actions: torch.Tensor,
                      priorities: None = None) -> torch.Tensor:
        """The acting vehicle's legal moves after the log prefix [B, t], recomputed by the oracle
        (round robin included) without the step code or ``masks.py`` -> bool [B, N + 1]."""
        return oracle.legal_actions(instance, self._log(instance, actions), priorities=priorities,
                                    retire=self.retire)

    # ------------------------------------------------------------------ snapshot / restore
    snapshot_fields = (*PVRPEnv.snapshot_fields, "current")

    def _done(self, s: PVRPState) -> torch.Tensor:
        """Episode over -> bool [B]: no vehicle has a move left."""
        return ~active_vehicles(s.pos, s.any_client).any(-1)

    def _restored_td(self) -> TensorDict:
        s = self.state
        return TensorDict({**self._observe_seq(s, s.current), **self._done_td(self._done(s))},
                          batch_size=[s.pos.shape[0]], device=self.device)

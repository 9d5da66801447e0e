"""PVRP with one vehicle acting per step (for single-agent pointer policies).

Which vehicle acts is fixed by a round-robin rule, not by float times, so the action log alone
determines it exactly: after vehicle ``k`` acted, the next to act is the first *active* vehicle in
the cyclic order ``k+1, k+2, ..., k`` (the first decision goes to the first active vehicle from 0).
A vehicle is active when it is away from the depot, or at the depot with a feasible client
(:func:`~heurist.envs.pvrp.masks.active_vehicles`). The acting vehicle's mask is row
``current_vehicle`` of the parallel env's mask, so it never stays at the depot; the episode ends when
no vehicle is active (all clients served, all vehicles home).
"""
from __future__ import annotations

import torch
from heurist.envs.common import register
from heurist.envs.pvrp.decode import decode_sequential
from heurist.envs.pvrp.env import PVRPEnv, PVRPState, travel
from heurist.envs.pvrp.instance import PVRPInstances
from heurist.envs.pvrp.masks import active_vehicles, feasible_clients, vehicle_masks
from tensordict import TensorDict, TensorDictBase
from torchrl.data import Binary, Categorical, Composite

__all__ = ["PVRPSequentialEnv", "next_vehicle"]


def next_vehicle(active: torch.Tensor, last: torch.Tensor) -> torch.Tensor:
    """First active vehicle after ``last`` in cyclic order: ``active`` [B, M] bool, ``last`` [B]
    (-1 before the first decision) -> [B] int64 (0 when no vehicle is active)."""
    M = active.shape[-1]
    order = (torch.arange(M, device=active.device) - last.unsqueeze(-1) - 1) % M
    return torch.where(active, order, M).argmin(-1)


@register("PVRPSequential", test_kwargs={"n_clients": 8, "n_vehicles": 3, "variant": "zc"})
class PVRPSequentialEnv(PVRPEnv):
    """Profiled VRP with one vehicle acting per step (round robin over the active vehicles).

    Same arguments, instances, observations and reward as :class:`PVRPEnv`, plus the observation
    ``current_vehicle`` [] (int64); the action is one node [] and ``action_mask`` is [N + 1].
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
        feas = feasible_clients(s.served, s.allowed, s.demand, s.load)
        self.state = s
        self.current = next_vehicle(active_vehicles(s.pos, feas),
                                    torch.full((B,), -1, dtype=torch.int64, device=self.device))
        done = torch.zeros(B, dtype=torch.bool, device=self.device)
        return TensorDict({**self._observe_seq(s, self.current), **self._done_td(done)},
                          batch_size=[B], device=self.device)

    def _step_batch(self, td: TensorDictBase) -> TensorDictBase:
        s, k = self.state, self.current
        B = s.pos.shape[0]
        if td.batch_size[0] != B:
            raise ValueError(f"PVRPSequentialEnv: step batch {td.batch_size[0]} != reset batch {B}")
        a = self._read_action(td, (B,))
        rows = torch.arange(B, device=self.device)
        self._check_legal(s.mask[rows, k], a)
        acting = torch.nn.functional.one_hot(k, self.n_vehicles).to(torch.bool)  # [B, M]
        pos = torch.where(acting, a.unsqueeze(-1), s.pos)
        time = s.time + travel(s.locs, s.pos, pos) / s.speed
        served = s.served.clone()
        served[rows, a] = True
        served[:, 0] = False
        load = torch.where(acting, torch.where((a == 0).unsqueeze(-1), s.capacity,
                                               s.load - s.demand.gather(1, a.unsqueeze(-1))),
                           s.load)
        gain = s.pref_gain[rows, k, a]
        reward = gain - self.weights.w_time * self._time_term(s.time, time)
        feas = feasible_clients(served, s.allowed, s.demand, load)
        active = active_vehicles(pos, feas)
        done = ~active.any(-1)
        cur = torch.where(done, k, next_vehicle(active, k))
        s.pos, s.time, s.served, s.load = pos, time, served, load
        s.mask = vehicle_masks(pos, feas)
        self.current = cur
        return TensorDict({**self._observe_seq(s, cur), "reward": reward.unsqueeze(-1),
                           **self._done_td(done)}, batch_size=[B], device=self.device)

    # ------------------------------------------------------------------ oracles
    def _decode(self, inst: PVRPInstances, actions: torch.Tensor, priorities) -> list:
        if priorities is not None:
            raise ValueError("PVRPSequentialEnv has no conflicts: priorities must be None")
        actions = torch.as_tensor(actions)
        if actions.ndim != 2 or actions.shape[0] != inst.S:
            raise ValueError(f"PVRPSequentialEnv: actions must be [B={inst.S}, T], "
                             f"got {list(actions.shape)}")
        acts = actions.detach().cpu().numpy()
        allowed = inst.allowed_or_all()
        return [decode_sequential(acts[i], inst.demand[i], inst.capacity[i], allowed[i])
                for i in range(inst.S)]

    def check_solution(self, instance: TensorDictBase, actions: torch.Tensor,
                       priorities: None = None) -> torch.Tensor:
        """Whether each row's log [B, T] ends the episode with valid routes (oracle) -> bool [B]."""
        return self._judge(instance, actions, priorities, value=False)

    def evaluate(self, instance: TensorDictBase, actions: torch.Tensor,
                 priorities: None = None) -> torch.Tensor:
        """Minus the oracle objective of each row's routes -> float64 [B]; NaN when invalid or
        unfinished."""
        return self._judge(instance, actions, priorities, value=True)

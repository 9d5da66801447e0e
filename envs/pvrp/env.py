"""PVRP (CAMP) as a batched multi-agent TorchRL env: every vehicle picks its next node each step.

See ``envs/pvrp/README.md`` for the MDP (shapes, masks, conflict rule, reward). In short: actions
[B, M] (node 0 = depot, 1..N clients); vehicles that pick the same client are resolved by priority
(optional input key ``priority`` [B, M], highest wins, ties and default to the lowest index); losers
stay where they are at no cost. The reward is minus the objective increment, so the summed reward
of an episode is minus :func:`heurist.policies.pvrp.oracle.evaluate` of its routes.
"""
from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import torch
from heurist.envs.common import HeuristEnv, register
from heurist.envs.pvrp.decode import decode_parallel
from heurist.envs.pvrp.env_generator import PVRPGenerator
from heurist.envs.pvrp.instance import PVRPInstances, Weights
from heurist.envs.pvrp.masks import feasible_clients, vehicle_masks
from tensordict import TensorDict, TensorDictBase
from torchrl.data import Binary, Categorical, Composite, Unbounded

__all__ = ["STATIC_KEYS", "PVRPEnv", "resolve_conflicts"]

#: observation keys that do not change during an episode
STATIC_KEYS = ("locs", "demand", "capacity", "speed", "preference", "allowed")


def resolve_conflicts(action: torch.Tensor, priority: torch.Tensor | None = None) -> torch.Tensor:
    """Which vehicles get the client they chose: ``action`` [B, M] -> bool [B, M].

    Depot choices (0) never conflict and are False here. Among vehicles choosing one client the
    highest ``priority`` [B, M] wins; ties, and ``priority=None``, go to the lowest vehicle index.
    """
    M = action.shape[-1]
    client = action > 0
    same = (action.unsqueeze(-1) == action.unsqueeze(-2)) & client.unsqueeze(-1)  # [B, k, l]
    idx = torch.arange(M, device=action.device)
    lower = idx.unsqueeze(0) < idx.unsqueeze(1)  # [k, l]: l < k
    if priority is None:
        beats = lower
    else:
        pk, pl = priority.unsqueeze(-1), priority.unsqueeze(-2)
        beats = (pl > pk) | ((pl == pk) & lower)
    return client & ~(same & beats).any(-1)


def travel(locs: torch.Tensor, src: torch.Tensor, dst: torch.Tensor) -> torch.Tensor:
    """Euclidean distance from node ``src`` to ``dst`` per vehicle: ``locs`` [B, N + 1, 2],
    ``src``/``dst`` [B, M] -> [B, M]. Elementwise only, so a row's value never depends on B."""
    a = locs.gather(1, src.unsqueeze(-1).expand(*src.shape, 2))
    b = locs.gather(1, dst.unsqueeze(-1).expand(*dst.shape, 2))
    diff = a - b
    return torch.sqrt(diff[..., 0] * diff[..., 0] + diff[..., 1] * diff[..., 1])


@dataclass
class PVRPState:
    """The env's hidden state for a batch of B rows (float32 unless said)."""

    locs: torch.Tensor        # [B, N + 1, 2] depot first
    demand: torch.Tensor      # [B, N + 1] depot 0
    capacity: torch.Tensor    # [B, M] floor of the instance capacity (demands are integers)
    speed: torch.Tensor       # [B, M]
    preference: torch.Tensor  # [B, M, N] as observed
    pref_gain: torch.Tensor   # [B, M, N + 1] w_pref * preference, depot column 0 (0 for ZC)
    allowed: torch.Tensor     # [B, M, N] bool
    pos: torch.Tensor         # [B, M] int64 node of each vehicle
    load: torch.Tensor        # [B, M] capacity left on the current trip
    time: torch.Tensor        # [B, M] travel time so far
    served: torch.Tensor      # [B, N + 1] bool, depot column always False
    mask: torch.Tensor        # [B, M, N + 1] bool legal moves now


@register("PVRP", test_kwargs={"n_clients": 8, "n_vehicles": 3})
class PVRPEnv(HeuristEnv):
    """Profiled VRP (PVRP-P / PVRP-ZC), M vehicles acting in parallel.

    Args (keyword-only): ``generator`` a callable ``(B, rng) -> TensorDict [B]`` of instances
    (default :class:`PVRPGenerator` with the size/profile arguments below); ``n_clients`` N and
    ``n_vehicles`` M fix the spec shapes; ``variant``/``preference``/``zones``/``capacity``/
    ``speed`` configure the default generator; ``weights`` the objective (:class:`Weights`);
    ``seed``; ``device``. The objective variant follows the instance: ``allowed`` present = ZC.
    """

    def __init__(self, *, generator: Callable[..., TensorDictBase] | None = None,
                 n_clients: int = 20, n_vehicles: int = 3, variant: str = "p",
                 preference: str = "random", zones: str = "random",
                 capacity: float | Sequence[float] = 40, speed: float | Sequence[float] = 1.0,
                 weights: Weights | None = None, seed: int = 0,
                 device: str | torch.device = "cpu") -> None:
        if generator is None:
            generator = PVRPGenerator(n_clients=n_clients, n_vehicles=n_vehicles, variant=variant,
                                      preference=preference, zones=zones, capacity=capacity,
                                      speed=speed)
        elif not callable(generator):
            raise TypeError(f"{type(self).__name__}: generator must be callable")
        if int(n_clients) < 1 or int(n_vehicles) < 1:
            raise ValueError(f"{type(self).__name__}: n_clients and n_vehicles must be >= 1")
        weights = Weights() if weights is None else weights
        if not isinstance(weights, Weights):
            raise TypeError(f"{type(self).__name__}: weights must be a Weights, got {weights!r}")
        super().__init__(generator=generator, seed=seed, device=device)
        self.n_clients, self.n_vehicles, self.weights = int(n_clients), int(n_vehicles), weights
        self._make_specs()

    # ------------------------------------------------------------------ specs
    def _common_obs_specs(self) -> dict:
        N, M = self.n_clients, self.n_vehicles
        f32 = torch.float32
        return {
            "locs": Unbounded(shape=(N + 1, 2), dtype=f32),
            "demand": Unbounded(shape=(N + 1,), dtype=f32),
            "served": Binary(n=N + 1, shape=(N + 1,), dtype=torch.bool),
            "vehicle_pos": Categorical(n=N + 1, shape=(M,), dtype=torch.int64),
            "vehicle_load": Unbounded(shape=(M,), dtype=f32),
            "capacity": Unbounded(shape=(M,), dtype=f32),
            "speed": Unbounded(shape=(M,), dtype=f32),
            "vehicle_time": Unbounded(shape=(M,), dtype=f32),
            "preference": Unbounded(shape=(M, N), dtype=f32),
            "allowed": Binary(n=N, shape=(M, N), dtype=torch.bool),
        }

    def _make_specs(self) -> None:
        N, M = self.n_clients, self.n_vehicles
        obs = self._common_obs_specs()
        obs["action_mask"] = Binary(n=N + 1, shape=(M, N + 1), dtype=torch.bool)
        self.observation_spec = Composite(**obs, shape=())
        self.action_spec = Categorical(n=N + 1, shape=(M,), dtype=torch.int64)
        self._make_reward_done_specs()

    def _make_reward_done_specs(self) -> None:
        self.reward_spec = Unbounded(shape=(1,), dtype=torch.float32)
        self.done_spec = Composite(
            done=Categorical(n=2, shape=(1,), dtype=torch.bool),
            terminated=Categorical(n=2, shape=(1,), dtype=torch.bool), shape=())

    # ------------------------------------------------------------------ instances
    def _instances(self, instance: TensorDictBase) -> PVRPInstances:
        """Validates ``instance`` [B] into :class:`PVRPInstances` (ValueError when malformed)."""
        inst = PVRPInstances.from_tensordict(instance, source=f"{type(self).__name__} instance")
        if inst.N != self.n_clients or inst.M != self.n_vehicles:
            raise ValueError(f"{type(self).__name__}: instance has N={inst.N}, M={inst.M}; "
                             f"this env was built for N={self.n_clients}, M={self.n_vehicles}")
        return inst

    def _initial_state(self, instance: TensorDictBase) -> PVRPState:
        inst = self._instances(instance)
        dev, f32 = self.device, torch.float32
        t = lambda a, dt=f32: torch.as_tensor(np.ascontiguousarray(a), dtype=dt, device=dev)
        B, N, M = inst.S, inst.N, inst.M
        locs = t(np.concatenate([inst.depot[:, None, :], inst.locs], axis=1))
        demand = t(np.concatenate([np.zeros((B, 1)), inst.demand], axis=1))
        capacity = t(np.floor(inst.capacity))  # integer demands: floor(cap) is the usable load
        pref = t(inst.preference)
        w_pref = 0.0 if inst.is_zc else self.weights.w_pref
        pref_gain = torch.cat([torch.zeros(B, M, 1, device=dev), w_pref * pref], dim=-1)
        allowed = t(inst.allowed_or_all(), torch.bool)
        pos = torch.zeros(B, M, dtype=torch.int64, device=dev)
        served = torch.zeros(B, N + 1, dtype=torch.bool, device=dev)
        load = capacity.clone()
        mask = vehicle_masks(pos, feasible_clients(served, allowed, demand, load))
        return PVRPState(locs=locs, demand=demand, capacity=capacity, speed=t(inst.speed),
                         preference=pref, pref_gain=pref_gain, allowed=allowed, pos=pos,
                         load=load, time=torch.zeros(B, M, device=dev), served=served, mask=mask)

    def _observe(self, s: PVRPState) -> dict[str, torch.Tensor]:
        return {"locs": s.locs, "demand": s.demand, "served": s.served, "vehicle_pos": s.pos,
                "vehicle_load": s.load, "capacity": s.capacity, "speed": s.speed,
                "vehicle_time": s.time, "preference": s.preference, "allowed": s.allowed,
                "action_mask": s.mask}

    def _reset_instance(self, instance: TensorDictBase) -> TensorDictBase:
        self.state = self._initial_state(instance)
        B = self.state.pos.shape[0]
        done = torch.zeros(B, dtype=torch.bool, device=self.device)
        return TensorDict({**self._observe(self.state), **self._done_td(done)}, batch_size=[B],
                          device=self.device)

    # ------------------------------------------------------------------ dynamics
    def _read_action(self, td: TensorDictBase, shape: tuple[int, ...]) -> torch.Tensor:
        a = td[self.action_key]
        if tuple(a.shape) != shape:
            raise ValueError(f"{type(self).__name__}: action must have shape {list(shape)}, "
                             f"got {list(a.shape)}")
        return a.to(torch.int64)

    def _read_priority(self, td: TensorDictBase, B: int) -> torch.Tensor | None:
        prio = td.get("priority", None)
        if prio is None:
            return None
        if tuple(prio.shape) != (B, self.n_vehicles) or not prio.is_floating_point() \
                or not torch.isfinite(prio).all():
            raise ValueError(f"PVRPEnv: priority must be finite floats of shape "
                             f"[{B}, {self.n_vehicles}], got {prio.dtype} {list(prio.shape)}")
        return prio.to(self.device)

    def _check_legal(self, mask: torch.Tensor, a: torch.Tensor) -> None:
        if a.min() < 0 or a.max() > self.n_clients:
            raise ValueError(f"{type(self).__name__}: actions must lie in 0..{self.n_clients}")
        if not mask.gather(-1, a.unsqueeze(-1)).all():
            raise ValueError(f"{type(self).__name__}: an action is masked (illegal); "
                             "sample from td['action_mask']")

    def _time_term(self, old: torch.Tensor, new: torch.Tensor) -> torch.Tensor:
        """Increment of the time part of the objective: [B, M] times -> [B]."""
        if self.weights.minmax:
            return new.max(-1).values - old.max(-1).values
        return (new - old).sum(-1)

    def _step_batch(self, td: TensorDictBase) -> TensorDictBase:
        s = self.state
        B = s.pos.shape[0]
        if td.batch_size[0] != B:
            raise ValueError(f"PVRPEnv: step batch {td.batch_size[0]} != reset batch {B}")
        a = self._read_action(td, (B, self.n_vehicles))
        self._check_legal(s.mask, a)
        won = resolve_conflicts(a, self._read_priority(td, B))
        home = a == 0
        pos = torch.where(won | home, a, s.pos)
        time = s.time + travel(s.locs, s.pos, pos) / s.speed
        served = s.served.scatter(1, torch.where(won, a, 0), True)
        served[:, 0] = False
        load = torch.where(home, s.capacity,
                           torch.where(won, s.load - s.demand.gather(1, a), s.load))
        gain = torch.where(won, s.pref_gain.gather(2, a.unsqueeze(-1)).squeeze(-1), 0.0)
        reward = gain.sum(-1) - self.weights.w_time * self._time_term(s.time, time)
        mask = vehicle_masks(pos, feasible_clients(served, s.allowed, s.demand, load))
        done = served[:, 1:].all(-1) & (pos == 0).all(-1)
        s.pos, s.time, s.served, s.load, s.mask = pos, time, served, load, mask
        return TensorDict({**self._observe(s), "reward": reward.unsqueeze(-1),
                           **self._done_td(done)}, batch_size=[B], device=self.device)

    def rand_action(self, tensordict: TensorDictBase | None = None) -> TensorDictBase:
        """A uniform *legal* action from ``tensordict['action_mask']`` (TorchRL's random policy)."""
        if tensordict is None:
            raise ValueError(f"{type(self).__name__}.rand_action needs the current tensordict")
        mask = tensordict["action_mask"]
        w = mask.to(torch.float32).reshape(-1, mask.shape[-1])
        tensordict[self.action_key] = torch.multinomial(w, 1).reshape(mask.shape[:-1])
        return tensordict

    # ------------------------------------------------------------------ oracles
    def _decode(self, inst: PVRPInstances, actions: torch.Tensor, priorities) -> list:
        actions = torch.as_tensor(actions)
        if actions.ndim != 3 or actions.shape[0] != inst.S or actions.shape[2] != self.n_vehicles:
            raise ValueError(f"PVRPEnv: actions must be [B={inst.S}, T, M={self.n_vehicles}], "
                             f"got {list(actions.shape)}")
        acts = actions.detach().cpu().numpy()
        prios = None if priorities is None else torch.as_tensor(priorities).detach().cpu().numpy()
        return [decode_parallel(acts[i], inst.N, None if prios is None else prios[i])
                for i in range(inst.S)]

    def _judge(self, instance, actions, priorities, value: bool) -> torch.Tensor:
        from heurist.policies.pvrp import oracle  # lazy: the oracle package imports this one

        inst = self._instances(instance)
        out = []
        for i, dec in enumerate(self._decode(inst, actions, priorities)):
            res = oracle.check_solution(inst[i], dec.routes, weights=self.weights)
            ok = dec.finished and res.ok
            if value:
                out.append(-res.objective if ok else float("nan"))
            else:
                out.append(ok)
        return torch.tensor(out, dtype=torch.float64 if value else torch.bool)

    def check_solution(self, instance: TensorDictBase, actions: torch.Tensor,
                       priorities: torch.Tensor | None = None) -> torch.Tensor:
        """Whether each row's log [B, T, M] (with the ``priority`` inputs [B, T, M] used, if any)
        reaches the end of the episode with valid routes, judged by the independent oracle -> [B]."""
        return self._judge(instance, actions, priorities, value=False)

    def evaluate(self, instance: TensorDictBase, actions: torch.Tensor,
                 priorities: torch.Tensor | None = None) -> torch.Tensor:
        """Minus the oracle objective of each row's decoded routes -> float64 [B]; NaN for a row
        whose log is invalid or does not reach the end of the episode."""
        return self._judge(instance, actions, priorities, value=True)

"""PVRP (CAMP) as a batched multi-agent TorchRL env: every vehicle picks its next node each step.

See ``envs/pvrp/README.md`` for the MDP (shapes, masks, conflict rule, reward). In short: actions
[B, M] (node 0 = depot, 1..N clients); vehicles that pick the same client are resolved by priority
(optional input key ``priority`` [B, M], highest wins, ties and default to the lowest index); losers
stay where they are at no cost. The reward is minus the objective increment, so the summed reward
of an episode is minus :func:`heurist.envs.pvrp.oracle.evaluate` of its action log.
"""
from __future__ import annotations

from collections.abc import Callable, Sequence

import numba
import numpy as np
import torch
from tensordict import TensorDict, TensorDictBase
from torchrl.data import Binary, Categorical, Composite, Unbounded

from heurist.envs.common import HeuristEnv, register
from heurist.envs.pvrp import oracle
from heurist.envs.pvrp.generator import PVRPGenerator
from heurist.envs.pvrp.instance import PVRPInstances, Weights
from heurist.envs.pvrp.masks import (
    can_retire,
    f32,
    initial_avail,
    mark_served,
    refresh_row_u8,
    retire_masks,
    vehicle_masks,
)
from heurist.envs.pvrp.masks import dist_f32 as _dist
from heurist.envs.pvrp.state import PVRPState

__all__ = ["BACKENDS", "STATIC_KEYS", "PVRPEnv", "resolve_conflicts", "travel"]

#: step implementations: a fused numba kernel (CPU) or vectorized torch (any device)
BACKENDS = ("auto", "numba", "torch")

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
    # torch's float32 sqrt is not correctly rounded on every CPU build; via float64 it is, which
    # keeps this bit-identical to the numba kernel
    return torch.sqrt((diff[..., 0] * diff[..., 0] + diff[..., 1] * diff[..., 1]).double()).float()


@numba.njit(cache=True, boundscheck=False)
def parallel_kernel(action, prio, use_prio, locs, demand, capacity, speed, pref_gain, avail,
                    allowed, pos, load, time, served, old_any, w_time, minmax,
                    new_pos, new_load, new_time, new_served, mask, any_client,
                    reward, done, terminated, sink):  # pragma: no cover
    """The whole parallel step fused row by row (the numba backend; same rule as the torch one).

    Reads the state (``pos``/``load``/``time``/``served``), updates ``avail`` in place and writes
    the ``new_*`` state, ``mask`` [B, M, N + 1], ``any_client`` [B, M] and, in the shapes the
    TensorDict carries, ``reward``, ``done`` and ``terminated`` [B, 1]. The bool arrays are passed
    as uint8 views (so the mask refresh vectorizes). Float32 throughout, elementwise in the torch
    backend's order, so both agree bit for bit except for the reward's sum over vehicles.

    Each row's actions are checked against the current mask first (recomputed from the state it
    is made of, ``avail``/``demand``/``load``/``pos``/``old_any``, so the mask itself is not read
    again): at the first illegal action the rows already stepped get their ``avail`` back from
    ``allowed`` and the flat index of that action is returned, leaving the state as it was;
    otherwise -1.

    The step is memory-bound when the caches are cold (e.g. after the policy's sampling), so each
    row first loads the scattered entries a row 3 ahead will need (its vehicles' ``locs``,
    ``pref_gain``, ``avail`` and ``demand`` entries): a software prefetch. Their sum goes to
    ``sink`` [1] only so that the compiler keeps the loads.
    """
    B, M = action.shape
    N1 = demand.shape[1]
    won = np.empty(M, np.bool_)
    touched = np.float32(0.0)
    for b in range(B):
        ahead = b + 3
        if ahead < B:
            for k in range(M):
                j = action[ahead, k]
                if 0 <= j < N1:
                    touched += (locs[ahead, pos[ahead, k], 0] + locs[ahead, j, 0]
                                + pref_gain[ahead, k, j] + demand[ahead, j] + avail[ahead, k, j])
        for k in range(M):
            j = action[b, k]
            if j < 0 or j >= N1 or (
                    (pos[b, k] == 0 and old_any[b, k]) if j == 0
                    else not (avail[b, k, j] and demand[b, j] <= load[b, k])):
                for r in range(b):  # undo the rows already stepped: avail = allowed & ~served
                    for c in range(1, N1):
                        if new_served[r, c] and not served[r, c]:
                            for m in range(M):
                                avail[r, m, c] = allowed[r, m, c - 1]
                return b * M + k
        for k in range(M):
            j = action[b, k]
            w = j > 0
            if w:
                for m in range(M):
                    if m != k and action[b, m] == j:
                        if use_prio:
                            if prio[b, m] > prio[b, k] or (prio[b, m] == prio[b, k] and m < k):
                                w = False
                                break
                        elif m < k:
                            w = False
                            break
            won[k] = w
        for j in range(N1):
            new_served[b, j] = served[b, j]
        gain = np.float32(0.0)
        tsum = np.float32(0.0)
        old_max = time[b, 0]
        new_max = np.float32(0.0)
        for k in range(M):
            j = action[b, k]
            p = pos[b, k]
            q = j if (won[k] or j == 0) else p
            t_new = f32(time[b, k] + f32(_dist(locs, b, p, q) / speed[b, k]))
            tsum = f32(tsum + f32(t_new - time[b, k]))
            old_max = max(old_max, time[b, k])
            new_max = t_new if k == 0 else max(new_max, t_new)
            new_time[b, k] = t_new
            new_pos[b, k] = q
            if j == 0:
                new_load[b, k] = capacity[b, k]
            elif won[k]:
                new_load[b, k] = f32(load[b, k] - demand[b, j])
                gain = f32(gain + pref_gain[b, k, j])
                new_served[b, j] = True
                for m in range(M):
                    avail[b, m, j] = False
            else:
                new_load[b, k] = load[b, k]
        reward[b, 0] = f32(gain - f32(w_time * (f32(new_max - old_max) if minmax else tsum)))
        refresh_row_u8(b, avail, demand, new_load, new_pos, mask, any_client)
        finished = True
        for k in range(M):
            if new_pos[b, k] != 0:
                finished = False
        for j in range(1, N1):
            if not new_served[b, j]:
                finished = False
                break
        done[b, 0] = finished
        terminated[b, 0] = finished
    sink[0] = touched
    return -1


def _compact_demand(demand: np.ndarray) -> np.ndarray:
    """``demand`` float32 [B, N + 1] as uint8 when every value is an integer in 0..255 (the kernel
    reads a quarter of the bytes; integers that small are exact in float32, so every compare and
    subtraction gives the same float32 result), else unchanged."""
    if demand.size and demand.min() >= 0 and demand.max() <= 255 \
            and np.array_equal(demand, np.floor(demand)):
        return demand.astype(np.uint8)
    return demand


@register("PVRP")  # declared, with its test_kwargs, in heurist.envs.ENVS
class PVRPEnv(HeuristEnv):
    """Profiled VRP (PVRP-P / PVRP-ZC), M vehicles acting in parallel.

    Args (keyword-only): ``generator`` a callable ``(B, rng) -> TensorDict [B]`` of instances
    (default :class:`PVRPGenerator` with the size/profile arguments below); ``n_clients`` N and
    ``n_vehicles`` M fix the spec shapes; ``variant``/``preference``/``zones``/``capacity``/
    ``speed`` configure the default generator; ``weights`` the objective (:class:`Weights`);
    ``backend`` ``"numba"`` (fused CPU kernel), ``"torch"`` (vectorized, any device) or ``"auto"``
    (numba on CPU); ``seed``; ``device``. The objective variant follows the instance: ``allowed`` present = ZC.
    ``retire``: a vehicle at the depot may stay there for good (retire) even when it has a
    feasible client, as long as every client it could serve has another server left (see
    ``README.md``); without it a vehicle at the depot must leave while it has a feasible client.
    Retiring runs on the torch backend (``backend="auto"`` picks it).
    """

    def __init__(self, *, generator: Callable[..., TensorDictBase] | None = None,
                 n_clients: int = 20, n_vehicles: int = 3, variant: str = "p",
                 preference: str = "random", zones: str = "random",
                 capacity: float | Sequence[float] = 40, speed: float | Sequence[float] = 1.0,
                 weights: Weights | None = None, backend: str = "auto", seed: int = 0,
                 device: str | torch.device = "cpu", retire: bool = False) -> None:
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
        if backend not in BACKENDS:
            raise ValueError(f"{type(self).__name__}: backend must be one of {BACKENDS}, "
                             f"got {backend!r}")
        super().__init__(generator=generator, seed=seed, device=device)
        self.retire = bool(retire)
        if backend == "auto":
            backend = "numba" if self.device.type == "cpu" and not self.retire else "torch"
        if backend == "numba" and self.device.type != "cpu":
            raise ValueError(f"{type(self).__name__}: the numba backend runs on CPU only")
        if backend == "numba" and self.retire:
            raise ValueError(f"{type(self).__name__}: retire=True runs on the torch backend; "
                             "use backend='torch' or 'auto'")
        self.backend = backend
        self._sink = np.zeros(1, np.float32)  # the numba kernel's prefetch sink
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
        avail = initial_avail(allowed)
        mask, any_client = vehicle_masks(avail, demand, load, pos)
        speed = t(inst.speed)
        static_np = () if dev.type != "cpu" else (
            locs.numpy(), _compact_demand(demand.numpy()), capacity.numpy(), speed.numpy(),
            pref_gain.numpy(), avail.numpy().view(np.uint8), allowed.numpy().view(np.uint8))
        retired = torch.zeros(B, M, dtype=torch.bool, device=dev)
        if self.retire:
            mask, any_client = retire_masks(avail, demand, load, pos, capacity, retired)
        return PVRPState(locs=locs, demand=demand, capacity=capacity, speed=speed,
                         preference=pref, pref_gain=pref_gain, allowed=allowed, pos=pos,
                         load=load, time=torch.zeros(B, M, device=dev), served=served,
                         avail=avail, mask=mask, any_client=any_client, static_np=static_np,
                         retired=retired)

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
        prio = self._read_priority(td, B)
        if self.backend == "numba":
            # the kernel returns every entry in its final shape and dtype, so the TensorDict is
            # built without re-validating them (``_new_unsafe``: no per-entry checks)
            out = self._advance_numba(a, prio)
            out.update(self._observe(s))
            return TensorDict._new_unsafe(out, batch_size=torch.Size([B]), device=self.device)
        reward, done = self._advance_torch(a, prio)
        return TensorDict({**self._observe(s), "reward": reward.unsqueeze(-1),
                           **self._done_td(done)}, batch_size=[B], device=self.device)

    def _advance_torch(self, a: torch.Tensor, prio: torch.Tensor | None):
        """Vectorized torch step (any device): updates ``self.state``; returns (reward, done) [B]."""
        s = self.state
        self._check_legal(s.mask, a)
        won = resolve_conflicts(a, prio)
        home = a == 0
        if self.retire:
            self._retire(home & (s.pos == 0) & s.any_client)
        pos = torch.where(won | home, a, s.pos)
        time = s.time + travel(s.locs, s.pos, pos) / s.speed
        newly = torch.where(won, a, 0)
        served = s.served.scatter(1, newly, True)
        served[:, 0] = False
        mark_served(s.avail, newly)
        load = torch.where(home, s.capacity,
                           torch.where(won, s.load - s.demand.gather(1, a), s.load))
        gain = torch.where(won, s.pref_gain.gather(2, a.unsqueeze(-1)).squeeze(-1), 0.0)
        reward = gain.sum(-1) - self.weights.w_time * self._time_term(s.time, time)
        if self.retire:
            mask, any_client = retire_masks(s.avail, s.demand, load, pos, s.capacity, s.retired)
        else:
            mask, any_client = vehicle_masks(s.avail, s.demand, load, pos)
        done = served[:, 1:].all(-1) & (pos == 0).all(-1)
        s.pos, s.time, s.served, s.load = pos, time, served, load
        s.mask, s.any_client = mask, any_client
        return reward, done

    def _retire(self, asks: torch.Tensor) -> None:
        """Retires the vehicles in ``asks`` [B, M] (at the depot, choosing it with a feasible
        client: legal, so each alone keeps every client served), in vehicle order against the
        state before this step's moves: a later vehicle whose retirement, after the earlier
        ones', would strand a client stays at the depot this step instead (and may ask again)."""
        s = self.state
        if not bool(asks.any()):
            return
        retired = s.retired.clone()
        for k in range(self.n_vehicles):
            if bool(asks[:, k].any()):
                can = can_retire(s.avail, s.demand, s.capacity, retired)
                retired[:, k] |= asks[:, k] & can[:, k]
        s.retired = retired

    def _raise_illegal(self, flat: int, shape: tuple[int, ...]) -> None:
        where = np.unravel_index(flat, shape)
        raise ValueError(f"{type(self).__name__}: action at {tuple(int(i) for i in where)} is "
                         f"out of 0..{self.n_clients} or masked (illegal); sample from "
                         "td['action_mask']")

    def _advance_numba(self, a: torch.Tensor, prio: torch.Tensor | None) -> dict:
        """The fused numba step (CPU): same rule as :meth:`_advance_torch`, one pass per row.
        Updates ``self.state``; returns ``reward``, ``done``, ``terminated`` [B, 1]."""
        s = self.state
        a_np = a.contiguous().numpy()
        B, M = a_np.shape
        prio_np = (np.zeros((1, 1)) if prio is None
                   else prio.detach().to(torch.float64).contiguous().numpy())
        locs, demand, capacity, speed, pref_gain, avail, allowed = s.static_np
        # fresh outputs every step (a caller may keep the previous TensorDict); numpy allocates
        # them several times faster than torch.empty, and from_numpy shares the memory
        pos, load = np.empty((B, M), np.int64), np.empty((B, M), np.float32)
        time, served = np.empty((B, M), np.float32), np.empty((B, demand.shape[1]), np.bool_)
        mask, any_client = np.empty((B, M, demand.shape[1]), np.bool_), np.empty((B, M), np.bool_)
        reward = np.empty((B, 1), np.float32)
        done, terminated = np.empty((B, 1), np.bool_), np.empty((B, 1), np.bool_)
        bad = parallel_kernel(a_np, prio_np, prio is not None, locs, demand, capacity, speed,
                              pref_gain, avail, allowed, s.pos.numpy(), s.load.numpy(),
                              s.time.numpy(), s.served.numpy(), s.any_client.numpy(),
                              np.float32(self.weights.w_time), self.weights.minmax, pos, load,
                              time, served, mask.view(np.uint8), any_client.view(np.uint8),
                              reward, done, terminated, self._sink)
        if bad >= 0:  # the kernel left the state as it was
            self._raise_illegal(bad, (B, M))
        fn = torch.from_numpy
        s.pos, s.time, s.served, s.load = fn(pos), fn(time), fn(served), fn(load)
        s.mask, s.any_client = fn(mask), fn(any_client)
        return {"reward": fn(reward), "done": fn(done), "terminated": fn(terminated)}

    def rand_action(self, tensordict: TensorDictBase | None = None) -> TensorDictBase:
        """A uniform *legal* action from ``tensordict['action_mask']`` (TorchRL's random policy)."""
        if tensordict is None:
            raise ValueError(f"{type(self).__name__}.rand_action needs the current tensordict")
        mask = tensordict["action_mask"]
        w = mask.to(torch.float32).reshape(-1, mask.shape[-1])
        tensordict[self.action_key] = torch.multinomial(w, 1).reshape(mask.shape[:-1])
        return tensordict

    # ------------------------------------------------------------------ oracles
    def _log(self, instance: TensorDictBase, actions: torch.Tensor) -> torch.Tensor:
        """Checks the log's shape against this env ([B, T, M]) and the instance's sizes."""
        self._instances(instance)
        actions = torch.as_tensor(actions)
        if actions.ndim != 3 or actions.shape[0] != instance.batch_size[0] \
                or actions.shape[2] != self.n_vehicles:
            raise ValueError(f"PVRPEnv: actions must be [B={instance.batch_size[0]}, T, "
                             f"M={self.n_vehicles}], got {list(actions.shape)}")
        return actions

    def check_solution(self, instance: TensorDictBase, actions: torch.Tensor,
                       priorities: torch.Tensor | None = None) -> torch.Tensor:
        """Whether each row's log [B, T, M] (with the ``priority`` inputs [B, T, M] used, if any)
        takes only legal actions and reaches the end with valid routes (:mod:`.oracle`) -> [B]."""
        return oracle.check_solution(instance, self._log(instance, actions),
                                     weights=self.weights, priorities=priorities,
                                     retire=self.retire)

    def evaluate(self, instance: TensorDictBase, actions: torch.Tensor,
                 priorities: torch.Tensor | None = None) -> torch.Tensor:
        """Minus the oracle objective of each row's decoded routes -> float64 [B]; NaN for a row
        that :meth:`check_solution` rejects."""
        return oracle.evaluate(instance, self._log(instance, actions), weights=self.weights,
                               priorities=priorities, retire=self.retire)

    def legal_actions(self, instance: TensorDictBase, actions: torch.Tensor,
                      priorities: torch.Tensor | None = None) -> torch.Tensor:
        """The legal moves after the log prefix [B, t, M], recomputed by the oracle without the
        step code or ``masks.py`` -> bool [B, M, N + 1]."""
        return oracle.legal_actions(instance, self._log(instance, actions), priorities=priorities,
                                    retire=self.retire)

    # ------------------------------------------------------------------ snapshot / restore
    #: the evolving part of ``PVRPState`` (``current`` is added by the sequential env)
    snapshot_fields: tuple[str, ...] = ("pos", "load", "time", "served", "avail", "mask",
                                        "any_client", "retired")

    def restore(self, snapshot: dict) -> TensorDictBase:
        avail = self.state.avail
        out = super().restore(snapshot)
        # the numba kernel reads ``avail`` through a numpy view made at reset (``static_np``):
        # copy into that tensor rather than replace it
        avail.copy_(self.state.avail)
        self.state.avail = avail
        return out

    def _done(self, s: PVRPState) -> torch.Tensor:
        """Episode over -> bool [B]: every client served and every vehicle home."""
        return s.served[:, 1:].all(-1) & (s.pos == 0).all(-1)

    def _restored_td(self) -> TensorDict:
        s = self.state
        return TensorDict({**self._observe(s), **self._done_td(self._done(s))},
                          batch_size=[s.pos.shape[0]], device=self.device)

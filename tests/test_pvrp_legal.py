"""The PVRP oracle's legal_actions: equal to both envs' masks, and it catches a broken mask."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import heurist.envs.pvrp.env as env_module
import heurist.envs.pvrp.env_sequential as seq_module
from heurist.envs.pvrp import PVRPEnv, PVRPInstances, PVRPSequentialEnv, Weights, oracle
from heurist.envs.pvrp.masks import vehicle_masks


def tiny(capacity=(10, 5)) -> PVRPInstances:
    """Depot at the origin; demands 4, 5, 5; capacities 10 and 5: vehicle 1's load equals the
    demand of c2 and c3, the boundary a strict ``<`` gets wrong."""
    return PVRPInstances(
        depot=np.array([[0.0, 0.0]]), locs=np.array([[[0.3, 0.4], [0.6, 0.8], [0.0, 0.5]]]),
        demand=np.array([[4, 5, 5]]), capacity=np.array([capacity]), speed=np.array([[1.0, 2.0]]),
        preference=np.array([[[0.2, 0.4, 0.9], [0.1, 0.3, 0.6]]]))


def compare_along_rollout(env, instance, *, seed: int, with_priority: bool = False) -> int:
    """Random masked rollout; at every step the env's mask must equal ``legal_actions`` of the log
    so far on the live rows (both directions). Returns the number of steps compared."""
    gen = torch.Generator().manual_seed(seed)
    td = env.reset(instance=instance.clone())
    acts, prios, t = [], [], 0
    while not td["done"].all():
        live = ~td["done"].reshape(-1)
        log = (torch.stack(acts, 1) if acts
               else torch.zeros((live.shape[0], 0, *env.action_shape), dtype=torch.int64))
        prio_log = torch.stack(prios, 1) if prios else None
        if with_priority and prio_log is None:
            prio_log = torch.zeros(log.shape)
        legal = env.legal_actions(instance, log, prio_log)
        mask = td["action_mask"]
        bad = (legal != mask)[live]
        if bad.any():
            raise AssertionError(f"step {t}: mask and legal_actions differ at {bad.nonzero().tolist()}"
                                 f" (mask allows {int((mask & ~legal)[live].sum())} illegal, "
                                 f"forbids {int((legal & ~mask)[live].sum())} legal moves)")
        a = torch.multinomial(mask.float().reshape(-1, mask.shape[-1]), 1, generator=gen)
        td["action"] = a.reshape(mask.shape[:-1])
        if with_priority:  # coarse values, so ties between vehicles happen too
            td["priority"] = torch.randint(0, 3, td["action"].shape, generator=gen).float()
            prios.append(td["priority"].clone())
        acts.append(td["action"].clone())
        td = env.step(td)["next"]
        t += 1
    return t


CONFIG = st.fixed_dictionaries({
    "n": st.integers(1, 10), "m": st.integers(1, 4), "variant": st.sampled_from(["p", "zc"]),
    "zones": st.sampled_from(["random", "sector"]), "seed": st.integers(0, 10_000),
    "capacity": st.sampled_from([9, 10, 15])})


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(cfg=CONFIG, sequential=st.booleans(), with_priority=st.booleans(),
       backend=st.sampled_from(["numba", "torch"]))
def test_legal_actions_equal_the_mask_along_random_rollouts(cfg, sequential, with_priority, backend):
    """At every step of random rollouts (parallel with and without priorities, sequential; both
    backends) the oracle's legal moves equal the env's mask, in both directions."""
    cls = PVRPSequentialEnv if sequential else PVRPEnv
    env = cls(n_clients=cfg["n"], n_vehicles=cfg["m"], variant=cfg["variant"], zones=cfg["zones"],
              capacity=cfg["capacity"], backend=backend)
    inst = env.generate(3, seed=cfg["seed"])
    assert compare_along_rollout(env, inst, seed=cfg["seed"],
                                 with_priority=with_priority and not sequential) >= 1


def test_legal_actions_by_hand():
    """On the tiny instance: at reset no depot stay; after [1, 3] the hand-derived masks."""
    inst = tiny().to_tensordict()
    env = PVRPEnv(n_clients=3, n_vehicles=2)
    at_reset = env.legal_actions(inst, torch.zeros((1, 0, 2), dtype=torch.int64))
    assert at_reset.tolist() == [[[False, True, True, True], [False, True, True, True]]]
    after = env.legal_actions(inst, torch.tensor([[[1, 3]]]))
    # v0 at c1 with 6 left: depot or c2; v1 at c3 with 0 left: depot only
    assert after.tolist() == [[[True, False, True, False], [True, False, False, False]]]
    seq = PVRPSequentialEnv(n_clients=3, n_vehicles=2)
    # sequential: v0 went to c1, so v1 acts next, with its full load of 5
    assert seq.legal_actions(inst, torch.tensor([[1]])).tolist() == [[False, False, True, True]]


def test_priorities_decide_who_moved():
    """Both vehicles chose c2: by default v0 moved there; with priority [0, 1] v1 did."""
    inst = tiny().to_tensordict()
    log = torch.tensor([[[2, 2]]])
    default = oracle.legal_actions(inst, log)
    assert default[0, :, 0].tolist() == [True, False]  # v0 is at c2, v1 still home
    swapped = oracle.legal_actions(inst, log, priorities=torch.tensor([[[0.0, 1.0]]]))
    assert swapped[0, :, 0].tolist() == [False, True]
    assert swapped[0, 1].tolist() == [True, False, False, False]  # v1 carried 5 of 5


def test_legal_actions_refuses_an_illegal_prefix():
    """A prefix with an illegal action (a depot stay while clients are feasible) is a ValueError."""
    with pytest.raises(ValueError, match="row 0: the action at step 0 is illegal"):
        oracle.legal_actions(tiny().to_tensordict(), torch.tensor([[[0, 1]]]))


def _strict(avail, demand, load, pos):
    """vehicle_masks with the boundary bug ``demand < load`` instead of ``demand <= load``."""
    mask = (demand.unsqueeze(1) < load.unsqueeze(-1)) & avail
    any_client = mask.any(-1)
    mask[..., 0] = (pos != 0) | ~any_client
    return mask, any_client


def break_masks(monkeypatch, fn) -> None:
    """Puts ``fn`` in place of ``masks.vehicle_masks`` wherever the torch steps call it."""
    for module in (env_module, seq_module):
        monkeypatch.setattr(module, "vehicle_masks", fn)


@pytest.mark.parametrize("cls", [PVRPEnv, PVRPSequentialEnv])
def test_a_too_strict_mask_is_caught(monkeypatch, cls):
    """A mask that uses ``demand < load`` forbids legal moves; the comparison says so at reset."""
    inst = tiny(capacity=(5, 10)).to_tensordict()  # vehicle 0, the first to act, carries 5
    env = cls(n_clients=3, n_vehicles=2, backend="torch")
    assert compare_along_rollout(env, inst, seed=0) >= 2  # the correct mask passes
    break_masks(monkeypatch, _strict)
    broken = cls(n_clients=3, n_vehicles=2, backend="torch")
    with pytest.raises(AssertionError, match=r"step 0: .* forbids 2 legal moves") as info:
        compare_along_rollout(broken, inst, seed=0)
    # under the bug vehicle 0 (load 5) may not take c2 or c3 (demand 5): [row, (vehicle,) node]
    where = "[[0, 0, 2], [0, 0, 3]]" if cls is PVRPEnv else "[[0, 2], [0, 3]]"
    assert where in str(info.value)


def test_a_too_loose_mask_is_caught(monkeypatch):
    """A mask that lets a vehicle stay at the depot while it has clients allows an illegal move."""
    def loose(avail, demand, load, pos):
        mask, any_client = vehicle_masks(avail, demand, load, pos)
        mask[..., 0] = True
        return mask, any_client

    break_masks(monkeypatch, loose)
    env = PVRPEnv(n_clients=3, n_vehicles=2, backend="torch", weights=Weights())
    with pytest.raises(AssertionError, match=r"step 0: .* allows 2 illegal"):
        compare_along_rollout(env, tiny().to_tensordict(), seed=0)

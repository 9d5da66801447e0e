"""The shared conformance suite: every registered env must pass these checks.

``tests/test_env_conformance.py`` runs them over the registry, so a new env is tested without new
test code. Each check takes an env built from the registry entry's ``test_kwargs``.
"""
from __future__ import annotations

import gymnasium as gym
import numpy as np
import torch
from tensordict import TensorDictBase
from torchrl.envs.utils import check_env_specs

__all__ = [
    "MAX_STEPS",
    "check_batch_independence",
    "check_determinism",
    "check_gym_parity",
    "check_legal_actions_match_mask",
    "check_rewards_match_evaluate",
    "check_rollout_terminates",
    "check_specs",
    "masked_rollout",
    "random_masked_action",
]

MAX_STEPS = 100_000


def random_masked_action(mask: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
    """Uniform action among the legal ones. ``mask`` [B, *A, n] -> action [B, *A] (int64)."""
    if not mask.any(-1).all():
        raise AssertionError("an all-masked action row: the agent has no legal move")
    w = mask.to(torch.float64).reshape(-1, mask.shape[-1])
    return torch.multinomial(w, 1, generator=gen).reshape(mask.shape[:-1])


def masked_rollout(env, instance: TensorDictBase | None = None, *, batch_size: int = 2,
                   seed: int = 0, actions: torch.Tensor | None = None, check_spec: bool = False):
    """Runs one episode per row with random masked actions (or replays ``actions`` [B, T, *A]).

    Returns ``(observations, actions [B, T, *A], rewards [B, T], done [B, T])``, where
    ``observations`` is the list of observation TensorDicts, the reset one first.
    """
    env.set_seed(seed)
    gen = torch.Generator().manual_seed(seed)
    td = (env.reset(instance=instance) if instance is not None
          else env.reset(batch_size=[batch_size]))
    obs, acts, rews, dones = [env.observation(td).clone()], [], [], []
    t = 0
    while not td["done"].all():
        if t >= MAX_STEPS:
            raise AssertionError(f"{type(env).__name__}: episode did not end in {MAX_STEPS} steps")
        if actions is not None:
            a = actions[:, t]
        else:
            a = random_masked_action(td["action_mask"], gen)
        td[env.action_key] = a
        if check_spec:
            _assert_in_spec(env.full_action_spec[env.action_key], a, "action")
        out = env.step(td)["next"]
        if check_spec:
            for key, spec in env.observation_spec.items(True, True):
                _assert_in_spec(spec, out[key], f"observation {key!r} at step {t}")
            _assert_in_spec(env.full_reward_spec[env.reward_key], out[env.reward_key], "reward")
        acts.append(a.clone())
        rews.append(out["reward"].reshape(out.batch_size[0], -1).sum(-1))
        dones.append(out["done"].reshape(out.batch_size[0], -1).any(-1))
        obs.append(env.observation(out).clone())
        td = out
        t += 1
    if t == 0:
        raise AssertionError("the episode ended at reset: no decision was taken")
    return obs, torch.stack(acts, 1), torch.stack(rews, 1), torch.stack(dones, 1)


def _assert_in_spec(spec, value, what: str) -> None:
    if value.dtype != spec.dtype:
        raise AssertionError(f"{what}: dtype {value.dtype} != spec dtype {spec.dtype}")
    batched = spec.expand(value.shape[: value.ndim - len(spec.shape)] + spec.shape)
    if not batched.is_in(value):
        raise AssertionError(f"{what} is outside its spec")


def check_specs(env) -> None:
    """TorchRL's own ``check_env_specs`` on a short rollout."""
    check_env_specs(env, seed=0)


def check_rollout_terminates(env, *, batch_size: int = 3) -> None:
    """A masked random rollout terminates, with every observation, action and reward in spec."""
    masked_rollout(env, batch_size=batch_size, seed=1, check_spec=True)


def _same(a: list, b: list) -> bool:
    return len(a) == len(b) and all((x == y).all() for x, y in zip(a, b))


def check_determinism(env, *, batch_size: int = 2) -> None:
    """The same seed gives the same instances, observations, actions and rewards."""
    r1 = masked_rollout(env, batch_size=batch_size, seed=7)
    r2 = masked_rollout(env, batch_size=batch_size, seed=7)
    if not _same(r1[0], r2[0]) or not torch.equal(r1[1], r2[1]) or not torch.equal(r1[2], r2[2]):
        raise AssertionError("two rollouts with the same seed differ")


def check_batch_independence(env, *, batch_size: int = 3) -> None:
    """Row i of a batched rollout equals a batch-1 run on instance i with the same actions."""
    instance = env.generate(batch_size, seed=11)
    obs, acts, rews, dones = masked_rollout(env, instance.clone(), seed=3)
    for i in range(batch_size):
        steps = int(dones[i].long().argmax()) + 1
        o1, a1, r1, _ = masked_rollout(env, instance[i:i + 1].clone(), seed=3,
                                       actions=acts[i:i + 1, :steps])
        if a1.shape[1] != steps:
            raise AssertionError(f"row {i}: batch-1 run took {a1.shape[1]} steps, batched {steps}")
        if not torch.allclose(r1[0], rews[i, :steps]):
            raise AssertionError(f"row {i}: rewards differ between batched and batch-1 runs")
        for t in range(steps + 1):
            for key in o1[t].keys(True, True):
                if not torch.equal(o1[t][key][0], obs[t][key][i]):
                    raise AssertionError(f"row {i}, step {t}: observation {key!r} differs")


def check_gym_parity(env, entry) -> None:
    """The registered Gymnasium env gives the core's observations and rewards, step by step."""
    instance = env.generate(1, seed=5)
    obs, acts, rews, dones = masked_rollout(env, instance.clone(), seed=5)
    genv = gym.make(entry.gym_id, **entry.test_kwargs).unwrapped
    o, _ = genv.reset(seed=5, options={"instance": instance.clone()})
    for t in range(acts.shape[1]):
        for k, v in o.items():
            if not np.array_equal(v, obs[t][k][0].numpy()):
                raise AssertionError(f"gym step {t}: observation {k!r} differs from the core")
        o, r, terminated, _truncated, _ = genv.step(acts[0, t].numpy())
        if not np.isclose(float(r), float(rews[0, t])):
            raise AssertionError(f"gym step {t}: reward {r} != core {float(rews[0, t])}")
        if terminated != bool(dones[0, t]):
            raise AssertionError(f"gym step {t}: terminated {terminated} != core")
    if not terminated:
        raise AssertionError("the gym episode did not terminate with the core's")


def check_rewards_match_evaluate(env, *, batch_size: int = 3) -> None:
    """Summed step rewards equal ``evaluate`` of the action log; ``check_solution`` accepts it."""
    instance = env.generate(batch_size, seed=13)
    _, acts, rews, _ = masked_rollout(env, instance.clone(), seed=13)
    ok = env.check_solution(instance.clone(), acts)
    if not bool(torch.as_tensor(ok).all()):
        raise AssertionError(f"check_solution rejects the env's own rollout: {ok}")
    value = torch.as_tensor(env.evaluate(instance.clone(), acts), dtype=torch.float64)
    total = rews.to(torch.float64).sum(1)
    if not torch.allclose(value, total, rtol=1e-5, atol=1e-5):
        raise AssertionError(f"summed rewards {total.tolist()} != evaluate {value.tolist()}")


def _sampled_steps(n_steps: int, k: int, gen: torch.Generator) -> list[int]:
    """``k`` decision steps of ``0..n_steps-1``: the first, the last and random ones between."""
    inner = torch.randperm(max(n_steps - 2, 0), generator=gen)[: max(k - 2, 0)] + 1
    return sorted({0, n_steps - 1, *inner.tolist()})


def _describe(actions: torch.Tensor) -> str:
    """Action indices of a bool ``[*A, n]`` row as ``[agent, action]`` or plain ``action`` lists."""
    idx = actions.nonzero().tolist()
    return str([i[0] if len(i) == 1 else i for i in idx][:8])


def check_legal_actions_match_mask(env, *, batch_size: int = 3, n_sampled: int = 6,
                                   seed: int = 17) -> None:
    """At sampled steps of a random masked rollout, ``env.legal_actions(instance, actions[:, :t])``
    equals the observed ``action_mask`` on every live row, in both directions: a legal move the
    mask forbids (a mask too strict) fails as surely as an illegal move it allows (too loose)."""
    instance = env.generate(batch_size, seed=seed)
    obs, acts, _, dones = masked_rollout(env, instance.clone(), seed=seed)
    gen = torch.Generator().manual_seed(seed)
    name = type(env).__name__
    for t in _sampled_steps(acts.shape[1], n_sampled, gen):
        try:
            legal = torch.as_tensor(env.legal_actions(instance.clone(), acts[:, :t].clone()))
        except NotImplementedError as exc:
            raise AssertionError(f"{name}.legal_actions is not implemented: the mask has no "
                                 "independent check") from exc
        mask = obs[t]["action_mask"]
        if legal.shape != mask.shape or legal.dtype != torch.bool:
            raise AssertionError(f"{name}.legal_actions after {t} steps: {legal.dtype} "
                                 f"{tuple(legal.shape)}, the mask is bool {tuple(mask.shape)}")
        live = torch.ones(len(mask), dtype=torch.bool) if t == 0 else ~dones[:, t - 1]
        for i in live.nonzero()[:, 0].tolist():
            strict, loose = legal[i] & ~mask[i], mask[i] & ~legal[i]
            if strict.any():
                raise AssertionError(f"{name}: mask too strict at step {t}, row {i}: legal "
                                     f"actions {_describe(strict)} are masked out")
            if loose.any():
                raise AssertionError(f"{name}: mask too loose at step {t}, row {i}: actions "
                                     f"{_describe(loose)} are allowed but illegal")

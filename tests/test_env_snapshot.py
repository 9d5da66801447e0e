"""Snapshot/restore of the env contract, checked over every registered env (conformance)."""
import numpy as np
import pytest
import torch

from heurist.envs import make, registered
from heurist.envs.common.conformance import random_masked_action
from heurist.envs.common.registry import entry

CASES = [(name, {}) for name in registered()] + [
    ("PVRP", {"backend": "torch"}), ("PVRPSequential", {"backend": "torch"})]


def _env(name, extra):
    return make(name, **{**entry(name).test_kwargs, **extra})


def _record(env, td, gen, actions=None):
    """Plays to the end (random masked actions, or ``actions``); returns (actions, outputs)."""
    acts, outs, t = [], [], 0
    while not td["done"].all():
        a = random_masked_action(td["action_mask"], gen) if actions is None else actions[t]
        td[env.action_key] = a
        td = env.step(td)["next"]
        acts.append(a.clone())
        outs.append(_view(env, td))
        t += 1
    return acts, outs


def _view(env, td):
    keys = [*env.observation_spec.keys(True, True), "done"]
    out = {k: td[k].clone() for k in keys}
    if "reward" in td.keys():  # noqa: SIM118 (a TensorDict: `in` needs the keys view)
        out["reward"] = td["reward"].clone()
    return out


def _assert_same(a, b, what):
    assert a.keys() == b.keys(), what
    for k in a:
        torch.testing.assert_close(a[k], b[k], rtol=0, atol=0, equal_nan=True,
                                   msg=lambda m, k=k: f"{what}: {k}: {m}")


def _stack_rows(snaps, rows):
    """Row i of the result from ``snaps[rows[i]]`` (how a search store gathers node states)."""
    out = {}
    for f in snaps[0]:
        parts = [snaps[r][f][i:i + 1] for i, r in enumerate(rows)]
        out[f] = (np.concatenate(parts) if isinstance(parts[0], np.ndarray) else torch.cat(parts))
    return out


@pytest.mark.parametrize("name,extra", CASES, ids=[f"{n}{'-' + e['backend'] if e else ''}"
                                                    for n, e in CASES])
def test_restore_replays_identically(name, extra):
    """Restoring a snapshot and replaying the same actions gives identical observations and
    rewards, also after other actions were played from it, and row-wise mixes of snapshots."""
    env = _env(name, extra)
    env.set_seed(3)
    gen = torch.Generator().manual_seed(3)
    td = env.reset(batch_size=[3])
    start = env.snapshot()
    first = _view(env, td)
    for _ in range(2):
        if td["done"].all():
            break
        td[env.action_key] = random_masked_action(td["action_mask"], gen)
        td = env.step(td)["next"]
    mid, at_mid = env.snapshot(), _view(env, td)
    acts, outs = _record(env, td, gen)
    assert acts, "the episode ended before the snapshot's replay"
    for attempt in range(2):  # the second time after other actions: the snapshot is untouched
        td = env.restore(mid)
        _assert_same(_view(env, td), {k: v for k, v in at_mid.items() if k != "reward"},
                     f"{name}: restored observation")
        _, again = _record(env, td, gen, actions=acts)
        for t, (x, y) in enumerate(zip(outs, again)):
            _assert_same(x, y, f"{name}: replay {attempt} step {t}")
        env.restore(mid)
        _record(env, env.restore(mid), gen)  # other random actions from the same point
    # rows of different snapshots put together: each row is where its own snapshot was
    mixed = env.restore(_stack_rows([start, mid], [0, 1, 0]))
    want = {k: v for k, v in at_mid.items() if k != "reward"}
    for k in want:
        torch.testing.assert_close(mixed[k][0], first[k][0], rtol=0, atol=0, equal_nan=True)
        torch.testing.assert_close(mixed[k][1], want[k][1], rtol=0, atol=0, equal_nan=True)


def test_restore_rejects_a_foreign_snapshot():
    """A snapshot of another batch shape is a ValueError naming the field."""
    env = _env("Malloc", {})
    env.reset(batch_size=[2])
    snap = env.snapshot()
    env.reset(batch_size=[3])
    with pytest.raises(ValueError, match="restore: off has shape"):
        env.restore(snap)

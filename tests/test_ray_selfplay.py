"""Ray self-play workers for MuZero (heurist.agents.distributed.selfplay) on a local 2-CPU Ray
cluster: the same episodes as serial self-play with the same per-shard seeds, in shard order;
the trainer fed by them gives the serial trainer's weights (resumed too); a killed actor is
restarted and its shard replayed once; the single-process path never imports Ray."""
import os
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from ray_cluster import KILL_MARKER, local_cluster

from heurist.agents.muzero.train import (
    MuZeroConfig,
    MuZeroTrainer,
    build_net,
    selfplay_shard,
    serial_selfplay,
    shard_rows,
)

ray = pytest.importorskip("ray")  # an install extra: see README "Install"
from heurist.agents.distributed.selfplay import RaySelfPlay, episodes_equal

_TINY = {"rows": 5, "n_min": 6, "n_max": 9, "simulations": 4, "train_steps": 2,
         "batch_size": 16, "replay_capacity": 500, "latent": 16, "hidden": 32, "unroll": 3,
         "n_step": 3, "workers": 2}


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    """A local Ray cluster with 2 CPUs for the module; yields the workers' kill-marker folder."""
    with local_cluster(sys.modules[__name__], tmp_path_factory.mktemp("kill")) as markers:
        yield markers


@pytest.fixture(scope="module")
def pool(cluster):
    """2 self-play actors for the module, whose shard function kills its actor once (see
    _killed_on_first_attempt); shut down at the end."""
    pool = RaySelfPlay(MuZeroConfig(**_TINY), fn=_killed_on_first_attempt)
    yield pool
    pool.shutdown()


def _killed_on_first_attempt(net, cfg, *, iteration, shard):
    """Kills its own actor process (SIGKILL) the first time it plays (iteration, shard) = (3, 1)
    or (4, 0), then plays the shard."""
    marker = Path(os.environ[KILL_MARKER]) / f"{iteration}-{shard}.killed"
    if (iteration, shard) in {(3, 1), (4, 0)} and not marker.exists():
        marker.write_text(str(os.getpid()))
        os.kill(os.getpid(), signal.SIGKILL)
    return selfplay_shard(net, cfg, iteration=iteration, shard=shard)


@pytest.fixture
def net():
    """The tiny config's freshly initialised network (seed 0), one torch thread as the actors."""
    torch.set_num_threads(1)
    torch.manual_seed(0)
    return build_net(MuZeroConfig(**_TINY))


def _actions_and_returns(shards):
    return [([ep[1].tolist() for ep in eps], rets.tolist()) for eps, rets in shards]


def test_ray_shards_match_serial_in_order(pool, net):
    """2 actors, 2 iterations: every shard's observations, actions, rewards, policy targets and
    returns equal serial self-play seeded (seed, iteration, shard), in shard order, played in 2
    processes other than this one."""
    cfg = MuZeroConfig(**_TINY)
    assert shard_rows(5, 2) == [3, 2]
    for it in (0, 1):
        ray_shards = pool(net, it)
        serial = serial_selfplay(net, cfg, it)
        assert episodes_equal(ray_shards, serial)
        assert _actions_and_returns(ray_shards) == _actions_and_returns(serial)
        assert [len(eps) for eps, _ in ray_shards] == [3, 2]
        assert len(set(pool.pids)) == 2 and os.getpid() not in pool.pids
    # the shards are distinct draws, and a shard depends on its seed alone
    one = selfplay_shard(net, cfg, iteration=1, shard=1)
    assert episodes_equal([one], serial[1:]) and not episodes_equal(serial[:1], serial[1:])


def test_trainer_with_ray_workers_equals_serial_and_resumes(pool, tmp_path):
    """Training 2 iterations with the Ray actors gives bit-identical weights to the serial
    sharded trainer, also when the Ray run resumes from a serial checkpoint after 1."""
    torch.set_num_threads(1)
    cfg = MuZeroConfig(**_TINY)
    serial = MuZeroTrainer(cfg)
    serial.run(2)
    ckpt = tmp_path / "ckpt.pt"
    MuZeroTrainer(cfg).run(1, ckpt=ckpt)
    resumed = MuZeroTrainer(cfg, selfplay=pool)
    resumed.run(2, ckpt=ckpt)
    assert resumed.iteration == 2 and resumed.replay.n_written == serial.replay.n_written > 0
    for (k, va), vb in zip(serial.net.state_dict().items(), resumed.net.state_dict().values(),
                           strict=True):
        assert torch.equal(va, vb), k
    assert [h["return"] for h in resumed.history] == [h["return"] for h in serial.history]


def test_killed_actor_is_restarted_without_loss_or_duplicates(cluster, pool, net):
    """The actor playing shard 1 of iteration 3 dies mid-call: Ray restarts it, it reloads the
    weights and replays shard 1, so both shards arrive once each and equal serial; a one-actor
    pool without restarts fails on the same kind of kill."""
    # the module's 2 actors hold both CPUs: the extra actor reserves none
    cfg = MuZeroConfig(**_TINY)
    shards = pool(net, 3)
    killed = int((cluster / "3-1.killed").read_text())
    assert episodes_equal(shards, serial_selfplay(net, cfg, 3))
    assert [len(eps) for eps, _ in shards] == [3, 2]
    assert pool.pids[1] != killed and pool.worker_pids()[1] == pool.pids[1]
    one = RaySelfPlay(MuZeroConfig(**{**_TINY, "workers": 1}), fn=_killed_on_first_attempt,
                      cpus=0, max_restarts=0, max_task_retries=0)
    try:
        with pytest.raises(ray.exceptions.RayActorError):
            one(net, 4)
    finally:
        one.shutdown()


def test_single_process_path_needs_no_ray():
    """A sharded serial iteration (workers=2, no selfplay callable) runs where Ray cannot be
    imported, and a config with more workers than rows is refused."""
    # None in sys.modules: `import ray` raises and find_spec says absent (torchrl asks it)
    code = ("import sys; sys.modules['ray'] = None\n"
            "import torch; torch.set_num_threads(1)\n"
            "from heurist.agents.muzero.train import MuZeroConfig, MuZeroTrainer\n"
            f"t = MuZeroTrainer(MuZeroConfig(**{_TINY!r})); log = t.iterate()\n"
            "assert t.replay.n_written > 0, log\n"
            "print(sorted(m for m in sys.modules if m.startswith('ray.')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert out.stdout.strip() == "[]"
    with pytest.raises(ValueError, match="workers"):
        MuZeroConfig(**{**_TINY, "workers": 6})
    assert np.sum(shard_rows(32, 5)) == 32 and shard_rows(32, 5) == [7, 7, 6, 6, 6]

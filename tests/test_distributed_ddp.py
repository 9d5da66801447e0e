"""Data-parallel REINFORCE (heurist.agents.distributed.ddp): 2 gloo ranks on half batches take the
same step as 1 process on the full batch; rank 0's checkpoint resumes every rank."""
import subprocess
import sys

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp

from heurist.agents.distributed.ddp import DDPConfig, Trainer, local_shards, shard_seed

CFG = DDPConfig(agent="am", n_clients=6, n_vehicles=2, dim=16, n_heads=2, n_layers=1, ff_dim=32,
                shards=2, shard_size=4, n_samples=4, lr=1e-3, seed=7)


def _rank(rank: int, world: int, rdv: str, out: str) -> None:
    """One gloo rank: a step on its shard, rank 0 saves, every rank resumes and checks."""
    torch.set_num_threads(1)
    dist.init_process_group("gloo", init_method=f"file://{rdv}", rank=rank, world_size=world)
    trainer = Trainer(CFG, rank=rank, world=world)
    trainer.step()
    trainer.save(out)
    resumed = Trainer(CFG, rank=rank, world=world)
    resumed.load(out)
    for (name, a), b in zip(trainer.net.state_dict().items(), resumed.net.state_dict().values()):
        assert torch.equal(a, b), name
    assert resumed.iteration == 1
    dist.destroy_process_group()


def test_two_ranks_on_half_batches_equal_one_process_on_the_full_batch(tmp_path):
    """After one step (AM, 2 shards x 4 PVRP instances x 4 samples) the 2-rank weights, written
    by rank 0, equal the 1-process full-batch weights within 1e-6; the step moved them."""
    torch.set_num_threads(1)
    single = Trainer(CFG)
    before = {k: v.clone() for k, v in single.net.state_dict().items()}
    single.step()
    ckpt = tmp_path / "ddp.pt"
    mp.spawn(_rank, args=(2, str(tmp_path / "rdv"), str(ckpt)), nprocs=2, join=True)
    state = torch.load(ckpt, weights_only=False)
    assert state["iteration"] == 1
    moved = 0.0
    for name, value in single.net.state_dict().items():
        torch.testing.assert_close(state["net"][name], value, atol=1e-6, rtol=1e-5)
        moved = max(moved, float((value - before[name]).abs().max()))
    assert moved > 1e-4  # a real step, not two untouched copies


def test_shard_assignment_and_seeds():
    """Rank r of W owns shards r, r+W, ...; seeds differ by shard and iteration."""
    assert local_shards(4, 1, 2) == [1, 3] and local_shards(2, 0, 1) == [0, 1]
    with pytest.raises(ValueError, match="multiple"):
        local_shards(3, 0, 2)
    seeds = {shard_seed(0, s, it) for s in range(4) for it in range(4)}
    assert len(seeds) == 16 and shard_seed(0, 1, 2) == shard_seed(0, 1, 2)
    with pytest.raises(ValueError, match="n_samples"):
        DDPConfig(n_samples=1)


def test_cli_bad_agent_exits_2():
    """The torchrun entry rejects an unknown agent with exit 2 and one usage error."""
    proc = subprocess.run([sys.executable, "-m", "heurist.agents.distributed.ddp", "--agent",
                           "camp"], capture_output=True, text=True, timeout=60, check=False)
    assert proc.returncode == 2 and "invalid choice: 'camp'" in proc.stderr

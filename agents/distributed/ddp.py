"""Data-parallel REINFORCE for the routing attention models (AM, POMO) with ``torchrun``.

    torchrun --nproc_per_node=2 -m heurist.agents.distributed.ddp --iterations 20 --ckpt ck.pt
    torchrun --nnodes=2 --nproc_per_node=8 --rdzv-endpoint=HEAD:29500 -m heurist.agents.distributed.ddp ...

The same script on CPU (gloo) and GPU (nccl, one GPU per rank: ``cuda:LOCAL_RANK``); without
torchrun's environment it runs as one process.

The global batch of an iteration is ``shards`` shards of ``shard_size`` PVRP instances; shard
``j`` is drawn from the seed of ``(seed, j, iteration)`` and sampled with it, and rank ``r`` of
``W`` owns shards ``r, r + W, ...`` (with ``shards == W``: the seed of ``(seed, rank,
iteration)``). The loss of a shard is REINFORCE with the shared baseline (the mean of each
instance's ``n_samples`` rollouts), so the full-batch loss is the mean of the shard losses and the
mean of the ranks' gradients is the full-batch gradient: 1 process over all shards and ``W``
ranks give the same step (tests/test_distributed_ddp.py). Gradients are all-reduced as one
flat buffer after the local shards' backward passes. (Not ``DistributedDataParallel``: its
reducer hooks the module's ``forward``, while a routing policy decodes through ``init``/``step``.)

Rank 0 writes the checkpoint (atomically); every rank loads it on ``--resume``. Layer norm is the
default: batch norm's statistics would depend on the shard split.
"""
from __future__ import annotations

import argparse
import os
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
import torch.distributed as dist

__all__ = ["DDPConfig", "Trainer", "local_shards", "main", "shard_seed"]


@dataclass(frozen=True)
class DDPConfig:
    """Hyperparameters (keyword-only use): PVRP-P size, the network, the batch split."""

    agent: str = "am"
    n_clients: int = 10
    n_vehicles: int = 2
    dim: int = 32
    n_heads: int = 4
    n_layers: int = 2
    ff_dim: int = 64
    norm: str = "layer"
    shards: int = 2           # shards per iteration (the global batch: shards x shard_size)
    shard_size: int = 8       # instances per shard ...
    n_samples: int = 4        # ... each rolled out n_samples times (shared baseline)
    lr: float = 1e-4
    max_grad_norm: float = 1.0
    seed: int = 0

    def __post_init__(self) -> None:
        if self.agent not in ("am", "pomo"):
            raise ValueError(f"agent must be am or pomo, got {self.agent!r}")
        for key in ("n_clients", "n_vehicles", "dim", "n_heads", "n_layers", "ff_dim", "shards",
                    "shard_size"):
            if getattr(self, key) < 1:
                raise ValueError(f"{key} must be >= 1, got {getattr(self, key)}")
        if self.n_samples < 2:
            raise ValueError(f"n_samples must be >= 2 (shared baseline), got {self.n_samples}")
        if not self.lr > 0:
            raise ValueError(f"lr must be > 0, got {self.lr}")


def shard_seed(seed: int, shard: int, iteration: int) -> int:
    """The seed of shard ``shard``'s instances and samples at ``iteration``."""
    return int(np.random.SeedSequence([int(seed), int(shard), int(iteration)]).generate_state(1)[0])


def local_shards(shards: int, rank: int, world: int) -> list[int]:
    """The shards rank ``rank`` of ``world`` owns: ``rank, rank + world, ...``."""
    if shards % world:
        raise ValueError(f"shards={shards} must be a multiple of the world size {world}")
    return list(range(rank, shards, world))


class Trainer:
    """One rank's model, optimiser and env; :meth:`step` is one synchronous iteration."""

    def __init__(self, cfg: DDPConfig, *, device: torch.device | str = "cpu", rank: int = 0,
                 world: int = 1) -> None:
        from heurist.envs.pvrp import PVRPGenerator, PVRPSequentialEnv, Weights
        from heurist.policies.nets import routing

        self.cfg, self.device, self.rank, self.world = cfg, torch.device(device), rank, world
        self.shards = local_shards(cfg.shards, rank, world)
        self.gen = PVRPGenerator(n_clients=cfg.n_clients, n_vehicles=cfg.n_vehicles)
        self.env = PVRPSequentialEnv(generator=self.gen, n_clients=cfg.n_clients,
                                     n_vehicles=cfg.n_vehicles, weights=Weights(),
                                     device=self.device)
        torch.manual_seed(cfg.seed)  # the same initial weights on every rank
        cls = routing.AttentionModel if cfg.agent == "am" else routing.POMO
        self.net = cls(dim=cfg.dim, n_heads=cfg.n_heads, n_layers=cfg.n_layers,
                       ff_dim=cfg.ff_dim, norm=cfg.norm).to(self.device)
        self.opt = torch.optim.Adam(self.net.parameters(), lr=cfg.lr)
        self.iteration = 0
        if world > 1:  # belt and braces: rank 0's weights everywhere
            for p in self.net.parameters():
                dist.broadcast(p.data, src=0)

    def shard_loss(self, shard: int, iteration: int) -> tuple[torch.Tensor, float]:
        """REINFORCE loss (shared baseline) of one shard; and its mean objective."""
        from heurist.policies.decoding import run_episode, sampler

        cfg = self.cfg
        s = shard_seed(cfg.seed, shard, iteration)
        inst = self.gen(cfg.shard_size, np.random.default_rng(s)).to(self.device)
        big = torch.cat([inst] * cfg.n_samples, 0)  # [K * B] copy-major
        gen = torch.Generator(device=self.device).manual_seed(s)
        traj = run_episode(self.env, self.net, big, select=sampler(gen))
        returns = traj.reward.float().view(cfg.n_samples, cfg.shard_size).T  # [B, K]
        adv = returns - returns.mean(1, keepdim=True)
        loss = -(adv.detach() * traj.logp.float().view(cfg.n_samples, cfg.shard_size).T).mean()
        return loss, float(-returns.mean())

    def _all_reduce_grads(self) -> None:
        grads = [p.grad for p in self.net.parameters() if p.grad is not None]
        flat = torch.cat([g.reshape(-1) for g in grads])
        dist.all_reduce(flat)
        flat /= self.world
        offset = 0
        for g in grads:
            g.copy_(flat[offset:offset + g.numel()].view_as(g))
            offset += g.numel()

    def step(self) -> dict:
        """One iteration: local shards' losses (mean over the global batch), all-reduce, Adam."""
        self.net.train()
        self.opt.zero_grad(set_to_none=False)
        objective = 0.0
        for shard in self.shards:
            loss, obj = self.shard_loss(shard, self.iteration)
            (loss / len(self.shards)).backward()
            objective += obj / len(self.shards)
        if self.world > 1:
            self._all_reduce_grads()
        torch.nn.utils.clip_grad_norm_(self.net.parameters(), self.cfg.max_grad_norm)
        self.opt.step()
        self.iteration += 1
        return {"iteration": self.iteration, "train/objective": objective}

    def save(self, path: str | Path) -> None:
        """Rank 0 writes; every rank waits until the file is there."""
        from heurist.agents.checkpoint import save_checkpoint

        if self.rank == 0:
            save_checkpoint(Path(path), {"net": self.net.state_dict(),
                                         "optimizer": self.opt.state_dict(),
                                         "iteration": self.iteration, "config": asdict(self.cfg)})
        if self.world > 1:
            dist.barrier()

    def load(self, path: str | Path) -> None:
        """Every rank resumes from the same checkpoint."""
        from heurist.agents.checkpoint import load_checkpoint

        state = load_checkpoint(Path(path))
        self.net.load_state_dict(state["net"])
        self.opt.load_state_dict(state["optimizer"])
        self.iteration = int(state["iteration"])


def init_distributed() -> tuple[int, int, torch.device]:
    """``(rank, world, device)`` from torchrun's environment (one process without it): nccl and
    ``cuda:LOCAL_RANK`` when there is a GPU, gloo on CPU."""
    if "WORLD_SIZE" not in os.environ:
        return 0, 1, torch.device("cuda" if torch.cuda.is_available() else "cpu")
    cuda = torch.cuda.is_available()
    local = int(os.environ.get("LOCAL_RANK", "0"))
    if cuda:
        torch.cuda.set_device(local)
    dist.init_process_group(backend="nccl" if cuda else "gloo")
    device = torch.device(f"cuda:{local}" if cuda else "cpu")
    return dist.get_rank(), dist.get_world_size(), device


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="ddp", description=__doc__.split("\n")[0])
    parser.add_argument("--iterations", type=int, default=10)
    parser.add_argument("--agent", default="am", choices=("am", "pomo"))
    parser.add_argument("--n-clients", type=int, default=10)
    parser.add_argument("--shards", type=int, default=None, help="default: the world size")
    parser.add_argument("--shard-size", type=int, default=8)
    parser.add_argument("--n-samples", type=int, default=4)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--ckpt", default=None, help="checkpoint path (rank 0 writes)")
    parser.add_argument("--ckpt-every", type=int, default=10)
    parser.add_argument("--resume", action="store_true")
    args = parser.parse_args(argv)
    if args.iterations < 0 or args.ckpt_every < 1:
        parser.error("--iterations must be >= 0 and --ckpt-every >= 1")
    torch.set_num_threads(args.threads)
    rank, world, device = init_distributed()
    try:
        cfg = DDPConfig(agent=args.agent, n_clients=args.n_clients,
                        shards=args.shards or world, shard_size=args.shard_size,
                        n_samples=args.n_samples, seed=args.seed)
        trainer = Trainer(cfg, device=device, rank=rank, world=world)
    except ValueError as exc:
        print(f"ddp: error: {exc}", file=sys.stderr)
        return 2
    if args.resume and args.ckpt and Path(args.ckpt).is_file():
        trainer.load(args.ckpt)
    t0, start = time.perf_counter(), trainer.iteration
    while trainer.iteration < args.iterations:
        metrics = trainer.step()
        if rank == 0:
            print(f"it {metrics['iteration']} objective {metrics['train/objective']:.4f} "
                  f"{time.perf_counter() - t0:.1f}s", flush=True)
        if args.ckpt and (trainer.iteration % args.ckpt_every == 0
                          or trainer.iteration == args.iterations):
            trainer.save(args.ckpt)
    import resource

    done = time.perf_counter() - t0
    print(f"rank {rank} of {world}: {args.iterations - start} iterations in {done:.2f}s, peak RSS "
          f"{resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MiB", flush=True)
    if world > 1:
        dist.destroy_process_group()
    return 0


if __name__ == "__main__":
    sys.exit(main())

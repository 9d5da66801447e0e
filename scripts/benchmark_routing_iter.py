"""Seconds per training iteration of a routing experiment (the trainer's own iteration, no
validation, checkpoint or logging), wall and CPU, with one torch thread.

    python scripts/benchmark_routing_iter.py --experiment pomo_cvrp20 --iters 4
    python scripts/benchmark_routing_iter.py --experiment am_cvrp20 --set agent.baseline_warmup=0

One warm-up iteration, then ``--iters`` timed ones on fresh draws (iteration seeds 2..); prints
each iteration's wall and CPU seconds, the last loss and the 1-min load. To compare two versions
of the code, run it on each checkout in turn (``PYTHONPATH=<other checkout>/src``) under the same
load: CPU seconds are the steadier figure on shared cores.
"""
from __future__ import annotations

import os
import sys
import time


def main(argv=None) -> int:
    from heurist.cli.common import OneLineParser

    p = OneLineParser(prog="benchmark_routing_iter", description=__doc__.splitlines()[0])
    p.add_argument("--experiment", default="pomo_cvrp20", help="a configs/experiment name")
    p.add_argument("--iters", type=int, default=4)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="a Hydra override, e.g. agent.baseline_warmup=0 (repeatable)")
    args = p.parse_args(argv)
    if args.iters < 1 or args.threads < 1:
        p.error("--iters and --threads must be >= 1")
    import torch
    from hydra import compose, initialize_config_module
    from hydra.errors import HydraException
    from rich.console import Console

    from heurist.agents.routing_task import RoutingTask

    torch.set_num_threads(args.threads)
    with initialize_config_module("heurist.configs", version_base="1.3"):
        try:
            cfg = compose("train", overrides=[f"experiment={args.experiment}", "logger=csv",
                                              "trainer.run_dir=/tmp/benchmark_routing_iter",
                                              "trainer.val_every=1000000000", *args.set])
        except HydraException as exc:  # a bad --set: one line, exit 2
            p.error(f"--set: {str(exc).splitlines()[0]}")
    task = RoutingTask(cfg, console=Console(quiet=True))
    torch.manual_seed(0)
    net = task.build_net()
    task.setup(net)
    opt = torch.optim.Adam(net.parameters(), lr=float(cfg.agent.lr))
    task.iteration(net, opt, 0, seed=1, tgen=None)  # warm-up
    wall, cpu = [], []
    for it in range(1, args.iters + 1):
        t0, c0 = time.perf_counter(), time.process_time()
        m = task.iteration(net, opt, it, seed=it + 1, tgen=None)
        wall.append(time.perf_counter() - t0)
        cpu.append(time.process_time() - c0)
    print(f"{args.experiment}{' ' + ' '.join(args.set) if args.set else ''}: wall s {[round(x, 3) for x in wall]}, CPU s "
          f"{[round(x, 3) for x in cpu]}, last loss {m['loss/reinforce']:.6f}, "
          f"1-min load {os.getloadavg()[0]:.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""ExecuTorch arena bytes: heurist planners vs ExecuTorch's default memory-planning suite.

Every model goes through ``torch.export`` -> ``to_edge`` -> ``to_executorch`` once per planner,
then runs in ``executorch.runtime``: the output must be bitwise the default plan's (the same
kernels on a differently placed arena) and close to eager. Prints a Markdown table: the arena
(``non_const_buffer_sizes[1]``) per planner, the lower bound (peak live bytes of the tensors
planned in the arena), and the compile seconds of each planner.

Usage: python scripts/benchmark_executorch.py [--models mlp,cnn,block,smollm2,mobilenet_v2]
       [--planners greedy_size,minimalloc,skyline] [--time-limit 5]
"""
from __future__ import annotations

import argparse
import sys
import time

import torch

from heurist.envs.malloc.peak import peak_live_bytes


class MLP(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.net = torch.nn.Sequential(torch.nn.Linear(64, 256), torch.nn.ReLU(),
                                       torch.nn.Linear(256, 256), torch.nn.ReLU(),
                                       torch.nn.Linear(256, 10))

    def forward(self, x):
        return self.net(x)


class CNN(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.body = torch.nn.Sequential(
            torch.nn.Conv2d(3, 16, 3, padding=1), torch.nn.ReLU(),
            torch.nn.Conv2d(16, 32, 3, stride=2, padding=1), torch.nn.ReLU(),
            torch.nn.Conv2d(32, 64, 3, stride=2, padding=1), torch.nn.ReLU())
        self.fc = torch.nn.Linear(64, 10)

    def forward(self, x):
        return self.fc(self.body(x).mean((2, 3)))


class Block(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.layer = torch.nn.TransformerEncoderLayer(64, 4, 256, dropout=0.0, batch_first=True)

    def forward(self, x):
        return self.layer(x)


def build(name: str):
    """``(model, example input)`` of benchmark model ``name`` (seeded random weights)."""
    torch.manual_seed(0)
    if name == "mlp":
        return MLP().eval(), torch.randn(8, 64)
    if name == "cnn":
        return CNN().eval(), torch.randn(1, 3, 64, 64)
    if name == "block":
        return Block().eval(), torch.randn(1, 32, 64)
    from heurist.envs.malloc.zoo import build as zoo_build

    layers = {"smollm2": 1, "gpt2": 1}.get(name)
    model, args = zoo_build(name, batch=1, seq=32, n_layers=layers)
    return model.eval(), args[0]


def compile_and_run(model, x, planning_pass):
    from executorch.exir import ExecutorchBackendConfig, to_edge
    from executorch.runtime import Runtime

    t0 = time.perf_counter()
    prog = to_edge(torch.export.export(model, (x,))).to_executorch(
        ExecutorchBackendConfig(memory_planning_pass=planning_pass))
    seconds = time.perf_counter() - t0
    out = Runtime.get().load_program(prog.buffer).load_method("forward").execute([x])[0]
    return prog, out, seconds


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", default="mlp,cnn,block,smollm2,mobilenet_v2")
    parser.add_argument("--planners", default="greedy_size,minimalloc,skyline")
    parser.add_argument("--time-limit", type=float, default=5.0,
                        help="seconds (as a node budget) of each exact search")
    args = parser.parse_args()
    from executorch.exir.passes import MemoryPlanningPass

    from heurist.policies.runtimes.executorch_planner import memory_planning_pass

    planners = [p for p in args.planners.split(",") if p]
    head = ["model", "tensors", "lower bound", "ExecuTorch default"] + planners
    print("| " + " | ".join(head + ["compile s (default / " + " / ".join(planners) + ")",
                                    "outputs"]) + " |")
    print("|" + "---|" * (len(head) + 2))
    failed = False
    for name in [m for m in args.models.split(",") if m]:
        model, x = build(name)
        with torch.no_grad():
            eager = model(x)
        prog, ref, sec = compile_and_run(model, x, MemoryPlanningPass())
        arenas = [prog.executorch_program.execution_plan[0].non_const_buffer_sizes[1]]
        secs = [sec]
        ok = torch.allclose(ref, eager, rtol=1e-4, atol=1e-5)
        for planner in planners:
            planning_pass = memory_planning_pass(planner, time_limit=args.time_limit)
            prog, out, sec = compile_and_run(model, x, planning_pass)
            inst = planning_pass.memory_planning_algo.algo_list[0].instances[-1]
            arenas.append(prog.executorch_program.execution_plan[0].non_const_buffer_sizes[1])
            secs.append(sec)
            ok = ok and torch.equal(out, ref)
        failed |= not ok
        cells = [name, str(inst.n), f"{peak_live_bytes(inst):,}"] + [f"{a:,}" for a in arenas]
        cells += [" / ".join(f"{s:.1f}" for s in secs), "equal" if ok else "DIFFER"]
        print("| " + " | ".join(cells) + " |", flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())

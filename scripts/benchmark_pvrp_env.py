"""Throughput of the PVRP envs against rl4co's CVRPEnv (random masked actions, same batch).

Every env runs whole episodes (reset excluded) on the same batch size; the random policy (argmax of
uniform noise over the action mask) is the same for all. Two clocks per episode: the
time spent inside ``env.step`` alone and the same plus sampling. rl4co
computes the tour length once at the end (``get_reward``), which is added to its env time; the
PVRP envs compute the reward at every step. Every repeat replays the same episode (seeded
sampler); repeats are interleaved across envs and each step's fastest repeat is kept, because
the 2 shared cores are noisy.

Counts: one ``PVRP`` step is one [B, M] multi-agent step; "decisions/s" counts B*M per step and
"moves/s" only the vehicles whose position changed (conflict losers and depot stays excluded). A
``PVRPSequential`` or rl4co step is one decision (and one move) per row.

    python scripts/benchmark_pvrp_env.py --batch 1024 --n 100 --m 5 --repeats 5 --threads 1
"""
from __future__ import annotations

import argparse
import time

import torch

from heurist.envs.pvrp import PVRPEnv, PVRPSequentialEnv


def _sample(mask: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
    """Uniform legal action per row: argmax of iid uniforms over the legal entries (much cheaper
    than ``torch.multinomial`` on CPU, which costs ~10 us per row)."""
    u = torch.rand(mask.shape, generator=gen)
    return (u * mask).argmax(-1)


def run_pvrp(env, instance, seed: int = 0) -> dict:
    """One episode per row with a freshly seeded sampler (so every repeat is the same episode):
    per-step seconds in ``env.step`` and in sampling, and the moves made."""
    gen = torch.Generator().manual_seed(seed)
    td = env.reset(instance=instance.clone())
    step_s, sample_s, moves = [], [], 0
    while not td["done"].all():
        pos = td["vehicle_pos"]
        t = time.perf_counter()
        td["action"] = _sample(td["action_mask"], gen)
        t1 = time.perf_counter()
        td = env.step(td)["next"]
        step_s.append(time.perf_counter() - t1)
        sample_s.append(t1 - t)
        moves += int((td["vehicle_pos"] != pos).sum())
    return {"step": step_s, "sample": sample_s, "moves": moves}


def run_rl4co(env, td0, seed: int = 0) -> dict:
    """As :func:`run_pvrp`; the final ``get_reward`` is timed as part of the last step."""
    gen = torch.Generator().manual_seed(seed)
    td = env.reset(td0.clone())
    step_s, sample_s, actions = [], [], []
    while not td["done"].all():
        t = time.perf_counter()
        a = _sample(td["action_mask"], gen)
        td.set("action", a)
        t1 = time.perf_counter()
        td = env.step(td)["next"]
        step_s.append(time.perf_counter() - t1)
        sample_s.append(t1 - t)
        actions.append(a)
    t = time.perf_counter()
    env.get_reward(td, torch.stack(actions, 1))
    step_s[-1] += time.perf_counter() - t
    return {"step": step_s, "sample": sample_s, "moves": len(step_s) * td.batch_size[0]}


def per_step_min(runs: list[dict], key: str) -> float:
    """Sum over the steps of the fastest repeat of that step: the repeats replay one episode, so
    this strips most of the noise other processes add on the shared cores."""
    return sum(min(col) for col in zip(*(r[key] for r in runs)))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--batch", type=int, default=1024)
    ap.add_argument("--n", type=int, default=100)
    ap.add_argument("--m", type=int, default=5)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    B, N, M = args.batch, args.n, args.m
    print(f"torch {torch.__version__}, threads {torch.get_num_threads()}, B={B}, N={N}, M={M}, "
          f"best of {args.repeats} interleaved episodes")
    runners = []  # (name, decisions per row per step, run())
    for name, cls, backend, per in (("PVRP numba", PVRPEnv, "numba", M),
                                    ("PVRP torch", PVRPEnv, "torch", M),
                                    ("PVRPSequential numba", PVRPSequentialEnv, "numba", 1),
                                    ("PVRPSequential torch", PVRPSequentialEnv, "torch", 1)):
        env = cls(n_clients=N, n_vehicles=M, backend=backend)
        inst = env.generate(B, seed=0)
        run_pvrp(env, inst[:2])  # warm-up: numba compile / cache load
        runners.append((name, per, lambda env=env, inst=inst: run_pvrp(env, inst)))
    try:
        from rl4co.envs import CVRPEnv

        r4 = CVRPEnv(generator_params={"num_loc": N})
        td0 = r4.generator(batch_size=[B])
        runners.append(("rl4co CVRPEnv", 1, lambda: run_rl4co(r4, td0)))
    except ImportError as exc:
        print(f"rl4co unavailable ({exc}); its row is skipped")
    results: dict[str, list[dict]] = {name: [] for name, _, _ in runners}
    for _ in range(args.repeats):
        for name, _, run in runners:
            results[name].append(run())
    print(f"{'env':22s} {'steps/ep':>8s} {'env-steps/s':>12s} {'decisions/s':>12s} "
          f"{'moves/s':>11s} {'ms/step':>8s} {'+sampling steps/s':>17s} {'moves/s':>11s}")
    for name, per, _ in runners:
        runs = results[name]
        steps, moves = len(runs[0]["step"]), runs[0]["moves"]
        env_s = per_step_min(runs, "step")
        loop_s = env_s + per_step_min(runs, "sample")
        print(f"{name:22s} {steps:8d} {B * steps / env_s:12.0f} {B * per * steps / env_s:12.0f} "
              f"{moves / env_s:11.0f} {1e3 * env_s / steps:8.3f} {B * steps / loop_s:17.0f} "
              f"{moves / loop_s:11.0f}")
    print("uncontended estimate: per step, the fastest of the repeats (same episode replayed)")

if __name__ == "__main__":
    main()

"""The mapping search's leaf value: ms per greedy rollout, the env's ``greedy_rollout`` against the
dedicated kernel ``heurist.agents.muzero.rollout.mapping_rollout``, on the zoo's graphs.

    python scripts/benchmark_muzero_rollout.py [--models vit,resnet50,...] [--modes training]
        [--fractions 0.1,0.25] [--points 0,0.33,0.67] [--reps 3] [--out results.md]

One row (B = 1) per (model, C); each rollout starts from the state after a share ``--points`` of
the decisions were played by the greedy policy (lowest legal action). Both values are compared
exactly (the script raises on any difference); times are per rollout, the median of ``--reps``
(wall and process CPU time; the env is restored between repetitions).
"""
from __future__ import annotations

import argparse
import sys
import time
from functools import partial

import numpy as np
import torch

from heurist.agents.muzero.evaluation import HELD_OUT, TRAIN
from heurist.agents.muzero.rollout import mapping_rollout
from heurist.envs.malloc.cache import cache_dir, cache_key, load_instance
from heurist.envs.malloc.env import MallocEnv
from heurist.envs.malloc.generator import pad_instances
from heurist.envs.malloc.oracle import peak_live_bytes

__all__ = ["main"]


def _timed(fn, env, snap, reps):
    """(value, median wall s, median CPU s) of ``fn()`` from ``snap``, ``reps`` times."""
    walls, cpus, value = [], [], None
    for _ in range(reps):
        env.restore(snap)
        w, c = time.perf_counter(), time.process_time()
        value = fn()
        walls.append(time.perf_counter() - w)
        cpus.append(time.process_time() - c)
    env.restore(snap)
    return value, float(np.median(walls)), float(np.median(cpus))


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models", default=",".join(TRAIN + HELD_OUT))
    ap.add_argument("--modes", default="training")
    ap.add_argument("--fractions", default="0.1,0.25")
    ap.add_argument("--points", default="0,0.33,0.67")
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--k", type=int, default=8)
    ap.add_argument("--order", default="msa", choices=("start", "size", "msa"))
    ap.add_argument("--out", default=None)
    a = ap.parse_args(argv)
    try:
        fracs = [float(x) for x in a.fractions.split(",")]
        points = [float(x) for x in a.points.split(",")]
    except ValueError:
        print("--fractions/--points: not a list of numbers", file=sys.stderr)
        raise SystemExit(2) from None
    if a.reps < 1:
        print(f"--reps: must be >= 1, got {a.reps}", file=sys.stderr)
        raise SystemExit(2)
    torch.set_num_threads(1)
    lines = [("| program | N | C/peak | from decision | env greedy_rollout ms (wall / CPU) | "
              "mapping_rollout ms (wall / CPU) | speedup (CPU) |"),
             "|---|---:|---:|---:|---|---|---:|"]
    tot_env = tot_fast = 0.0
    for m in a.models.split(","):
        for mode in a.modes.split(","):
            key = cache_key(m, batch=1, seq=128, mode=mode, n_layers=None, inputs="first_use")
            path = cache_dir() / f"{key}.npz"
            if not path.exists():
                print(f"--models: {m} {mode} is not extracted ({path}); run "
                      "scripts/extract_zoo.py first", file=sys.stderr)
                raise SystemExit(2)
            base = load_instance(path)
            peak = peak_live_bytes(base)
            for f in fracs:
                inst = base.with_capacity(int(peak * f))
                env = MallocEnv(mode="mapping", k=a.k, order=a.order, seed=0)
                td = env.reset(instance=pad_instances([inst]))
                mapping_rollout(env)  # compile / load both kernels outside the timing
                env.restore(env.snapshot())
                played = 0
                for pt in points:
                    while played < int(pt * inst.n):
                        td["action"] = td["action_mask"].long().argmax(-1)
                        td = env.step(td)["next"]
                        played += 1
                    snap = env.snapshot()
                    v_env, w_env, c_env = _timed(env.greedy_rollout, env, snap, a.reps)
                    v_fast, w_fast, c_fast = _timed(partial(mapping_rollout, env), env, snap,
                                                    a.reps)
                    if not np.array_equal(v_env, v_fast):
                        raise AssertionError(f"{inst.name} C {f} at {played}: env {v_env} "
                                             f"!= fast {v_fast}")
                    tot_env += c_env
                    tot_fast += c_fast
                    lines.append(f"| {inst.name.split('-first_use')[0]} | {inst.n} | {f:.2f} | "
                                 f"{played} | {1e3 * w_env:.1f} / {1e3 * c_env:.1f} | "
                                 f"{1e3 * w_fast:.2f} / {1e3 * c_fast:.2f} | "
                                 f"{c_env / max(c_fast, 1e-9):.0f}x |")
                    print(lines[-1], file=sys.stderr, flush=True)
    lines.append(f"\nall equal bit for bit; total CPU per rollout set: env {tot_env:.2f} s, "
                 f"fast {tot_fast:.3f} s ({tot_env / max(tot_fast, 1e-9):.0f}x)")
    print("\n".join(lines))
    if a.out:
        with open(a.out, "w") as fh:
            fh.write("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()

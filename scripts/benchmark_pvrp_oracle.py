"""Decoding cost of the PVRP oracle: the batched numba replay against the Python reference replay,
in the same run, on the same logs.

    python scripts/benchmark_pvrp_oracle.py [--cvrp-instances 64] [--pvrp-instances 128]

Three decodes (the decoding unit's ``rollout``, every candidate judged by the env oracle):

* ``pomo-cvrp20 multistart_aug8``: an untrained POMO (6 layers, seed 0; the oracle's work does not
  depend much on the weights) on the first ``--cvrp-instances`` CVRP20 test instances of
  ``scripts/benchmark_rl4co.py`` (``PVRPSequential``, 20 starts x 8 copies = 160 candidates);
* ``camp-pvrp-p aug8`` and ``camp-pvrp-p multistart_aug8``: the shipped policy on the first
  ``--pvrp-instances`` held-out instances of ``scripts/benchmark_routing.py`` (``PVRP``, retire).

For each: ms per instance of the whole decode with the numba oracle (``oracle._judge``) and with
the reference (``oracle._judge_reference`` swapped in), the two runs' values checked identical;
then the oracle alone on every candidate log of the decode (us per candidate, both, their ratio,
the verdicts checked bit-identical). One torch thread; the 1-min load is printed.
"""
from __future__ import annotations

import argparse
import os
import sys
import time
from datetime import datetime, timezone


def _args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--cvrp-instances", type=int, default=64)
    p.add_argument("--pvrp-instances", type=int, default=128)
    p.add_argument("--threads", type=int, default=1)
    args = p.parse_args(argv)
    if args.cvrp_instances < 1 or args.pvrp_instances < 1 or args.threads < 1:
        p.error("--cvrp-instances, --pvrp-instances and --threads must be >= 1")
    return args


def _cases(args):
    """(name, env, net, instance TensorDict, rollout keywords) per decode."""
    import torch

    from heurist.envs.pvrp import PVRPEnv, PVRPSequentialEnv, Weights, generate
    from heurist.policies.nets.routing.pomo import POMO
    from heurist.policies.pvrp.learned import decode_spec, load_learned

    torch.manual_seed(0)
    cvrp = generate(args.cvrp_instances, n_clients=20, n_vehicles=1, capacity=30, rng=20250901)
    cvrp_env = PVRPSequentialEnv(n_clients=20, n_vehicles=1, weights=Weights(1.0, 0.0))
    pomo = POMO().eval()
    pvrp = generate(args.pvrp_instances, n_clients=20, n_vehicles=3, variant="p", capacity=40,
                    rng=20250901)
    camp = load_learned("camp-pvrp-p")
    pvrp_env = PVRPEnv(n_clients=20, n_vehicles=3, weights=Weights(), retire=camp.retire)
    return [("pomo-cvrp20 multistart_aug8", cvrp_env, pomo, cvrp.to_tensordict(),
             decode_spec("multistart_aug8")),
            ("camp-pvrp-p aug8", pvrp_env, camp.net, pvrp.to_tensordict(), decode_spec("aug8")),
            ("camp-pvrp-p multistart_aug8", pvrp_env, camp.net, pvrp.to_tensordict(),
             decode_spec("multistart_aug8"))]


def _decode(env, net, td, spec, *, reference: bool):
    """(seconds, Decoded) of one ``rollout``, judged by the numba or the reference oracle."""
    import torch

    from heurist.envs.pvrp import oracle
    from heurist.policies.decoding import rollout

    fast = oracle._judge
    if reference:
        oracle._judge = oracle._judge_reference
    try:
        with torch.inference_mode():
            t0 = time.perf_counter()
            d = rollout(env, net, td, **spec)
            return time.perf_counter() - t0, d
    finally:
        oracle._judge = fast


def _oracle_alone(env, net, td, spec):
    """(candidates, numba s, reference s) of the oracle on every candidate log of the decode."""
    import torch

    from heurist.envs.pvrp import oracle
    from heurist.policies.decoding.rollout import _candidates
    from heurist.policies.nets.routing.symmetry import N_DIHEDRAL, dihedral8

    base = dihedral8(td) if spec["augment"] else td
    with torch.inference_mode():
        traj, k = _candidates(env, net, base, spec["strategy"], n_samples=1, beam_width=1,
                              seed=0, temperature=1.0)
    K = k * (N_DIHEDRAL if spec["augment"] else 1)
    orig = torch.cat([td] * K, 0)
    acts = traj.actions
    prios = traj.priorities
    retire = bool(getattr(env, "retire", False)) and acts.ndim == 3
    times = {}
    out = {}
    for name, fn in (("numba", oracle._judge), ("reference", oracle._judge_reference)):
        t0 = time.perf_counter()
        out[name] = fn(orig, acts, prios, env.weights, retire)
        times[name] = time.perf_counter() - t0
    if out["numba"].tobytes() != out["reference"].tobytes():
        raise RuntimeError("the numba oracle's values differ from the reference's")
    return acts.shape[0], times["numba"], times["reference"]


def main(argv=None) -> int:
    import torch

    args = _args(argv)
    torch.set_num_threads(args.threads)
    load0 = os.getloadavg()[0]
    stamp = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    cases = _cases(args)
    lines = [f"Command: `python {' '.join(sys.argv)}`\n",
             (f"{stamp}, {os.cpu_count()} cores shared, 1-min load {load0:.1f} at start, torch "
              f"{torch.__version__}, {args.threads} thread(s).\n"),
             ("| decode | instances | decode ms / instance, reference oracle | numba oracle | "
              "speed-up | candidates | oracle us / candidate, reference | numba | oracle ratio |"),
             "|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for name, env, net, td, spec in cases:
        _decode(env, net, td[:2], spec, reference=False)  # warm-up: numba, first allocations
        ref_s, ref = _decode(env, net, td, spec, reference=True)
        fast_s, fast = _decode(env, net, td, spec, reference=False)
        if not (torch.equal(ref.value, fast.value) and torch.equal(ref.actions, fast.actions)):
            raise RuntimeError(f"{name}: the two oracles kept different solutions")
        n, t_fast, t_ref = _oracle_alone(env, net, td, spec)
        B = td.batch_size[0]
        lines.append(f"| {name} | {B} | {1e3 * ref_s / B:.1f} | {1e3 * fast_s / B:.1f} | "
                     f"{ref_s / fast_s:.1f}x | {n:,} | {1e6 * t_ref / n:.1f} | "
                     f"{1e6 * t_fast / n:.2f} | {t_ref / t_fast:.0f}x |")
        print(lines[-1], f"(mean objective {float(fast.objective.mean()):.4f})", flush=True)
    lines.append(f"\n(1-min load {os.getloadavg()[0]:.1f} at the end.)")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

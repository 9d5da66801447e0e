"""mallocMuZero with a trained network on the zoo's real graphs: MuZero mode (search over the
learned model) and AlphaZero mode with the network as prior/value, vs MSA and the 0/1 bound.

    python scripts/benchmark_muzero_learned.py --ckpt runs/muzero/ckpt.pt [--simulations 16]
        [--rollout-simulations 4] [--models gpt2,...] [--fractions 0.1,0.25] [--bound-limit 10]
        [--out results.md]

The network is trained on synthetic instances only (``scripts/train_muzero.py``), so every zoo
row is unseen; the split column (train: gpt2, bert, resnet50; held out: vit, mobilenet_v2,
smollm2) is the one fixed for issue 10. Columns: ``muzero``: Gumbel MuZero over the learned
model; ``az-net``: the true simulator with the network's prior and value (no rollout);
``az-net+rollout``: network prior, greedy-rollout value. Every plan goes through ``check_plan``
and ``evaluate_plan`` (and the env's oracles inside ``plan_mapping``).
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import torch

from heurist.agents.muzero import LearnedModel, plan_mapping
from heurist.agents.muzero.evaluation import (
    CLASSICAL,
    HELD_OUT,
    TRAIN,
    env_greedy_speedup,
    mapping_speedup,
)
from heurist.envs.malloc.cache import cache_dir, cache_key, load_instance
from heurist.envs.malloc.instance import SLOW
from heurist.envs.malloc.oracle import peak_live_bytes
from heurist.policies.export.atomic import load_tensors
from heurist.policies.malloc import evaluate_plan, mip_saving_bound, plan
from heurist.policies.nets.muzero import MuZeroNet


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--ckpt", required=True)
    ap.add_argument("--models", default=",".join(TRAIN + HELD_OUT))
    ap.add_argument("--fractions", default="0.1,0.25")
    ap.add_argument("--simulations", type=int, default=16)
    ap.add_argument("--rollout-simulations", type=int, default=4)
    ap.add_argument("--bound-limit", type=float, default=10.0)
    ap.add_argument("--synthetic", type=int, default=0,
                    help="instead of the zoo: this many held-out synthetic instances "
                         "(seeds 10**9 + i, N in the training range)")
    ap.add_argument("--untrained", action="store_true",
                    help="the same network freshly initialised (seed 0): what training adds")
    ap.add_argument("--out", default=None)
    a = ap.parse_args(argv)
    if not Path(a.ckpt).is_file():
        print(f"--ckpt: no such file {a.ckpt}", file=sys.stderr)
        raise SystemExit(2)
    torch.set_num_threads(1)
    d = load_tensors(a.ckpt)
    c = d["config"]
    k = int(c["k"])
    order = str(c.get("order", "start"))
    insts = []
    for m in ([] if a.synthetic else a.models.split(",")):
        path = cache_dir() / (cache_key(m, batch=1, seq=128, mode="inference", n_layers=None,
                                        inputs="first_use") + ".npz")
        if not path.exists():
            print(f"--models: {m} is not extracted ({path})", file=sys.stderr)
            raise SystemExit(2)
        inst = load_instance(path)
        peak = peak_live_bytes(inst)
        insts += [(m, float(f), inst.with_capacity(int(peak * float(f))))
                  for f in a.fractions.split(",")]
    if a.synthetic:
        from heurist.envs.malloc.synthetic import random_instance

        rng = np.random.default_rng(10**9)
        for i in range(a.synthetic):
            n = int(rng.integers(int(c["n_min"]), int(c["n_max"]) + 1))
            insts.append((f"synthetic-{i}", float(c["capacity_fraction"]),
                          random_instance(n, seed=10**9 + i, max_lifetime=16,
                                          size_range=(1024, 2**20),
                                          capacity_fraction=float(c["capacity_fraction"]))))
    rows = [x for _, _, x in insts]
    w = d["net"]
    net = MuZeroNet(obs_dim=w["represent_net.0.weight"].shape[1],
                    n_actions=w["policy_net.6.weight"].shape[0], latent=int(c["latent"]),
                    hidden=int(c["hidden"]), support_size=int(c["support_size"]),
                    value_scale=float(c["value_scale"]))
    if a.untrained:
        torch.manual_seed(0)
        net = MuZeroNet(**net.config)
    else:
        net.load_state_dict(w)
    model = LearnedModel(net)
    runs, secs = {}, {}
    for name, kw in (("muzero", {"model": model, "num_simulations": a.simulations}),
                     ("az-net", {"prior": model.prior, "value": "prior",
                                 "num_simulations": a.simulations}),
                     ("az-net+rollout", {"prior": model.prior, "value": "rollout",
                                         "num_simulations": a.rollout_simulations})):
        t0 = time.perf_counter()
        runs[name] = plan_mapping(rows, k=k, order=order, **kw)[0]
        secs[name] = time.perf_counter() - t0
        print(f"{name}: {secs[name]:.0f} s", file=sys.stderr, flush=True)
    cols = ["msa", "best classical", *runs, "bound"]
    lines = ["| program | split | N | C/peak | " + " | ".join(cols) + " | closed (muzero) |",
             "|---|---|---|---|" + "---:|" * (len(cols) + 1)]
    save = lambda s: 1.0 - 1.0 / s
    closed_all, means, gaps = [], [], []
    for i, (m, f, inst) in enumerate(insts):
        sp = {n: mapping_speedup(inst, plan(inst, n, mode="mapping")) for n in CLASSICAL}
        best = max(*sp.values(), env_greedy_speedup(inst, "start", k),
                   env_greedy_speedup(inst, "msa", k))
        b = mip_saving_bound(inst, time_limit=a.bound_limit)
        t_slow = evaluate_plan(inst, np.full(inst.n, SLOW)).time_all_slow
        bound = t_slow / b.time
        vals = {"msa": sp["msa"], "best classical": best,
                **{n: mapping_speedup(inst, r[i].plan) for n, r in runs.items()}, "bound": bound}
        gap = save(bound) - save(best)
        cl = (save(vals["muzero"]) - save(best)) / gap if gap > 1e-12 else float("nan")
        if gap > 1e-12:
            closed_all.append(cl)
        gaps.append((save(vals["muzero"]) - save(best), gap))
        split = "train" if m in TRAIN else "held-out"
        if a.synthetic:
            means.append(vals)
            continue
        lines.append(f"| {m} | {split} | {inst.n} | {f:.2f} | "
                     + " | ".join(f"{vals[c]:.3f}" + ("" if c != "bound" or b.optimal else "*")
                                  for c in cols)
                     + " | " + ("-" if np.isnan(cl) else f"{100 * cl:.0f}%") + " |")
        print(lines[-1], file=sys.stderr, flush=True)
    if a.synthetic:
        lines.append(f"| {a.synthetic} synthetic (mean) | held-out | "
                     f"{np.mean([x.n for x in rows]):.1f} | {c['capacity_fraction']:.2f} | "
                     + " | ".join(f"{np.mean([v[col] for v in means]):.4f}" for col in cols)
                     + f" | {100 * sum(g for g, _ in gaps) / sum(x for _, x in gaps):.0f}% "
                     "(total saving gained / total gap) |")
    lines.append("\nwall: " + ", ".join(f"{n} {s:.0f} s" for n, s in secs.items())
                 + "; muzero mean gap closed "
                 + (f"{100 * np.mean(closed_all):.0f}%" if closed_all else "-") + " over "
                 + f"{len(closed_all)} rows with a gap")
    print("\n".join(lines))
    if a.out:
        Path(a.out).write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()

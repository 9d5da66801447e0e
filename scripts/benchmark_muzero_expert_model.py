"""MuZero mode trained on the lookahead expert (``experiment=muzero_malloc_mapping_expert``) on
held-out synthetic instances (and optionally the zoo): the learned model's search at several
simulation budgets vs MSA, the env's greedy episodes, the network alone, the expert and
AlphaZero-mode search over the true simulator; plus the learned model's calibration.

    python scripts/benchmark_muzero_expert_model.py --ckpt RUN/checkpoint.pt [--synthetic 64]
        [--simulations 4,16,32] [--az-simulations 16] [--models vit,...] [--fractions 0.1,0.25]
        [--bound-limit 0] [--out results.md]

Held-out synthetic instances: seeds ``10**9 + i`` (``--seed-base 1500000000``: a validation set
for choosing the search's settings) (N drawn from ``default_rng(10**9)`` in the
checkpoint's ``[n_min, n_max]``, as ``benchmark_muzero_learned.py --synthetic``); the expert's
training instances have seeds in ``[0, 10**9)``, so none is shared. Columns: ``msa`` (XLA-like,
``policies.malloc.msa``), ``greedy <order>`` (the env's greedy episode in that decision order),
``best classical`` (the best of msa, greedy_size, first_fit and the three greedy episodes, per
instance), ``net`` (the network alone: highest-logit legal action), ``muzero N`` (Gumbel MuZero
over the learned model, N simulations, deterministic; the env's mask at the root only; ``mM``:
Gumbel's m = M actions considered at the root, the network's top M), ``muzero-puct N`` (PUCT
over the learned model, visit-count argmax, no noise), ``cX`` Gumbel's c_scale X (default
0.1: sigma(q) = (50 + max N) c_scale q_hat), ``dD`` a tree depth limit D,
``expert`` (the one-step lookahead over the true simulator that wrote the targets), ``az N``
(Gumbel search over the true simulator, uniform prior, greedy-rollout leaf value). Every search
plan goes through ``plan_mapping``'s oracles (``check_plan``, ``evaluate_plan``, the env's
``check_solution``/``evaluate``); classical plans through ``check_plan``. Calibration: on the
expert's positions of the held-out instances, the model's value, reward and child value against
the true simulator's, and how often the model's one-step ``r + v`` picks the expert's action.
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import torch

from heurist.agents.muzero import LearnedModel, plan_mapping
from heurist.agents.muzero.distill import prior_greedy_returns
from heurist.agents.muzero.evaluation import CLASSICAL, env_greedy_speedup, mapping_speedup
from heurist.agents.muzero.expert_model import lookahead_episodes
from heurist.policies.export.atomic import load_tensors
from heurist.policies.malloc import plan
from heurist.policies.nets.muzero import MuZeroNet

ORDERS = ("start", "msa", "size")


def _fail(msg: str) -> None:
    print(msg, file=sys.stderr)
    raise SystemExit(2)


def load_net(path: str) -> tuple[MuZeroNet, dict]:
    """The checkpoint's network (eval mode) and its config dict."""
    d = load_tensors(path)
    c, w = d["config"], d["net"]
    net = MuZeroNet(obs_dim=w["represent_net.0.weight"].shape[1],
                    n_actions=w["policy_net.6.weight"].shape[0], latent=int(c["latent"]),
                    hidden=int(c["hidden"]), support_size=int(c["support_size"]),
                    value_scale=float(c["value_scale"]))
    net.load_state_dict(w)
    return net.eval(), c


def held_out(c: dict, n: int, base: int = 10**9) -> list:
    """``n`` synthetic instances of the checkpoint's distribution, seeds ``base + i``."""
    from heurist.envs.malloc.synthetic import random_instance

    rng = np.random.default_rng(base)
    out = []
    for i in range(n):
        size = int(rng.integers(int(c["n_min"]), int(c["n_max"]) + 1))
        out.append(random_instance(size, seed=base + i, max_lifetime=16,
                                   size_range=(1024, 2**20),
                                   capacity_fraction=float(c["capacity_fraction"])))
    return out


@torch.no_grad()
def calibration(net: MuZeroNet, episodes: list) -> dict[str, float]:
    """Mean absolute errors of the model's value / reward / child value against the true
    simulator's on the expert's positions, and the one-step agreement with the expert."""
    obs = torch.from_numpy(np.concatenate([e[0] for e in episodes]))
    value = np.concatenate([e[4] for e in episodes])
    legal = np.concatenate([e[5] for e in episodes])
    cr = np.concatenate([e[6] for e in episodes])
    cv = np.concatenate([e[7] for e in episodes])
    M, A = legal.shape
    s = net.represent(obs)
    logits, v_logits = net.predict(s)
    v_hat = net.to_scalar(v_logits).double().numpy()
    prior_pick = logits.masked_fill(~torch.from_numpy(legal), -torch.inf).argmax(-1).numpy()
    s1, r_logits = net.dynamics(s.repeat_interleave(A, 0), torch.arange(A).repeat(M))
    r_hat = net.to_scalar(r_logits).double().numpy().reshape(M, A)
    cv_hat = net.to_scalar(net.predict(s1)[1]).double().numpy().reshape(M, A)
    q, q_hat = cr + cv, r_hat + cv_hat
    multi = legal.sum(-1) > 1
    pick = np.where(legal, q_hat, -np.inf).argmax(-1)
    best = np.where(legal, q, -np.inf).argmax(-1)
    regret = q[np.arange(M), best] - q[np.arange(M), pick]
    return {"positions": float(M), "choice positions": float(multi.sum()),
            "value MAE": float(np.abs(v_hat - value).mean()),
            "value mean (true)": float(value.mean()),
            "reward MAE (legal)": float(np.abs(r_hat - cr)[legal].mean()),
            "child value MAE (legal)": float(np.abs(cv_hat - cv)[legal].mean()),
            "one-step agreement with expert": float((pick == best)[multi].mean()),
            "policy agreement with expert": float((prior_pick == best)[multi].mean()),
            "expert picks slow": float((best == A - 1)[multi].mean()),
            "model q picks slow": float((pick == A - 1)[multi].mean()),
            "one-step regret (true q)": float(regret[multi].mean())}


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--ckpt", required=True)
    ap.add_argument("--synthetic", type=int, default=64)
    ap.add_argument("--seed-base", type=int, default=10**9,
                    help="synthetic seeds base + i (1e9: the held-out set; 1.5e9: validation, "
                         "for choosing search settings)")
    ap.add_argument("--simulations", default="4,16,32")
    ap.add_argument("--az-simulations", type=int, default=16)
    ap.add_argument("--considered", default="16",
                    help="Gumbel's m at the root for the MuZero-mode search (comma list)")
    ap.add_argument("--puct", action="store_true", help="also PUCT over the learned model")
    ap.add_argument("--c-scale", default="0.1",
                    help="Gumbel's c_scale in sigma(q) for the MuZero-mode search (comma list)")
    ap.add_argument("--max-depth", default="0", help="tree depth limits (comma list; 0: none)")
    ap.add_argument("--models", default="", help="zoo models (b1 s128 inference), e.g. vit")
    ap.add_argument("--fractions", default="0.1,0.25")
    ap.add_argument("--bound-limit", type=float, default=0.0, help="0: no 0/1 bound")
    ap.add_argument("--out", default=None)
    a = ap.parse_args(argv)
    if not Path(a.ckpt).is_file():
        _fail(f"--ckpt: no such file {a.ckpt}")
    try:
        sims = [int(x) for x in a.simulations.split(",")]
    except ValueError:
        _fail(f"--simulations: comma-separated integers, got {a.simulations!r}")
    try:
        considered = [int(x) for x in a.considered.split(",")]
    except ValueError:
        _fail(f"--considered: comma-separated integers, got {a.considered!r}")
    try:
        c_scales = [float(x) for x in a.c_scale.split(",")]
        depths = [int(x) for x in a.max_depth.split(",")]
    except ValueError:
        _fail(f"--c-scale / --max-depth: comma-separated numbers, got {a.c_scale!r}, "
              f"{a.max_depth!r}")
    if min(sims) < 1 or min(considered) < 1 or a.synthetic < 0:
        _fail("--simulations must be >= 1 and --synthetic >= 0")
    torch.set_num_threads(1)
    net, c = load_net(a.ckpt)
    k, order = int(c["k"]), str(c["order"])
    groups = []
    if a.synthetic:
        if not 10**9 <= a.seed_base <= 2**31 - 1 - a.synthetic:
            _fail(f"--seed-base {a.seed_base}: must be in [1e9, 2^31 - 1 - synthetic] (training "
                  "seeds are below 1e9)")
        groups.append((f"{a.synthetic} held-out synthetic (seeds {a.seed_base}+i)",
                       held_out(c, a.synthetic, a.seed_base)))
    for m in [x for x in a.models.split(",") if x]:
        from heurist.envs.malloc.cache import cache_dir, cache_key, load_instance
        from heurist.envs.malloc.oracle import peak_live_bytes

        path = cache_dir() / (cache_key(m, batch=1, seq=128, mode="inference", n_layers=None,
                                        inputs="first_use") + ".npz")
        if not path.exists():
            _fail(f"--models: {m} is not extracted ({path})")
        inst = load_instance(path)
        peak = peak_live_bytes(inst)
        for f in a.fractions.split(","):
            groups.append((f"{m} C {float(f):.2f}", [inst.with_capacity(int(peak * float(f)))]))
    lines, model = [], LearnedModel(net)
    for title, insts in groups:
        cols: dict[str, np.ndarray] = {}
        secs: dict[str, float] = {}
        cols["msa"] = np.array([mapping_speedup(i, plan(i, "msa", mode="mapping")) for i in insts])
        classical = np.array([[mapping_speedup(i, plan(i, n, mode="mapping")) for n in CLASSICAL]
                              for i in insts])
        for o in ORDERS:
            cols[f"greedy {o}"] = np.array([env_greedy_speedup(i, o, k) for i in insts])
        cols["best classical"] = np.maximum(classical.max(1), np.max(
            [cols[f"greedy {o}"] for o in ORDERS], 0))
        t0 = time.perf_counter()
        ret, _ = prior_greedy_returns(net, insts, k=k, order=order)
        cols["net"], secs["net"] = 1 / (1 - ret), time.perf_counter() - t0
        variants = [(f"muzero {n}" + ("" if m == 16 else f" m{m}")
                     + ("" if cs == 0.1 else f" c{cs:g}") + ("" if not d else f" d{d}"), n,
                     {"max_num_considered_actions": m, "value_scale": cs,
                      "max_depth": d or None})
                    for n in sims for m in considered for cs in c_scales for d in depths]
        variants += [(f"muzero-puct {n}", n, {"policy": "puct"}) for n in sims if a.puct]
        for name, n, kw in variants:
            t0 = time.perf_counter()
            res, _ = plan_mapping(insts, num_simulations=n, k=k, order=order, model=model, **kw)
            cols[name] = np.array([r.speedup for r in res])
            secs[name] = time.perf_counter() - t0
            print(f"{title}: {name}: {cols[name].mean():.4f} ({secs[name]:.0f} s)",
                  file=sys.stderr, flush=True)
        t0 = time.perf_counter()
        eps, ret = lookahead_episodes(insts, k=k, order=order)
        cols["expert"], secs["expert"] = 1 / (1 - ret), time.perf_counter() - t0
        if a.az_simulations:
            t0 = time.perf_counter()
            res, _ = plan_mapping(insts, num_simulations=a.az_simulations, k=k, order=order,
                                  value="rollout")
            cols[f"az {a.az_simulations}"] = np.array([r.speedup for r in res])
            secs[f"az {a.az_simulations}"] = time.perf_counter() - t0
        if a.bound_limit > 0:
            from heurist.envs.malloc.instance import SLOW
            from heurist.policies.malloc import evaluate_plan, mip_saving_bound

            cols["bound"] = np.array([
                evaluate_plan(i, np.full(i.n, SLOW)).time_all_slow
                / mip_saving_bound(i, time_limit=a.bound_limit).time for i in insts])
        names = list(cols)
        lines += [f"\n### {title} (mean N {np.mean([i.n for i in insts]):.1f}, env order {order}, "
                  f"K {k})\n", "| " + " | ".join(names) + " |", "|" + "---:|" * len(names),
                  "| " + " | ".join(f"{cols[n].mean():.4f}" for n in names) + " |"]
        msa = cols["msa"]
        lines.append("\nvs msa (better / worse instances): " + ", ".join(
            f"{n} {int((cols[n] > msa + 1e-9).sum())}/{int((cols[n] < msa - 1e-9).sum())}"
            for n in names if n != "msa"))
        lines.append("wall: " + ", ".join(f"{n} {s:.1f} s" for n, s in secs.items()))
        cal = calibration(net, eps)
        lines.append("calibration (expert positions): " + ", ".join(
            f"{n} {v:.4g}" for n, v in cal.items()))
        print("\n".join(lines[-7:]), file=sys.stderr, flush=True)
    print("\n".join(lines))
    if a.out:
        Path(a.out).write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()

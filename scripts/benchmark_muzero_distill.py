"""Expert iteration for mallocMuZero: a prior distilled from search over the true simulator, and
whether it helps the planner at a small budget (held-out synthetic instances and zoo rows).

    nice -n 10 python scripts/benchmark_muzero_distill.py --ckpt /tmp/distill.pt \\
        [--rounds 2] [--batches 24,12] [--rows 32] [--expert-simulations 16] [--steps 3000,2000]
        [--time-budget 840] [--eval-synthetic 64] [--eval-simulations 4,16] [--bound-limit 2]
        [--zoo smollm2:0.1,...] [--zoo-simulations 4] [--zoo-no-uniform] [--load]
        [--train-zoo resnet50:0.1,...] [--out results.md] [--export DIR]

Training (skipped with ``--load``, which reads ``--ckpt``: a checkpoint, or an exported prior's
artifact folder such as ``policies/artifacts/malloc-prior``): round r plays ``batches[r]`` batches
of ``--rows`` fresh synthetic instances (N 30-60, C 25 % of peak live bytes, the self-play
generator of ``scripts/train_muzero.py``; seeds from ``--seed`` and the batch) with Gumbel search
over the env (``--expert-simulations``, greedy-rollout leaf value; round 0 with a uniform prior,
later rounds with the current network's), adds the searched positions to the data set and
trains ``steps[r]`` minibatch steps on all of it (``agents/muzero/distill.py``). It stops
starting batches once ``--time-budget`` seconds have passed. The network (``MuZeroNet``, the
shape of ``train_muzero.py``'s) is saved to ``--ckpt``. ``--train-zoo MODEL:C,...`` (with
``--rounds 1``): the expert plays those zoo training graphs instead (one batch), e.g. the issue's
"train" models, so the held-out models can be evaluated with ``--zoo``.

Evaluation: on ``--eval-synthetic`` held-out instances (seeds 10**9 + i, as
``benchmark_muzero_learned.py --synthetic``): msa, the best classical planner, the network
alone (highest-logit legal action), and search with a uniform vs the learned prior at each
``--eval-simulations`` budget (greedy-rollout value, ``gumbel_scale=0``); with the 0/1 bound at
``--bound-limit`` s. ``--zoo MODEL:C,...``: the same two searches at ``--zoo-simulations`` on the
zoo's training graphs, one row at a time (``--zoo-no-uniform``: the learned prior only).

``--export DIR`` writes the network as a policy artifact marked as a distilled prior
(``distill.export_prior``; the shipped ``policies/artifacts/malloc-prior`` is the zoo run's, see
``docs/benchmarks/muzero.md``), with the checkpoint's training log and the arguments.
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import torch

from heurist.agents.muzero import LearnedModel, plan_mapping
from heurist.agents.muzero.distill import (
    ExpertData,
    expert_targets,
    prior_greedy_returns,
    train_prior,
)
from heurist.agents.muzero.evaluation import CLASSICAL, env_greedy_speedup, mapping_speedup
from heurist.agents.muzero.train import MuZeroConfig, _instances, build_net
from heurist.envs.malloc.instance import SLOW
from heurist.envs.malloc.synthetic import random_instance
from heurist.policies.export.atomic import load_tensors, save_tensors
from heurist.policies.malloc import evaluate_plan, mip_saving_bound, plan

__all__ = ["main"]


def _ints(text: str, flag: str) -> list[int]:
    try:
        return [int(x) for x in text.split(",")]
    except ValueError:
        print(f"{flag}: not a list of integers: {text!r}", file=sys.stderr)
        raise SystemExit(2) from None


def _zoo_rows(text: str, flag: str) -> list[tuple[str, float]]:
    rows = []
    for item in filter(None, text.split(",")):
        m, _, f = item.partition(":")
        try:
            rows.append((m, float(f)))
        except ValueError:
            print(f"{flag}: expected MODEL:C, got {item!r}", file=sys.stderr)
            raise SystemExit(2) from None
    return rows


def _zoo_instance(m: str, f: float, flag: str):
    """The zoo's b1 s128 training graph of ``m`` at C = ``f`` x peak live bytes."""
    from heurist.envs.malloc.cache import cache_dir, cache_key, load_instance
    from heurist.envs.malloc.oracle import peak_live_bytes

    key = cache_key(m, batch=1, seq=128, mode="training", n_layers=None, inputs="first_use")
    path = cache_dir() / f"{key}.npz"
    if not path.exists():
        print(f"{flag}: {m} training is not extracted ({path})", file=sys.stderr)
        raise SystemExit(2)
    base = load_instance(path)
    return base.with_capacity(int(peak_live_bytes(base) * f))


def _train(a, cfg: MuZeroConfig, batches: list[int], steps: list[int]) -> tuple:
    """The expert-iteration rounds; returns (net, log lines)."""
    torch.manual_seed(a.seed)
    net = build_net(cfg)
    t0 = time.perf_counter()
    data: ExpertData | None = None
    log, n_batch = [], 0
    if a.train_zoo:
        rows = _zoo_rows(a.train_zoo, "--train-zoo")
        data = expert_targets([_zoo_instance(m, f, "--train-zoo") for m, f in rows],
                              num_simulations=a.expert_simulations, k=cfg.k, order=cfg.order)
        losses = train_prior(net, data, steps=steps[0], seed=a.seed)
        line = (f"expert on the zoo ({a.train_zoo}, {a.expert_simulations} simulations): "
                f"speedups {', '.join(f'{1 / (1 - r):.3f}' for r in data.returns)}, data "
                f"{len(data)} positions, {steps[0]} steps, loss {np.mean(losses[:50]):.3f} -> "
                f"{np.mean(losses[-50:]):.3f}, {time.perf_counter() - t0:.0f} s")
        print(line, file=sys.stderr, flush=True)
        return net, [line], time.perf_counter() - t0
    for r, (nb, ns) in enumerate(zip(batches, steps)):
        ret = []
        for _ in range(nb):
            if time.perf_counter() - t0 > a.time_budget:
                break
            rng = np.random.default_rng([a.seed, n_batch])
            d = expert_targets(_instances(cfg, rng, a.rows), num_simulations=a.expert_simulations,
                               k=cfg.k, order=cfg.order, net=None if r == 0 else net,
                               seed=n_batch)
            n_batch += 1
            ret.append(d.returns.mean())
            data = d if data is None else ExpertData(
                torch.cat([data.obs, d.obs]), torch.cat([data.policy, d.policy]),
                torch.cat([data.legal, d.legal]), torch.cat([data.value, d.value]),
                np.concatenate([data.returns, d.returns]))
        losses = train_prior(net, data, steps=ns, seed=a.seed + r)
        line = (f"round {r}: {len(ret)} batches x {a.rows} episodes, expert return "
                f"{np.mean(ret):.4f}, data {len(data)} positions, {ns} steps, loss "
                f"{np.mean(losses[:50]):.3f} -> {np.mean(losses[-50:]):.3f}, "
                f"{time.perf_counter() - t0:.0f} s")
        print(line, file=sys.stderr, flush=True)
        log.append(line)
    return net, log, time.perf_counter() - t0


def _export(a, cfg: MuZeroConfig, net, log: list[str]) -> None:
    """The prior as an artifact: the env's config, the run's settings and log, the data."""
    from dataclasses import fields

    from heurist.agents.muzero.distill import export_prior

    zoo = bool(a.train_zoo)
    training = {
        "method": ("expert iteration (AlphaZero-style distillation): Gumbel search over the true "
                   "simulator (greedy-rollout leaf values, gumbel_scale 0, uniform prior in round "
                   "0) plays the training instances; the representation + prediction MLPs are "
                   "fitted to its action weights softmax(logits + sigma(completed q)) and to the "
                   "episode's return-to-go (categorical value, coefficient 0.25); dynamics and "
                   "reward heads untrained (unused: the network serves as the prior only)"),
        "config": {f.name: getattr(cfg, f.name) for f in fields(MuZeroConfig)},
        "seed": a.seed, "rounds": a.rounds, "steps": _ints(a.steps, "--steps"),
        "batch_size": 256, "lr": 1e-3, "weight_decay": 1e-4, "optimizer": "AdamW",
        "expert_simulations": a.expert_simulations,
        "train_instances": (f"zoo training graphs (b1 s128, C = fraction x peak live bytes): "
                            f"{a.train_zoo}" if zoo else
                            f"synthetic, {_ints(a.batches, '--batches')} batches x {a.rows} rows"),
        "log": log,
        "command": ("OMP_NUM_THREADS=1 nice -n 10 python scripts/benchmark_muzero_distill.py "
                    "--ckpt CKPT " + (f"--train-zoo {a.train_zoo} " if zoo else "")
                    + f"--rounds {a.rounds} --batches {a.batches} --steps {a.steps} "
                    f"--expert-simulations {a.expert_simulations} --eval-synthetic 0 "
                    f"--seed {a.seed}; then the same with --load --export DIR"),
    }
    provenance = {
        "data": ("memory-allocation instances (training graphs, aot_export_module) extracted by "
                 "heurist.envs.malloc.extract "
                 "from the zoo's architectures built from transformers configs with random "
                 "weights (no downloaded weights or data)" if zoo else
                 "synthetic instances of heurist.envs.malloc.synthetic"),
        "licence": "Apache-2.0 (heurist's); trained on no third-party data",
    }
    metrics = {"evaluation": ("docs/benchmarks/muzero.md, 'Expert iteration' section: search at "
                              "4 simulations with this prior vs the uniform one on held-out zoo "
                              "training graphs (vit, mobilenet_v2, smollm2); reproduce with "
                              "--load --ckpt policies/artifacts/malloc-prior --zoo ...")}
    export_prior(net, a.export, training=training, metrics=metrics, provenance=provenance,
                 replace=True)


def _speedups(insts, res) -> list[float]:
    return [mapping_speedup(inst, r.plan) for inst, r in zip(insts, res)]


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--ckpt", required=True)
    ap.add_argument("--load", action="store_true", help="evaluate the network in --ckpt")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--batches", default="24,12")
    ap.add_argument("--steps", default="3000,2000")
    ap.add_argument("--rows", type=int, default=32)
    ap.add_argument("--expert-simulations", type=int, default=16)
    ap.add_argument("--time-budget", type=float, default=840.0)
    ap.add_argument("--eval-synthetic", type=int, default=64)
    ap.add_argument("--eval-simulations", default="4,16")
    ap.add_argument("--bound-limit", type=float, default=2.0)
    ap.add_argument("--zoo", default="", help="MODEL:C,... training graphs to plan")
    ap.add_argument("--zoo-simulations", type=int, default=4)
    ap.add_argument("--zoo-no-uniform", action="store_true")
    ap.add_argument("--train-zoo", default="", help="MODEL:C,... expert data from the zoo")
    ap.add_argument("--out", default=None)
    ap.add_argument("--export", default=None, help="artifact folder for the prior (replaced)")
    a = ap.parse_args(argv)
    batches, steps = _ints(a.batches, "--batches"), _ints(a.steps, "--steps")
    sims = _ints(a.eval_simulations, "--eval-simulations")
    if len(batches) != a.rounds or len(steps) != a.rounds:
        print(f"--batches/--steps: need {a.rounds} values each (--rounds)", file=sys.stderr)
        raise SystemExit(2)
    if a.load and not Path(a.ckpt).exists():
        print(f"--ckpt: no such file or artifact folder {a.ckpt}", file=sys.stderr)
        raise SystemExit(2)
    if Path(a.ckpt).is_dir() and (not a.load or a.export):
        print(f"--ckpt {a.ckpt}: an artifact folder is evaluated only (--load, no --export)",
              file=sys.stderr)
        raise SystemExit(2)
    zoo = _zoo_rows(a.zoo, "--zoo")
    if a.train_zoo and a.rounds != 1:
        print("--train-zoo: use --rounds 1 (one expert batch)", file=sys.stderr)
        raise SystemExit(2)
    torch.set_num_threads(1)
    cfg = MuZeroConfig(seed=a.seed, rows=a.rows)
    lines = []
    if a.load and Path(a.ckpt).is_dir():  # a shipped prior, e.g. policies/artifacts/malloc-prior
        from heurist.agents.muzero.search_policy import load_search_policy

        try:
            pol = load_search_policy(a.ckpt)
        except (ValueError, FileNotFoundError) as exc:
            print(f"--ckpt {exc}", file=sys.stderr)
            raise SystemExit(2) from None
        net = pol.net
        lines += [f"loaded artifact {a.ckpt} ({pol.role})"]
    elif a.load:
        d = load_tensors(a.ckpt)
        torch.manual_seed(a.seed)
        net = build_net(cfg)
        net.load_state_dict(d["net"])
        lines += [f"loaded {a.ckpt}", *d["log"]]
    else:
        net, log, train_s = _train(a, cfg, batches, steps)
        log.append(f"training wall {train_s:.0f} s")
        save_tensors(a.ckpt, {"net": net.state_dict(), "log": log})
        lines += log
    if a.export:
        _export(a, cfg, net, load_tensors(a.ckpt)["log"])
        lines.append(f"exported {a.export}")
    prior = LearnedModel(net).prior
    k, order = cfg.k, cfg.order

    if a.eval_synthetic:
        rng = np.random.default_rng(10**9)
        insts = []
        for i in range(a.eval_synthetic):
            n = int(rng.integers(cfg.n_min, cfg.n_max + 1))
            insts.append(random_instance(n, seed=10**9 + i, max_lifetime=16,
                                         size_range=(1024, 2**20),
                                         capacity_fraction=cfg.capacity_fraction))
        cols: dict[str, list[float]] = {}
        cols["msa"] = [mapping_speedup(x, plan(x, "msa", mode="mapping")) for x in insts]
        cols["best classical"] = [
            max(*(mapping_speedup(x, plan(x, c, mode="mapping")) for c in CLASSICAL),
                env_greedy_speedup(x, "start", k), env_greedy_speedup(x, "msa", k))
            for x in insts]
        ret, _ = prior_greedy_returns(net, insts, k=k, order=order)
        cols["net alone"] = list(1.0 / (1.0 - ret))
        secs = {}
        for s in sims:
            for name, p in (("uniform", None), ("learned", prior)):
                t0 = time.perf_counter()
                res, _ = plan_mapping(insts, num_simulations=s, k=k, order=order, prior=p)
                secs[f"{name} {s}"] = time.perf_counter() - t0
                cols[f"search {name} {s}"] = _speedups(insts, res)
                print(f"search {name} {s}: {np.mean(cols[f'search {name} {s}']):.4f}",
                      file=sys.stderr, flush=True)
        if a.bound_limit > 0:
            cols["bound"] = []
            for x in insts:
                t_slow = evaluate_plan(x, np.full(x.n, SLOW)).time_all_slow
                cols["bound"].append(t_slow / mip_saving_bound(x, time_limit=a.bound_limit).time)
        save = lambda v: 1.0 - 1.0 / np.asarray(v)
        names = list(cols)
        lines += ["", (f"held-out synthetic: {len(insts)} instances, mean N "
                  f"{np.mean([x.n for x in insts]):.1f}, C {cfg.capacity_fraction}"),
                  "| " + " | ".join(names) + " |", "|" + "---:|" * len(names),
                  "| " + " | ".join(f"{np.mean(cols[c]):.4f}" for c in names) + " |"]
        best = save(cols["best classical"])
        for c in names:
            if c.startswith("search") or c == "net alone":
                v = save(cols[c])
                extra = ""
                if "bound" in cols:
                    gap = (save(cols["bound"]) - best).sum()
                    extra = f", {100 * (v - best).sum() / gap:.0f} % of the total gap closed"
                lines.append(f"{c}: beats best classical on {(v > best + 1e-12).sum()}, "
                             f"below on {(v < best - 1e-12).sum()} of {len(insts)}{extra}"
                             + (f"; {secs[c[7:]]:.0f} s" if c.startswith("search") else ""))
        for s in sims:
            u, l_ = np.asarray(cols[f"search uniform {s}"]), np.asarray(cols[f"search learned {s}"])
            lines.append(f"{s} simulations: learned prior > uniform on {(l_ > u + 1e-12).sum()}, "
                         f"< on {(l_ < u - 1e-12).sum()} of {len(insts)}")

    if zoo:
        lines += ["", f"zoo training graphs, {a.zoo_simulations} simulations:",
                  ("| program | C/peak | N | search uniform | search learned | net alone | "
                   "uniform s | learned s |"), "|---|---:|---:|---:|---:|---:|---:|---:|"]
        for m, f in zoo:
            inst = _zoo_instance(m, f, "--zoo")
            out, secs = {"uniform": float("nan")}, {"uniform": float("nan")}
            for name, p in (("uniform", None), ("learned", prior)):
                if name == "uniform" and a.zoo_no_uniform:
                    continue
                t0 = time.perf_counter()
                res, _ = plan_mapping([inst], num_simulations=a.zoo_simulations, k=k,
                                      order=order, prior=p)
                secs[name] = time.perf_counter() - t0
                out[name] = _speedups([inst], res)[0]
            ret, _ = prior_greedy_returns(net, [inst], k=k, order=order)
            lines.append(f"| {m} | {f:.2f} | {inst.n} | {out['uniform']:.3f} | "
                         f"{out['learned']:.3f} | {1 / (1 - ret[0]):.3f} | "
                         f"{secs['uniform']:.0f} | {secs['learned']:.0f} |")
            print(lines[-1], file=sys.stderr, flush=True)
    print("\n".join(lines))
    if a.out:
        Path(a.out).write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()

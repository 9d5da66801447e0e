"""Our AM and POMO against rl4co's on CVRP20: same test instances, same wall-clock training budget.

    python scripts/benchmark_rl4co.py --budget 300 --out docs/benchmarks/routing.md

rl4co is a benchmark peer, never imported by the package: install it bare (README,
``pip install --no-deps rl4co lightning lightning-utilities torchmetrics einops robust-downloader
colorlog``); without it this script exits 2.

Every run trains from scratch for ``--budget`` wall seconds in this one process, one after the
other (ours, then rl4co's, per model), with ``--threads`` torch threads (pinned again when rl4co's
training starts, and reported per run as the count seen at the end of training):

* ours: ``scripts/train.py experiment=am_cvrp20`` / ``pomo_cvrp20`` (the trainer, through the
  Hydra configs) with ``trainer.max_seconds=--budget``;
* rl4co's ``AttentionModel`` / ``POMO`` on its ``CVRPEnv(num_loc=20)`` through its
  ``RL4COTrainer`` (Lightning) with ``max_time=--budget``, fp32 and ``matmul_precision="highest"``
  (its default ``"medium"`` made POMO 5x slower on this CPU).

Both sides use the same hyperparameters, which are the papers' and rl4co's defaults: AM 3 layers,
POMO 6 layers, 8 heads, dim 128, feed-forward 512, Adam lr 1e-4, gradient norm clipped at 1, AM
batches of 512 instances with the greedy-rollout baseline after a first rl4co epoch (100,000
instances) on the exponential baseline (rl4co's warm-up, Kool et al.'s; ours: ``agent.baseline_warmup``
= 196 iterations), POMO batches of 64 instances x 20 starts with the shared baseline. Throughput is training instances (distinct instances, not rollouts) per
wall second of the whole training call (validation and baseline updates included). Both validate
(and ours checkpoints) once per rl4co epoch of 100,000 instances, rl4co's schedule.

The test set is ``generate(--test-size, n_clients=20, n_vehicles=1, capacity=30, rng=--test-seed)``
(Kool et al.'s distribution: uniform depot and clients, demands 1..9, capacity 30), decoded by every
model: AM greedy, POMO multi-start (20 first clients) x 8 dihedral copies, best kept. Our solutions
go through the env oracles and ``check_routes``; rl4co's action sequences are cut at the depot into
trips, the same route format, and checked by the same ``check_routes`` (its objective is what is
reported). Gaps are to PyVRP at ``--pyvrp-seconds`` on the first ``--pyvrp-instances``.
"""
from __future__ import annotations

import importlib.util
import os
import platform
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

RUNS = ("ours-am", "rl4co-am", "ours-pomo", "rl4co-pomo")
INSTALL = ("pip install --no-deps rl4co lightning lightning-utilities torchmetrics einops "
           "robust-downloader colorlog")
#: hyperparameters shared by both sides (the experiment configs am_cvrp20 / pomo_cvrp20 hold ours)
HPARAMS = {"am": {"batch_size": 512, "lr": 1e-4, "layers": 3},
           "pomo": {"batch_size": 64, "lr": 1e-4, "layers": 6}}
N_CLIENTS, CAPACITY = 20, 30
#: rl4co's training epoch (its ``train_data_size`` default): its validation runs once per epoch
RL4CO_EPOCH = 100_000


def _args(argv=None):
    from heurist.cli.common import OneLineParser

    p = OneLineParser(prog="benchmark_rl4co", description=__doc__.splitlines()[0])
    p.add_argument("--budget", type=float, default=300.0,
                   help="wall seconds of training per run (default 300)")
    p.add_argument("--runs", default=",".join(RUNS), help=f"comma list of {', '.join(RUNS)}")
    p.add_argument("--test-size", type=int, default=256)
    p.add_argument("--test-seed", type=int, default=20250901)
    p.add_argument("--pyvrp-seconds", type=float, default=1.0)
    p.add_argument("--pyvrp-instances", type=int, default=64)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--run-dir", default="/tmp/benchmark_rl4co",
                   help="folder of our runs' outputs (checkpoints, artifacts)")
    p.add_argument("--out", default=None, help="markdown file to append the tables to")
    args = p.parse_args(argv)
    args.runs = [r for r in args.runs.split(",") if r]
    bad = [r for r in args.runs if r not in RUNS]
    if bad:
        p.error(f"--runs: unknown {', '.join(bad)} (choose from {', '.join(RUNS)})")
    if args.budget <= 0 or args.test_size < 1 or args.threads < 1:
        p.error("--budget, --test-size and --threads must be positive")
    if not 0 <= args.pyvrp_instances <= args.test_size:
        p.error(f"--pyvrp-instances must be in 0..--test-size ({args.test_size})")
    return args


def _load() -> float:
    return os.getloadavg()[0]


def test_set(size: int, seed: int):
    """The CVRP20 test instances (numpy :class:`PVRPInstances` [S])."""
    from heurist.envs.pvrp import generate

    return generate(size, n_clients=N_CLIENTS, n_vehicles=1, capacity=CAPACITY, rng=seed)


def train_ours(model: str, *, budget: float, run_dir: Path, threads: int) -> dict:
    """Trains experiment ``{model}_cvrp20`` for ``budget`` wall seconds; returns the run's facts
    and the exported artifact folder."""
    from hydra import compose, initialize_config_module
    from rich.console import Console

    from heurist.agents.trainer import train

    hp = HPARAMS[model]
    # validation and checkpoints once per rl4co epoch, as rl4co's trainer here (it validates at the
    # end of an epoch of RL4CO_EPOCH instances, which a 300 s budget never reaches, and saves no
    # checkpoints), not our configs' every 10-20 iterations, time rl4co's run does not spend
    epoch = -(-RL4CO_EPOCH // hp["batch_size"])
    with initialize_config_module("heurist.configs", version_base="1.3"):
        cfg = compose("train", overrides=[f"experiment={model}_cvrp20",
                                          f"trainer.run_dir={run_dir}",
                                          f"trainer.max_seconds={budget}",
                                          f"trainer.threads={threads}", "trainer.evaluate=false",
                                          f"trainer.val_every={epoch}",
                                          f"trainer.ckpt_every={epoch}", "logger=csv"])
    assert (int(cfg.trainer.batch_size), float(cfg.agent.lr), int(cfg.agent.n_layers)) == (
        hp["batch_size"], hp["lr"], hp["layers"]), "experiment config drifted from HPARAMS"
    load0 = _load()
    res = train(cfg, console=Console(quiet=True))
    import torch

    n = int(res["iterations"]) * int(cfg.trainer.batch_size)
    return {"instances": n, "iterations": int(res["iterations"]),
            "train_s": float(res["train_seconds"]), "cpu_s": float(res["train_cpu_seconds"]),
            "load": (load0, _load()), "artifact": res["exported"],
            "threads": torch.get_num_threads()}


def decode_ours(artifact: str, inst, *, decode: str) -> tuple[np.ndarray, float]:
    """Objectives [S] of our artifact's ``decode`` (every solution checked by the env oracles and
    ``check_routes`` inside ``solve``) and the seconds taken."""
    from heurist.envs.pvrp import Weights
    from heurist.policies.pvrp.learned import load_learned

    pol = load_learned(artifact)
    t0 = time.perf_counter()
    recs = pol.solve(inst, weights=Weights(w_time=1.0, w_pref=0.0), decode=decode)
    return np.array([r.objective for r in recs]), time.perf_counter() - t0


def train_rl4co(model: str, *, budget: float, threads: int, seed: int = 0):
    """rl4co's ``AttentionModel`` / ``POMO`` trained for ``budget`` wall seconds through its
    ``RL4COTrainer`` on ``threads`` torch threads; returns (the Lightning module, the run's
    facts, with the torch thread count seen at the last batch)."""
    import lightning as L
    import torch
    from rl4co.envs import CVRPEnv
    from rl4co.models import POMO, AttentionModel
    from rl4co.utils.trainer import RL4COTrainer

    from heurist.agents.trainer import cpu_seconds

    class Count(L.Callback):
        """Training instances seen (distinct instances: the batch size before multi-start) and
        the wall / CPU seconds at the last batch. Once the budget is spent, the epoch-end work
        that only prepares the next epoch (the rollout baseline's t-test on its 10,000 instances
        and its greedy rollout of the next epoch's 100,000) is skipped: Lightning's time limit
        ends the epoch, and that work then cost minutes outside the budget."""

        def __init__(self) -> None:
            self.n, self.t0, self.c0, self.wall, self.cpu = 0, 0.0, 0.0, 0.0, 0.0
            self.threads = 0

        def on_train_start(self, trainer, pl_module) -> None:
            # importing rl4co.envs compiles a numba ufunc whose OpenMP start resets torch's
            # threads to the core count (2 here, whatever OMP_NUM_THREADS says): this is how
            # rl4co got 2 CPU s per wall s in the earlier runs; pin it again before training
            torch.set_num_threads(threads)

        def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
            self.n += int(batch.batch_size[0])
            self.threads = torch.get_num_threads()
            self.wall = time.perf_counter() - self.t0
            self.cpu = cpu_seconds() - self.c0
            if self.wall >= budget:
                pl_module.wrap_dataset = lambda dataset: dataset
                pl_module.baseline.epoch_callback = lambda *a, **k: None

    L.seed_everything(seed, verbose=False)
    env = CVRPEnv(generator_params={"num_loc": N_CLIENTS})
    hp = HPARAMS[model]
    # small validation sets, as our trainer's 64: validation is not what is being compared
    common = {"batch_size": hp["batch_size"], "val_data_size": 64, "test_data_size": 64,
              "optimizer_kwargs": {"lr": hp["lr"]}}
    net = AttentionModel(env, **common) if model == "am" else POMO(env, **common)
    count = Count()
    trainer = RL4COTrainer(max_epochs=10_000, max_time={"seconds": budget}, accelerator="cpu",
                           devices=1, precision="32-true", matmul_precision="highest",
                           logger=False, enable_checkpointing=False, enable_progress_bar=False,
                           enable_model_summary=False, callbacks=[count])
    load0 = _load()
    count.t0, count.c0 = time.perf_counter(), cpu_seconds()
    trainer.fit(net)
    # the training seconds end at the last batch (ours: after the last iteration)
    facts = {"instances": count.n, "iterations": int(trainer.global_step),
             "train_s": count.wall, "cpu_s": count.cpu, "load": (load0, _load()),
             "fit_s": time.perf_counter() - count.t0, "threads": count.threads}
    return net, facts


def decode_rl4co(module, model: str, inst) -> tuple[np.ndarray, float, float]:
    """rl4co's decode of ``inst`` (AM greedy; POMO 20 starts x 8 dihedral copies, best kept),
    converted to our routes and checked by ``check_routes``; returns (objectives [S], seconds,
    largest |rl4co's cost - check_routes' objective|)."""
    import torch
    from rl4co.data.transforms import StateAugmentation
    from tensordict import TensorDict

    from heurist.envs.pvrp import Weights
    from heurist.envs.pvrp.oracle import check_routes

    S = inst.S
    td = TensorDict({"locs": torch.as_tensor(inst.locs, dtype=torch.float32),
                     "depot": torch.as_tensor(inst.depot, dtype=torch.float32),
                     "demand": torch.as_tensor(inst.demand / CAPACITY, dtype=torch.float32),
                     "capacity": torch.full((S, 1), float(CAPACITY))}, batch_size=[S])
    env, policy = module.env, module.policy
    policy.eval()
    t0 = time.perf_counter()
    with torch.inference_mode():
        td0 = env.reset(td)
        if model == "am":
            out = policy(td0, env, phase="test", decode_type="greedy", return_actions=True)
            actions, cost = out["actions"], -out["reward"]
        else:
            aug = StateAugmentation(num_augment=8, augment_fn="dihedral8", first_aug_identity=True)
            out = policy(aug(td0), env, phase="test", decode_type="multistart_greedy",
                         num_starts=N_CLIENTS, return_actions=True)
            # rows are start-major, then copy-major (rl4co's batchify): index (s * 8 + a) * S + b
            reward = out["reward"].view(N_CLIENTS * 8, S)
            best = reward.argmax(0)
            actions = out["actions"].view(N_CLIENTS * 8, S, -1)[best, torch.arange(S)]
            cost = -reward[best, torch.arange(S)]
    secs = time.perf_counter() - t0
    w = Weights(w_time=1.0, w_pref=0.0)
    objs, worst = [], 0.0
    for i in range(S):
        trips, trip = [], []
        for a in actions[i].tolist():
            if a == 0:  # the depot ends a trip (and pads finished rows)
                if trip:
                    trips.append(trip)
                trip = []
            else:
                trip.append(int(a))  # rl4co's node a >= 1 is our client a (depot first in both)
        if trip:
            trips.append(trip)
        res = check_routes(inst[i], [trips], weights=w)
        if not res.ok:
            raise RuntimeError(f"rl4co {model}, instance {i}: invalid routes {res.violations[:2]}")
        objs.append(res.objective)
        worst = max(worst, abs(res.objective - float(cost[i])))
    return np.asarray(objs), secs, worst


def pyvrp(inst, *, seconds: float) -> np.ndarray:
    """PyVRP's objectives [S] at ``seconds`` per instance (checked by ``check_routes``)."""
    from heurist.envs.pvrp import Weights
    from heurist.policies.pvrp import solve_batch

    recs = solve_batch(inst, "pyvrp", time_limit=seconds, weights=Weights(w_time=1.0, w_pref=0.0),
                       progress=False)
    return np.array([r.objective for r in recs])


def main(argv=None) -> int:
    args = _args(argv)
    if importlib.util.find_spec("rl4co") is None:
        print(f"benchmark_rl4co: rl4co is not installed; install it bare: {INSTALL}",
              file=sys.stderr)
        return 2
    import torch

    if args.out:
        from heurist.cli.common import check_out_path

        try:
            check_out_path(args.out)
        except ValueError as exc:
            print(f"benchmark_rl4co: {exc}", file=sys.stderr)
            return 2
    torch.set_num_threads(args.threads)
    # rl4co ran on 2 threads here (2 CPU s per wall s) whatever OMP_NUM_THREADS said: importing
    # rl4co.envs compiles a numba ufunc whose OpenMP start resets torch's thread count; so the
    # threads are set again after that import and when rl4co's training starts
    os.environ["OMP_NUM_THREADS"] = str(args.threads)
    import rl4co  # the 15-20 s import, outside every timed section
    import rl4co.envs  # its numba compile resets torch's threads: set them after

    torch.set_num_threads(args.threads)

    inst = test_set(args.test_size, args.test_seed)
    stamp = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    lines = [f"Command: `python {' '.join(sys.argv)}`\n",
             (f"Machine: {platform.machine()}, {os.cpu_count()} cores shared with other jobs "
              f"(1-min load {_load():.1f} at start); torch {torch.__version__}, rl4co "
              f"{rl4co.__version__}, {args.threads} torch thread(s); {stamp}.\n")]
    K = args.pyvrp_instances
    ref = pyvrp(inst[list(range(K))], seconds=args.pyvrp_seconds) if K else None
    rows = []
    for run in args.runs:
        side, model = run.split("-")
        decode = "greedy" if model == "am" else "multistart_aug8"
        print(f"{run}: training {args.budget:g} s (1-min load {_load():.1f})", flush=True)
        if side == "ours":
            facts = train_ours(model, budget=args.budget, run_dir=Path(args.run_dir) / run,
                               threads=args.threads)
            objs, secs = decode_ours(facts["artifact"], inst, decode=decode)
            diff = None
        else:
            module, facts = train_rl4co(model, budget=args.budget, threads=args.threads)
            objs, secs, diff = decode_rl4co(module, model, inst)
            torch.set_num_threads(args.threads)  # Lightning may have changed it
        row = {"run": run, "decode": decode, "obj": float(objs.mean()),
               "gap": (100 * (objs[:K].mean() / ref.mean() - 1)) if K else None,
               "ms": 1e3 * secs / inst.S, "diff": diff, **facts}
        row["ips"] = row["instances"] / row["train_s"]
        rows.append(row)
        print(row, flush=True)
    lines.append(f"CVRP20 (capacity 30, Kool et al.'s distribution): {inst.S} test instances "
                 f"(seed {args.test_seed}); gap = mean objective on the first {K} / PyVRP "
                 f"{args.pyvrp_seconds:g} s's mean on them "
                 f"({ref.mean():.4f}) - 1. Training budget {args.budget:g} wall s per run, one "
                 f"run at a time.\n" if K else "")
    lines.append("| run | decode | train wall s | train CPU s | iterations | instances | "
                 "instances / s | mean objective (all) | gap to PyVRP % | decode ms / instance | "
                 "torch threads | 1-min load start / end |")
    lines.append("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|")
    for r in rows:
        gap = f"{r['gap']:+.2f}" if r["gap"] is not None else "-"
        lines.append(f"| {r['run']} | {r['decode']} | {r['train_s']:.0f} | {r['cpu_s']:.0f} | "
                     f"{r['iterations']:,} | {r['instances']:,} | {r['ips']:.0f} | "
                     f"{r['obj']:.4f} | {gap} | {r['ms']:.2f} | {r['threads']} | {r['load'][0]:.1f} / "
                     f"{r['load'][1]:.1f} |")
    by = {r["run"]: r for r in rows}
    ratios = []
    for model in ("am", "pomo"):
        a, b = by.get(f"ours-{model}"), by.get(f"rl4co-{model}")
        if a and b:
            g = lambda r: f"{r['gap']:+.2f} %" if r["gap"] is not None else "(no PyVRP)"
            per_cpu = (a["instances"] / a["cpu_s"]) / (b["instances"] / b["cpu_s"])
            ratios.append(f"{model.upper()}: throughput {a['ips'] / b['ips']:.2f}x rl4co's "
                          f"({per_cpu:.2f}x per CPU second), gap {g(a)} vs {g(b)}")
    diffs = [r["diff"] for r in rows if r["diff"] is not None]
    if diffs:
        ratios.append(f"largest |rl4co's own cost - check_routes' objective| on its solutions: "
                      f"{max(diffs):.1e} (float32 vs float64)")
    lines.append("\n" + "; ".join(ratios) + f". (1-min load {_load():.1f} at the end.)\n")
    text = "\n".join(lines)
    print(text)
    if args.out:
        with open(args.out, "a", encoding="utf-8") as fh:
            fh.write("\n" + text + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())

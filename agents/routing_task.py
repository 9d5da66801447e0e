"""The routing task of the trainer: REINFORCE on the PVRP envs (TSP, CVRP, PVRP-P, PVRP-ZC are
configurations of one core), for CAMP on ``PVRP`` and the single-agent models on
``PVRPSequential``.

Per iteration ``it``: ``trainer.batch_size`` instances drawn from the generator with
``np.random.default_rng(iteration_seed(seed, it))``; K rollouts each (``multistart``: one per first
client, POMO's; else ``trainer.n_samples`` samples, or 1); the loss is ``-mean(A * log p)`` with the
agent's baseline (:mod:`heurist.agents.baselines`). SymNCO adds its x8 symmetric copies to the
shared baseline and its invariance loss. With ``trainer.imitation_iters > 0`` (any model, in the
retire env), the first iterations instead fit PyVRP's routes of their draw by teacher forcing (the
negative log-likelihood of the expert's log, :func:`imitation_loss`; parallel logs for CAMP,
sequential logs for the single-agent models). Validation (greedy, a fixed set) is logged every
``trainer.val_every`` iterations; the held-out test set (its own fixed seed, never a training
draw) is decoded at the end, every solution through the env oracles and ``check_routes``, and
compared with the classical constructors on the same instances.
"""
from __future__ import annotations

import time
from contextlib import nullcontext

import numpy as np
import torch
from omegaconf import DictConfig, OmegaConf
from torch import nn

from heurist.agents.baselines import make_baseline, policy_loss
from heurist.policies.pvrp.learned import DECODES, decode_spec

__all__ = ["AGENTS", "CLASSICAL", "DECODES", "RoutingTask", "build_routing_net", "decode_spec",
           "expert_logs", "imitation_loss", "make_routing_env", "routing_generator",
           "solve_learned"]

#: agent name -> network class name in heurist.policies.nets.routing
AGENTS = {"camp": "CAMP", "am": "AttentionModel", "pomo": "POMO", "symnco": "SymNCO",
          "ptrnet": "PointerNetwork"}
#: the classical constructors every evaluation compares against (cheap, deterministic)
CLASSICAL = ("insertion", "nearest")


def build_routing_net(agent_cfg) -> nn.Module:
    """The routing network of ``agent`` config (``agent.name`` in :data:`AGENTS`)."""
    from heurist.policies.nets import routing

    name = str(agent_cfg.name)
    if name not in AGENTS:
        raise ValueError(f"agent.name={name}: must be one of {', '.join(AGENTS)}")
    if name == "ptrnet":
        return routing.PointerNetwork(dim=int(agent_cfg.dim), clip=agent_cfg.clip)
    kw = {"dim": int(agent_cfg.dim), "n_heads": int(agent_cfg.n_heads),
          "n_layers": int(agent_cfg.n_layers), "ff_dim": int(agent_cfg.ff_dim),
          "norm": str(agent_cfg.norm), "clip": float(agent_cfg.clip)}
    if name == "camp":
        kw["comm_layers"] = int(agent_cfg.comm_layers)
    elif not bool(agent_cfg.get("dynamic", True)):
        kw["dynamic"] = False
    return getattr(routing, AGENTS[name])(**kw)


def env_weights(env_cfg):
    from heurist.envs.pvrp import Weights

    return Weights(w_time=float(env_cfg.w_time), w_pref=float(env_cfg.w_pref))


def routing_generator(env_cfg, *, n_clients: int | None = None, n_vehicles: int | None = None):
    """The :class:`PVRPGenerator` of ``env`` config (sizes overridable for zero-shot tests)."""
    from heurist.envs.pvrp import PVRPGenerator

    return PVRPGenerator(n_clients=int(n_clients or env_cfg.n_clients),
                         n_vehicles=int(n_vehicles or env_cfg.n_vehicles),
                         variant=str(env_cfg.variant), preference=str(env_cfg.preference),
                         zones=str(env_cfg.zones), capacity=env_cfg.capacity,
                         speed=env_cfg.speed)


def make_routing_env(env_cfg, *, multi_agent: bool, device="cpu", n_clients: int | None = None,
                     n_vehicles: int | None = None):
    """``PVRPEnv`` (multi-agent policies) or ``PVRPSequentialEnv`` of ``env`` config
    (``env.retire``: a vehicle at the depot may stay home for good; both envs, torch backend)."""
    from heurist.envs.pvrp import PVRPEnv, PVRPSequentialEnv

    gen = routing_generator(env_cfg, n_clients=n_clients, n_vehicles=n_vehicles)
    common = {"generator": gen, "n_clients": gen.n_clients, "n_vehicles": gen.n_vehicles,
              "weights": env_weights(env_cfg), "device": device}
    retire = bool(env_cfg.get("retire", False))
    env_cls = PVRPEnv if multi_agent else PVRPSequentialEnv
    return env_cls(**common, retire=retire)


def _expert_routes(job):
    inst_one, weights, iterations, seed = job
    from heurist.envs.pvrp.oracle import check_routes
    from heurist.policies.pvrp.pyvrp_solver import solve_pyvrp

    try:
        routes = solve_pyvrp(inst_one, time_limit=60.0, weights=weights, seed=seed,
                             max_iterations=iterations)
    except ValueError:  # the trips-as-routes model can run out of trips: reload depots instead
        routes = solve_pyvrp(inst_one, time_limit=60.0, weights=weights, seed=seed,
                             max_iterations=iterations, multi_trip="reload")
    res = check_routes(inst_one, routes, weights=weights)
    if not res.ok:
        raise RuntimeError(f"pyvrp expert: invalid routes: {res.violations[:2]}")
    return routes, float(res.objective)


def expert_logs(inst_td, *, weights, iterations: int, seed: int, workers: int = 1,
                sequential: bool = False) -> tuple[torch.Tensor, float]:
    """PyVRP's routes of each instance of ``inst_td`` [B] (``iterations`` iterations, instance
    ``s`` seeded ``seed + s``: reproducible) as parallel-env logs -> (int64 [B, T, M], their mean
    objective), or with ``sequential`` as ``PVRPSequentialEnv(retire=True)`` logs -> int64
    [B, T] (the round robin replayed, :func:`sequential_log`; shorter logs padded with the
    depot, which a done row ignores). Every route set passes ``check_routes``."""
    from concurrent.futures import ProcessPoolExecutor

    from heurist.envs.pvrp import PVRPInstances
    from heurist.envs.pvrp.decode import parallel_log, sequential_log
    from heurist.policies.pvrp.batch import _pool_context

    inst = PVRPInstances.from_tensordict(inst_td)
    jobs = [(inst[s], weights, int(iterations), int(seed) + s) for s in range(inst.S)]
    if workers > 1:
        with ProcessPoolExecutor(max_workers=workers, mp_context=_pool_context()) as pool:
            out = list(pool.map(_expert_routes, jobs))
    else:
        out = [_expert_routes(j) for j in jobs]
    mean = float(np.mean([o for _, o in out]))
    if sequential:
        allowed = inst.allowed_or_all()
        seqs = [sequential_log(r, inst.demand[s], inst.capacity[s], allowed[s], retire=True)
                for s, (r, _) in enumerate(out)]
        logs = np.zeros((len(seqs), max(len(q) for q in seqs)), dtype=np.int64)
        for s, q in enumerate(seqs):
            logs[s, :len(q)] = q
        return torch.from_numpy(logs), mean
    T = max(parallel_log(r).shape[0] for r, _ in out)
    logs = np.stack([parallel_log(r, T) for r, _ in out])
    return torch.from_numpy(logs), mean


def imitation_loss(env, net: nn.Module, inst_td, teacher: torch.Tensor) -> torch.Tensor:
    """Mean negative log-likelihood under ``net`` of the expert logs ``teacher`` [B, T, M]
    (``PVRPEnv``) or [B, T] (``PVRPSequentialEnv``): teacher forcing, the env steps the
    expert's actions; after the log, the depot."""
    from heurist.policies.decoding import run_episode

    T = teacher.shape[1]

    def forced(logits: torch.Tensor, t: int) -> torch.Tensor:
        return teacher[:, t] if t < T else torch.zeros_like(teacher[:, 0])

    traj = run_episode(env, net, inst_td, select=forced)
    loss = -traj.logp.float().mean()
    if not torch.isfinite(loss):
        raise RuntimeError("imitation: an expert action is illegal in the env (retire off?)")
    return loss


def solve_learned(env, net: nn.Module, instance, *, decode: str = "greedy", seed: int = 0,
                  chunk: int = 256) -> tuple[np.ndarray, list, float]:
    """Decodes ``instance`` [S] (TensorDict) with ``net``; every solution is checked twice: by
    the env's ``check_solution``/``evaluate`` (inside ``rollout``) and, as routes, by
    ``check_routes``, whose objective must equal ``-evaluate``. Returns (objectives float64 [S],
    routes per instance, seconds)."""
    from heurist.envs.pvrp.oracle import check_routes, decode_log
    from heurist.policies.decoding import rollout

    spec = decode_spec(decode)
    objs, routes = [], []
    t0 = time.perf_counter()
    S = instance.batch_size[0]
    for start in range(0, S, int(chunk)):
        part = instance[start:start + int(chunk)]
        d = rollout(env, net, part, seed=seed, **spec)
        inst, rows = decode_log(part, d.actions, priorities=d.priorities,
                                retire=env.retire)
        for i, dec in enumerate(rows):
            res = check_routes(inst[i], dec.routes, weights=env.weights)
            if not res.ok or abs(res.objective - float(d.objective[i])) > 1e-4 * (
                    1 + abs(res.objective)):
                raise RuntimeError(f"instance {start + i}: check_routes disagrees with the env "
                                   f"oracle ({res.violations[:2]}, {res.objective} vs "
                                   f"{float(d.objective[i])})")
            objs.append(res.objective)
            routes.append(dec.routes)
    return np.asarray(objs), routes, time.perf_counter() - t0


class RoutingTask:
    """What the trainer asks of a routing run (see :mod:`heurist.agents.trainer`)."""

    def __init__(self, cfg: DictConfig, *, console) -> None:
        self.cfg, self.console = cfg, console
        tc, ec = cfg.trainer, cfg.env
        self.device = torch.device(str(tc.device))
        if self.device.type == "cuda" and not torch.cuda.is_available():
            raise ValueError("trainer.device=cuda: torch sees no GPU here; use trainer.device=cpu")
        self.agent = str(cfg.agent.name)
        self.multi_agent = self.agent == "camp"
        self.env = make_routing_env(ec, multi_agent=self.multi_agent, device=self.device)
        self.gen = routing_generator(ec)
        self.n_imit = int(tc.imitation_iters)
        self.total = self.n_imit + int(tc.reinforce_iters)
        if self.n_imit and not self.env.retire:
            # PyVRP leaves vehicles unused, which only the retire envs' logs can express
            raise ValueError("trainer.imitation_iters > 0 (PyVRP warm start) needs "
                             "env.retire=true")
        self.val = self.gen(int(ec.val_size), np.random.default_rng(int(ec.val_seed)))
        self.baseline = None
        self._classical_val: float | None = None

    # ------------------------------------------------------------------ trainer hooks
    def build_net(self) -> nn.Module:
        return build_routing_net(self.cfg.agent).to(self.device)

    def setup(self, net: nn.Module) -> None:
        tc, ac = self.cfg.trainer, self.cfg.agent
        self.baseline = make_baseline(str(ac.baseline), net, check_set=self.val,
                                      every=int(tc.baseline_every), critic_dim=int(ac.dim),
                                      critic_lr=float(ac.critic_lr), device=self.device,
                                      max_grad_norm=float(tc.max_grad_norm),
                                      warmup=int(ac.get("baseline_warmup", 0)))
        if bool(tc.compile):
            # the encoder runs once per episode on fixed shapes: the one part compile can fuse
            enc = net.encoder
            net.encoder = torch.compile(enc, dynamic=False)  # type: ignore[assignment]

    def lr(self, it: int) -> float:
        """``agent.lr``; with ``agent.lr_final`` set, the REINFORCE iterations after the warm
        start follow a cosine from ``agent.lr`` down to ``agent.lr_final``."""
        import math

        lr, final = float(self.cfg.agent.lr), self.cfg.agent.get("lr_final")
        n_rl = self.total - self.n_imit
        if final is None or it < self.n_imit or n_rl < 2:
            return lr
        frac = (it - self.n_imit) / (n_rl - 1)
        return float(final) + 0.5 * (lr - float(final)) * (1 + math.cos(math.pi * frac))

    def extra_state(self) -> dict:
        state = self.baseline.state_dict()
        return {"baseline": state} if state else {}

    def load_extra_state(self, state: dict) -> None:
        self.baseline.load_state_dict(state.get("baseline", {}))

    def _rollouts(self, inst) -> tuple[object, int, torch.Tensor | None]:
        """(the instances to roll out [K * B] copy-major, K, forced first actions or None)."""
        from heurist.policies.nets.routing import dihedral8

        tc, ac = self.cfg.trainer, self.cfg.agent
        B = inst.batch_size[0]
        if self.agent == "symnco":
            base = dihedral8(inst)
            k = max(1, int(tc.n_samples) // 8)
            return torch.cat([base] * k, 0), 8 * k, None
        if bool(ac.multistart):
            n = int(self.cfg.env.n_clients)
            first = torch.arange(1, n + 1).repeat_interleave(B)
            return torch.cat([inst] * n, 0), n, first
        k = int(tc.n_samples) if str(ac.baseline) == "shared" else 1
        return torch.cat([inst] * k, 0), k, None

    def iteration(self, net: nn.Module, opt, it: int, *, seed: int, tgen: torch.Generator) -> dict:
        """One REINFORCE iteration on the draw of ``seed`` (the trainer's iteration seed: the
        instances and the samples); returns the metrics."""
        rng_seed = int(seed)
        if it < self.n_imit:
            return self._imitation(net, opt, it, seed=rng_seed)
        from heurist.policies.decoding import run_episode, sampler
        from heurist.policies.nets.routing import invariance_loss

        tc = self.cfg.trainer
        B = int(tc.batch_size)
        inst = self.gen(B, np.random.default_rng(rng_seed))
        big, K, first = self._rollouts(inst)
        gen = torch.Generator(device=self.device).manual_seed(rng_seed)
        net.train()
        amp = (torch.autocast(self.device.type, dtype=torch.bfloat16) if bool(tc.amp)
               else nullcontext())
        with amp:
            # the K copies are identical except SymNCO's symmetric ones: one encoder pass for all
            traj = run_episode(self.env, net, big, select=sampler(gen), first=first,
                               movers_only=bool(self.cfg.agent.get("movers_only", False)),
                               shared=1 if self.agent == "symnco" else K,
                               score_first=self.multi_agent)
            td0 = self.env.reset(instance=big[:B])
            returns = traj.reward.float().view(K, B).T  # [B, K]
            adv = self.baseline.advantage(returns, td0, inst, self.env)
            loss = policy_loss(adv, traj.logp.float().view(K, B).T)
            metrics = {}
            if self.agent == "symnco":
                tdk = self.env.reset(instance=big[:8 * B])
                inv = invariance_loss(net.project(tdk).view(8, B, -1, net.config["dim"]))
                loss = loss + float(self.cfg.agent.invariance_weight) * inv
                metrics["loss/invariance"] = float(inv.detach())
        opt.zero_grad()
        loss.backward()
        nn.utils.clip_grad_norm_(net.parameters(), float(tc.max_grad_norm))
        opt.step()
        metrics.update(self.baseline.after_step(net=net, it=it, env=self.env))
        metrics.update({"loss/reinforce": float(loss.detach()),
                        "train/objective": float(-returns.mean())})
        if (it + 1) % int(tc.val_every) == 0 or it + 1 == self.total:
            metrics.update(self.validate(net))
        return metrics

    def _imitation(self, net: nn.Module, opt, it: int, *, seed: int) -> dict:
        """One teacher-forced step on PyVRP's routes of this iteration's draw."""
        tc = self.cfg.trainer
        inst = self.gen(int(tc.batch_size), np.random.default_rng(seed))
        teacher, objective = expert_logs(inst, weights=env_weights(self.cfg.env),
                                         iterations=int(tc.expert_iterations),
                                         seed=seed % (2**31), workers=int(tc.expert_workers),
                                         sequential=not self.multi_agent)
        net.train()
        for _ in range(int(tc.imitation_epochs)):
            loss = imitation_loss(self.env, net, inst, teacher.to(self.device))
            opt.zero_grad()
            loss.backward()
            nn.utils.clip_grad_norm_(net.parameters(), float(tc.max_grad_norm))
            opt.step()
        metrics = {"loss/imitation": float(loss.detach()), "train/expert_objective": objective}
        if (it + 1) % int(tc.val_every) == 0 or it + 1 == self.total:
            metrics.update(self.validate(net))
        return metrics

    def _classical_on(self, inst_td) -> dict[str, np.ndarray]:
        from heurist.envs.pvrp import PVRPInstances
        from heurist.policies.pvrp import solve_batch

        inst = PVRPInstances.from_tensordict(inst_td)
        w = env_weights(self.cfg.env)
        return {m: np.array([r.objective for r in solve_batch(inst, m, weights=w,
                                                                progress=False)])
                for m in CLASSICAL}

    def validate(self, net: nn.Module) -> dict:
        """Greedy objective on the validation set and its gap to the best classical constructor."""
        if self._classical_val is None:
            self._classical_val = min(float(v.mean()) for v in self._classical_on(self.val).values())
        net.eval()
        obj, _, _ = solve_learned(self.env, net, self.val, decode="greedy")
        net.train()
        return {"val/objective": float(obj.mean()),
                "val/gap_classical_pct": 100 * (float(obj.mean()) / self._classical_val - 1)}

    def evaluate(self, net: nn.Module, *, logger, step: int) -> dict:
        """Held-out test set: each decode of ``trainer.decode`` vs the classical constructors;
        prints the table, returns the results entries."""
        from rich.table import Table

        ec = self.cfg.env
        test = self.gen(int(ec.test_size), np.random.default_rng(int(ec.test_seed)))
        net.eval()
        res: dict[str, dict] = {}
        for name, v in self._classical_on(test).items():
            res[name] = {"objective": float(v.mean())}
        best_name = min(res, key=lambda n: res[n]["objective"])
        best = res[best_name]["objective"]
        for dec in self.cfg.trainer.decode:
            obj, routes, secs = solve_learned(self.env, net, test, decode=str(dec))
            res[f"{self.agent}/{dec}"] = {"objective": float(obj.mean()),
                                          "ms_per_instance": 1e3 * secs / len(obj)}
        self._render(test, routes, obj, decode=str(dec), logger=logger, step=step)
        for r in res.values():
            r["gap_to_best_classical_pct"] = 100 * (r["objective"] / best - 1)
        table = Table(title=f"held-out {ec.problem} N={ec.n_clients} M={ec.n_vehicles}: "
                            f"{ec.test_size} instances, seed {ec.test_seed}")
        for col in ("method", "mean objective", f"gap to {best_name} %"):
            table.add_column(col, justify="left" if col == "method" else "right")
        for name, r in sorted(res.items(), key=lambda kv: kv[1]["objective"]):
            table.add_row(name, f"{r['objective']:.4f}", f"{r['gap_to_best_classical_pct']:+.2f}")
        self.console.print(table)
        learned = min(v["objective"] for k, v in res.items() if k.startswith(self.agent))
        logger.log({f"test/{k}": v["objective"] for k, v in res.items()}, step=step)
        return {"test": res, "test_seed": int(ec.test_seed), "test_size": int(ec.test_size),
                "best_classical": best_name, "beats_classical": learned < best}

    def _render(self, test, routes, obj, *, decode: str, logger, step: int, n: int = 2) -> None:
        """PNGs of the first ``n`` test solutions of the last decode under
        ``<run_dir>/solutions/`` (also logged to wandb)."""
        from pathlib import Path

        from heurist.envs.pvrp import PVRPInstances
        from heurist.envs.pvrp.render import render

        folder = Path(self.cfg.trainer.run_dir) / "solutions"
        folder.mkdir(parents=True, exist_ok=True)
        inst = PVRPInstances.from_tensordict(test[:n])
        images = {}
        for i in range(min(n, inst.S)):
            path = folder / f"test_{i}_{decode}.png"
            render(inst[i], routes[i], path=path,
                   title=f"{self.agent} {decode}: test instance {i}, objective {obj[i]:.4f}")
            images[f"solutions/test_{i}"] = path
        logger.log_images(images, step=step)

    def export(self, net: nn.Module, folder, *, results: dict):
        from heurist.policies.export import export_artifact

        ec = self.cfg.env
        training = OmegaConf.to_container(self.cfg, resolve=True)
        prov = {"train_instances": f"PVRPGenerator of env config, rng default_rng("
                                   f"SeedSequence([trainer.seed={self.cfg.trainer.seed}, it])"
                                   f".generate_state(1)[0]) for it in 0..{self.total - 1}",
                "test_instances": f"default_rng({ec.test_seed}), {ec.test_size} instances",
                "val_instances": f"default_rng({ec.val_seed}), {ec.val_size} instances"}
        return export_artifact(net.cpu() if self.device.type != "cpu" else net, folder,
                               training=training, metrics=results, provenance=prov, replace=True)

    def describe(self) -> dict:
        ec = self.cfg.env
        return {"problem": str(ec.problem), "agent": self.agent, "n_clients": int(ec.n_clients),
                "n_vehicles": int(ec.n_vehicles), "baseline": str(self.cfg.agent.baseline)}

"""The paging task of the trainer: Belady imitation warm start (DAgger), then REINFORCE with a
shared baseline, on BrightKite training users; held-out evaluation against the classical
policies; the exported eviction policy."""
from __future__ import annotations

import math

import numpy as np
import torch
from omegaconf import DictConfig, OmegaConf

from heurist.agents.data import find_traces, load_split, total_requests
from heurist.agents.evaluation import baseline_misses, eval_instance, results_table
from heurist.agents.imitation import imitation_update
from heurist.agents.policy import NetPolicy
from heurist.agents.reinforce import reinforce_update, shared_baseline_advantage
from heurist.agents.rollout import collect

__all__ = ["PagingTask", "build_paging_net", "mixed_family_traces"]


def mixed_family_traces(families: list[str], *, n_traces: int = 20, length: int = 2100,
                        seed: int = 0) -> list[np.ndarray]:
    """The training traces ``[length]`` of the synthetic ``families`` (``n_traces`` each, in the
    order given): the train part of :func:`heurist.agents.paging_predictors.data.family_traces`
    (seed ``seed``; the held-out part, seed ``seed + 1_000_003``, is never drawn here)."""
    if not families:
        return []
    from heurist.agents.paging_predictors.data import SYNTHETIC, family_traces

    bad = [f for f in families if f not in SYNTHETIC]
    if bad or len(set(families)) != len(families):
        raise ValueError(f"env.mix_families={families}: distinct names out of {', '.join(SYNTHETIC)}")
    if n_traces < 1 or length < 1:
        raise ValueError(f"env.mix_traces={n_traces}, env.mix_length={length}: must be >= 1")
    return [t for fam in families
            for t in family_traces(fam, part="train", n_traces=n_traces, length=length, seed=seed)]


def build_paging_net(agent_cfg, *, gap_features: bool = False):
    """The slot-attention network of ``agent`` config (feature sizes come from the env;
    ``gap_features``: the env's opt-in inter-arrival channels)."""
    from heurist.envs.paging.env import REQUEST_FEATURES, slot_feature_names
    from heurist.policies.nets import SlotAttentionPolicy

    return SlotAttentionPolicy(slot_dim=len(slot_feature_names(gap_features)), request_dim=len(REQUEST_FEATURES),
                               embed_dim=agent_cfg.embed_dim, n_heads=agent_cfg.n_heads,
                               n_layers=agent_cfg.n_layers, ff_dim=agent_cfg.ff_dim,
                               clip=agent_cfg.clip, members=int(agent_cfg.get("members", 1)),
                               skip_channel=agent_cfg.get("skip_channel"),
                               skip_weight=float(agent_cfg.get("skip_weight", 0.0)))


def _no_decisions(roll) -> dict:
    """Metrics of a batch of windows in which no eviction was needed: nothing to learn from."""
    return {"train/misses": float(roll.misses.mean()), "train/decisions": 0}


def _concat(rollouts: list):
    """One rollout holding the decisions of ``rollouts`` (imitation reads the decision tensors)."""
    import dataclasses

    cat = {f: torch.cat([getattr(r, f) for r in rollouts])
           for f in ("slot_features", "request_features", "action_mask", "actions", "teacher")}
    return dataclasses.replace(rollouts[-1], **cat)


class PagingTask:
    """What the trainer asks of a paging run (see :mod:`heurist.agents.trainer`)."""

    def __init__(self, cfg: DictConfig, *, console) -> None:
        from heurist.envs.paging.generator import PagingGenerator

        self.cfg, self.console = cfg, console
        ec, tc = cfg.env, cfg.trainer
        self.split = load_split(ec.data_dir, n_train=ec.n_train)
        n_val = int(ec.get("val_users", 0) or 0)
        if n_val:
            # Model selection: the last n_val training users (sorted names) leave training and
            # take the held-out users' place in the evaluation, so the held-out users stay unseen.
            if not 0 < n_val < len(self.split["train"]):
                raise ValueError(f"env.val_users={n_val}: must lie in [0, "
                                 f"{len(self.split['train']) - 1}]")
            tr, names = self.split["train"], self.split["train_names"]
            self.split = {"train": tr[:-n_val], "test": tr[-n_val:],
                          "train_names": names[:-n_val], "test_names": names[-n_val:]}
        self.evaluation_name = "validation" if n_val else "held-out"
        # env.mix_families (issue 11 §3): synthetic families' training traces join the training
        # pool (drawn uniformly with the BrightKite users); evaluation stays on BrightKite.
        self.mix = mixed_family_traces(list(ec.get("mix_families", []) or []),
                                       n_traces=int(ec.get("mix_traces", 20)),
                                       length=int(ec.get("mix_length", 2100)),
                                       seed=int(ec.get("mix_seed", 0)))
        train_pool = self.split["train"] + self.mix
        self.k = int(ec.cache_size)
        # A learned predictor's outputs as inputs (env.input_predictor; predictor none only).
        from heurist.policies.paging.learned_policy import input_predictor, slot_env

        self.inputs, self.inputs_sha = input_predictor(ec.get("input_predictor", "none"))
        if self.inputs_sha is not None and str(ec.predictor) != "none":
            raise ValueError(f"env.input_predictor={ec.input_predictor} needs env.predictor=none")
        self.predictor = ec.predictor if self.inputs_sha is None else self.inputs
        self.gen_fn = PagingGenerator(traces=train_pool, length=ec.train_window,
                                      predictor=self.predictor, cache_size=self.k)
        # Opt-in inter-arrival slot channels (env.gap_features; off: the env as before).
        self.gap = bool(ec.get("gap_features", False))
        self.env = slot_env(self.k, self.inputs, gap_features=self.gap)
        # agent.imitation_target: "belady" labels the farthest slots; "zero_regret" every slot whose
        # eviction costs no more than Belady's (cost-sensitive labels, agents/paging_regret.py).
        target = str(cfg.agent.get("imitation_target", "belady"))
        if target not in ("belady", "zero_regret"):
            raise ValueError(f"agent.imitation_target={target}: must be belady or zero_regret")
        self.teacher_env = self.env
        if target == "zero_regret":
            from heurist.agents.paging_regret import RegretTeacherEnv

            self.teacher_env = RegretTeacherEnv(self.env)
        # agent.dagger_buffer: imitation trains on the decisions of the last N DAgger iterations
        # (the aggregated data set of DAgger) instead of the current one only (1, the default).
        self.buffer_len = int(cfg.agent.get("dagger_buffer", 1))
        if self.buffer_len < 1:
            raise ValueError(f"agent.dagger_buffer={self.buffer_len}: must be at least 1")
        self.buffer: list = []
        self.n_imit = int(tc.imitation_iters)
        self.total = self.n_imit + int(tc.reinforce_iters)

    def build_net(self):
        return build_paging_net(self.cfg.agent, gap_features=self.gap)

    def setup(self, net) -> None:
        pass

    def lr(self, it: int) -> float:
        ac = self.cfg.agent
        if it >= self.n_imit:
            return float(ac.reinforce_lr)
        final = ac.get("imitation_lr_final")
        if final is None or self.n_imit < 2:
            return float(ac.lr)
        # Cosine from agent.lr to imitation_lr_final over the imitation iterations: the late
        # DAgger iterations refine instead of jumping between equally good policies.
        frac = it / (self.n_imit - 1)
        return float(final + 0.5 * (ac.lr - final) * (1.0 + math.cos(math.pi * frac)))

    def extra_state(self) -> dict:
        return {}

    def load_extra_state(self, state: dict) -> None:
        pass

    def iteration(self, net, opt, it: int, *, seed: int, tgen: torch.Generator) -> dict:
        tc = self.cfg.trainer
        if it < self.n_imit:
            inst = self.gen_fn(tc.imitation_batch, np.random.default_rng(seed))
            # DAgger: the first pass follows Belady, later ones the (sampling) policy, labelled
            # by Belady.
            # agent.dagger_sample=false: the later passes follow the greedy policy, the one that
            # is evaluated, instead of sampling from it.
            sample = bool(self.cfg.agent.get("dagger_sample", True))
            roll = collect(self.teacher_env, inst, NetPolicy(net, sample=sample, generator=tgen),
                           teacher=True, follow_teacher=(it == 0))
            if roll.actions is None:
                return _no_decisions(roll)
            data = roll
            if self.buffer_len > 1:
                self.buffer = [*self.buffer, roll][-self.buffer_len:]
                data = _concat(self.buffer)
            loss = imitation_update(net, opt, data, batch_size=tc.minibatch,
                                    epochs=tc.imitation_epochs, generator=tgen,
                                    max_grad_norm=tc.max_grad_norm)
            return {"loss/imitation": loss, "train/misses": float(roll.misses.mean()),
                    "train/decisions": int(roll.actions.shape[0])}
        n = int(tc.n_samples)
        inst = self.gen_fn(tc.reinforce_batch, np.random.default_rng(seed))
        inst = inst[torch.arange(inst.batch_size[0]).repeat_interleave(n)]
        roll = collect(self.env, inst, NetPolicy(net, sample=True, generator=tgen))
        if roll.actions is None:
            return _no_decisions(roll)
        adv = shared_baseline_advantage(-roll.misses, n)
        loss = reinforce_update(net, opt, roll, adv, chunk=tc.chunk,
                                max_grad_norm=tc.max_grad_norm)
        return {"loss/reinforce": loss, "train/misses": float(roll.misses.mean()),
                "train/decisions": int(roll.actions.shape[0])}

    def describe(self) -> dict:
        return {"cache_size": self.k, "predictor": str(self.cfg.env.predictor),
                "input_predictor": str(self.cfg.env.get("input_predictor", "none")),
                "train_users": self.split["train_names"], "test_users": self.split["test_names"],
                **({"mix_families": list(self.cfg.env.mix_families),
                    "mix_traces": len(self.mix)} if self.mix else {})}

    def evaluate(self, net, *, logger, step: int) -> dict:
        """The learned policy against the baselines on the held-out users; prints the table and
        the verdict, returns the results entries."""
        ec, split, console = self.cfg.env, self.split, self.console
        net.eval()
        # The learned policy in its own env (conditional inputs), the baselines in simulate, on
        # one instance: compare()'s protocol.
        from heurist.policies.paging.learned_policy import slot_env

        inst = eval_instance(split["test"], cache_size=self.k, predictor=self.predictor,
                             seed=int(ec.eval_seed))
        with torch.no_grad():
            per = {"Learned": collect(slot_env(self.k, self.inputs, gap_features=self.gap), inst.clone(), NetPolicy(net),
                                      record=False).misses.numpy()}
        per.update(baseline_misses(inst, cache_size=self.k, seed=int(ec.eval_seed)))
        requests = total_requests(split["test"])
        console.print(results_table(per, requests=requests,
                                    title=f"{self.evaluation_name} BrightKite users "
                                          f"({len(split['test'])}), "
                                          f"k = {self.k}, predictor {ec.predictor}"))
        totals = {name: float(v.sum()) for name, v in per.items()}
        beats = totals["Learned"] < totals["LRU"]
        verdict = "[green]PASS" if beats else "[red]FAIL"
        console.print(f"{verdict}[/]: learned {totals['Learned']:,.0f} misses vs LRU "
                      f"{totals['LRU']:,.0f} on the {self.evaluation_name} users")
        logger.log({f"test/{n}": v for n, v in totals.items()}, step=step)
        return {"evaluated_on": self.evaluation_name, "misses": totals, "requests": requests,
                "learned_over_opt": totals["Learned"] / totals["OPT"], "beats_lru": beats}

    def export(self, net, folder, *, results: dict):
        from heurist.policies.export import data_provenance, export_policy

        ec, split = self.cfg.env, self.split
        extra = {} if self.inputs_sha is None else {"input_predictor": {
            "spec": str(ec.input_predictor), "sha256": self.inputs_sha}}
        return export_policy(net, folder, replace=True,
                             training=OmegaConf.to_container(self.cfg, resolve=True),
                             metrics=results,
                             provenance={"data": data_provenance(
                                 find_traces(ec.data_dir)[0].parent, split["train_names"],
                                 split["test_names"]), **extra})

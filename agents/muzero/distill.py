"""Expert iteration for Malloc mapping (AlphaZero-style distillation): the prior and value of a
``MuZeroNet`` trained on the policy targets of search over the *true* simulator.

Self-play over a learned model did not learn within our budget (``docs/benchmarks/muzero.md``),
so the network here never plans on its own model: an expert (Gumbel search over the env with a
greedy-rollout leaf value and the current prior, uniform in round 0) plays synthetic instances,
and the network's representation + prediction are fitted to the search's action weights
``softmax(logits + sigma(completed q))`` (cross-entropy over the legal actions) and to the
return-to-go of the expert's episode (categorical value, as ``unroll_loss``'s). Its dynamics and
reward heads are not trained. The network then serves as AlphaZero mode's prior
(``LearnedModel(net).prior``): at a small budget, Gumbel's root considers the prior's top
actions instead of the lowest-index ones a uniform prior ties to.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from heurist.agents.muzero.model import LearnedModel
from heurist.agents.muzero.planner import search_episodes
from heurist.policies.nets.muzero import MuZeroNet, flat_observation, scalar_to_support

__all__ = ["ExpertData", "expert_shard", "expert_targets", "export_prior", "prior_greedy_returns",
           "train_prior"]


@dataclass
class ExpertData:
    """Searched positions: obs float32 ``[M, D]``, policy targets float32 ``[M, A]`` (the
    search's action weights, 0 on illegal actions), legal bool ``[M, A]``, value targets
    float32 ``[M]`` (the expert episode's return from that position), and the expert's episode
    returns float64 ``[B]``."""

    obs: torch.Tensor
    policy: torch.Tensor
    legal: torch.Tensor
    value: torch.Tensor
    returns: np.ndarray

    def __len__(self) -> int:
        return self.obs.shape[0]

    @staticmethod
    def concat(parts: list[ExpertData]) -> ExpertData:
        """The positions of ``parts`` one after the other (shard order)."""
        return ExpertData(torch.cat([p.obs for p in parts]), torch.cat([p.policy for p in parts]),
                          torch.cat([p.legal for p in parts]), torch.cat([p.value for p in parts]),
                          np.concatenate([p.returns for p in parts]))


def expert_targets(instances: list, *, num_simulations: int, k: int = 8, order: str = "msa",
                   net: MuZeroNet | None = None, seed: int = 0) -> ExpertData:
    """Plays one episode per instance (one batch) with Gumbel search over the true simulator
    (greedy-rollout leaf values; ``net``'s prior when given, else uniform; ``gumbel_scale=0``)
    and keeps every searched position (a live row with more than one legal action)."""
    from heurist.envs.malloc.env import MallocEnv
    from heurist.envs.malloc.generator import pad_instances

    td_inst = pad_instances(list(instances))
    env = MallocEnv(mode="mapping", k=k, order=order, seed=seed)
    prior = None if net is None else LearnedModel(net).prior
    ep = search_episodes(env, td_inst, num_simulations=num_simulations, seed=seed, prior=prior,
                         value="rollout", keep_targets=True)
    # the per-step rewards: the action log replayed through a fresh env (the same dynamics)
    td = env.reset(instance=td_inst)
    B, T = ep.actions.shape
    rew = np.zeros((B, T))
    searched = []  # the steps search_episodes searched: a live row had more than one choice
    for t in range(T):
        live = ~td["done"].reshape(B).numpy()
        if (td["action_mask"].numpy().sum(-1)[live] > 1).any():
            searched.append(t)
        td["action"] = torch.from_numpy(np.ascontiguousarray(ep.actions[:, t]))
        td = env.step(td)["next"]
        rew[:, t] = td["reward"].reshape(B).numpy()
    to_go = np.cumsum(rew[:, ::-1], 1)[:, ::-1]  # [B, T]: the return from step t on
    if len(searched) != len(ep.targets):
        raise RuntimeError(f"expert_targets: {len(searched)} searched steps replayed, "
                           f"{len(ep.targets)} kept by the search")
    obs, pol, legal, val = [], [], [], []
    for t, (td_t, weights, rows) in zip(searched, ep.targets):
        rows = np.asarray(rows, bool)
        if not rows.any():
            continue
        obs.append(flat_observation(td_t)[torch.from_numpy(rows)])
        pol.append(torch.from_numpy(np.asarray(weights, np.float32)[rows]))
        legal.append(td_t["action_mask"][torch.from_numpy(rows)])
        val.append(torch.from_numpy(to_go[rows, t].astype(np.float32)))
    return ExpertData(torch.cat(obs), torch.cat(pol), torch.cat(legal), torch.cat(val),
                      ep.returns)


def expert_shard(net: MuZeroNet, cfg, *, iteration: int, shard: int) -> ExpertData:
    """Shard ``shard`` of expert iteration ``iteration`` (``cfg``: a ``MuZeroConfig`` with
    ``workers`` >= 1 shards): its rows' instances and the search's seed come from
    ``(seed, iteration, shard)`` only, so any process (a Ray actor or this one) plays the same
    positions. The expert uses ``net``'s prior from iteration 1 on, uniform in iteration 0."""
    from heurist.agents.muzero.train import _instances, shard_rows

    rng = np.random.default_rng([cfg.seed, iteration, shard])
    insts = _instances(cfg, rng, shard_rows(cfg.rows, cfg.workers)[shard])
    return expert_targets(insts, num_simulations=cfg.simulations, k=cfg.k, order=cfg.order,
                          net=net if iteration > 0 else None,
                          seed=int(rng.integers(0, 2**31 - 1)))


def train_prior(net: MuZeroNet, data: ExpertData, *, steps: int, batch_size: int = 256,
                lr: float = 1e-3, weight_decay: float = 1e-4, value_coef: float = 0.25,
                seed: int = 0) -> list[float]:
    """``steps`` AdamW steps of policy cross-entropy (over the legal actions) plus
    ``value_coef`` x the categorical value cross-entropy on minibatches of ``data`` drawn with
    ``seed``; returns the loss of each step. Only the representation and prediction MLPs get
    gradients."""
    g = torch.Generator().manual_seed(seed)
    params = [*net.represent_net.parameters(), *net.policy_net.parameters(),
              *net.value_net.parameters()]
    opt = torch.optim.AdamW(params, lr=lr, weight_decay=weight_decay)
    v_t = scalar_to_support(data.value, net.support_size, scale=net.value_scale)
    losses = []
    net.train()
    for _ in range(steps):
        idx = torch.randint(len(data), (min(batch_size, len(data)),), generator=g)
        logits, v_logits = net.predict(net.represent(data.obs[idx]))
        # illegal actions never appear in a search or a target: keep them out of the softmax
        logits = logits.masked_fill(~data.legal[idx], -1e9)
        lp = -(data.policy[idx] * torch.log_softmax(logits, -1)).sum(-1).mean()
        lv = -(v_t[idx] * torch.log_softmax(v_logits, -1)).sum(-1).mean()
        loss = lp + value_coef * lv
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(float(loss.detach()))
    net.eval()
    return losses


@torch.no_grad()
def prior_greedy_returns(net: MuZeroNet, instances: list, *, k: int = 8,
                         order: str = "msa") -> tuple[np.ndarray, np.ndarray]:
    """The network alone: every decision takes the legal action of highest prior logit.
    Returns (each row's return = fraction of time saved ``[B]``, the action log ``[B, T]``)."""
    from heurist.envs.malloc.env import MallocEnv
    from heurist.envs.malloc.generator import pad_instances

    env = MallocEnv(mode="mapping", k=k, order=order)
    td = env.reset(instance=pad_instances(list(instances)))
    B = td.batch_size[0]
    net.eval()
    returns, log = np.zeros(B), []
    while not td["done"].all():
        logits, _ = net(flat_observation(td))
        a = logits.masked_fill(~td["action_mask"], -torch.inf).argmax(-1)
        a = torch.where(td["done"].reshape(B), 0, a)
        td["action"] = a
        td = env.step(td)["next"]
        returns += td["reward"].reshape(B).numpy()
        log.append(a.numpy())
    return returns, np.stack(log, 1)


def export_prior(net: MuZeroNet, out_dir, *, training: dict, metrics: dict | None = None,
                 provenance: dict | None = None, replace: bool = False):
    """Writes ``net`` as a policy artifact whose manifest marks it a distilled prior
    (``training.role = alphazero_prior``): ``heurist plan --method search --policy`` then uses
    its policy head as the prior of search over the true simulator, never its (untrained)
    dynamics. ``training`` should hold the env's ``config`` (``k``, ``order``)."""
    from heurist.policies.export import export_artifact
    from heurist.policies.malloc.search_policies import PRIOR_ROLE

    return export_artifact(net, out_dir, training={**training, "role": PRIOR_ROLE},
                           metrics=metrics, provenance=provenance, replace=replace)

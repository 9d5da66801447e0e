"""MuZero mode trained on the lookahead expert (``heurist.agents.muzero.expert_model``): targets
equal to the true simulator's, the policy target, the replay's unrolls, resumable training and the
Hydra experiment."""
import math

import numpy as np
import pytest
import torch
from hydra import compose, initialize_config_module
from omegaconf import open_dict

from heurist.agents.muzero.expert_model import (
    ExpertModelTrainer,
    ExpertReplay,
    lookahead_episodes,
    lookahead_targets,
    policy_target,
)
from heurist.agents.muzero.hydra_train import train_muzero
from heurist.agents.muzero.search_policy import load_search_policy
from heurist.agents.muzero.train import MuZeroConfig
from heurist.envs.malloc.env import MallocEnv
from heurist.envs.malloc.generator import pad_instances
from heurist.envs.malloc.synthetic import random_instance

_INSTS = [random_instance(n, seed=s, max_lifetime=8, capacity_fraction=0.5)
          for n, s in ((9, 1), (7, 2), (10, 3))]
_TINY = dict(targets="expert", rows=2, n_min=4, n_max=6, train_steps=2, batch_size=8, unroll=2,
             latent=8, hidden=16, order="size", replay_capacity=500)


def _fresh(order="size"):
    env = MallocEnv(mode="mapping", k=8, order=order)
    return env, env.reset(instance=pad_instances(_INSTS))


def test_lookahead_targets_equal_the_env_stepped_and_rolled_out():
    """Every legal action's reward and child value equal a fresh env's step + greedy_rollout,
    the root value its greedy_rollout, and the env is left at the root."""
    env, td = _fresh()
    td = env.step(td.set("action", td["action_mask"].long().argmax(-1)))["next"]  # one step in
    snap = {k: np.copy(v) for k, v in env.snapshot().items()}
    cr, cv, v = lookahead_targets(env, td)
    assert all(np.array_equal(snap[k], x) for k, x in env.snapshot().items())
    mask = td["action_mask"].numpy()
    first = mask.argmax(-1)
    ref, t = _fresh()
    t = ref.step(t.set("action", t["action_mask"].long().argmax(-1)))["next"]
    np.testing.assert_array_equal(v, ref.greedy_rollout())
    for a in range(mask.shape[1]):
        ref, t = _fresh()
        t = ref.step(t.set("action", t["action_mask"].long().argmax(-1)))["next"]
        out = ref.step(t.set("action", torch.from_numpy(np.where(mask[:, a], a, first))))["next"]
        r = out["reward"].reshape(-1).numpy().astype(np.float64)
        g = np.where(out["done"].reshape(-1).numpy(), 0.0, ref.greedy_rollout())
        np.testing.assert_array_equal(cr[:, a], np.where(mask[:, a], r, 0.0))
        np.testing.assert_array_equal(cv[:, a], np.where(mask[:, a], g, 0.0))
    assert mask.sum() > len(_INSTS)  # some row had a choice


def test_expert_plays_the_lookahead_argmax_and_beats_greedy():
    """The expert's first action is argmax r + V over the legal actions, and its return is at
    least the env's greedy episode's on each of the 3 instances (policy improvement)."""
    env, td = _fresh()
    cr, cv, _ = lookahead_targets(env, td)
    q = np.where(td["action_mask"].numpy(), cr + cv, -np.inf)
    episodes, returns = lookahead_episodes(_INSTS, k=8, order="size")
    assert [int(e[1][0]) for e in episodes] == q.argmax(-1).tolist()
    greedy, _ = _fresh()
    greedy_returns = greedy.greedy_rollout()
    assert (returns >= greedy_returns - 1e-6).all()
    assert [len(e[1]) for e in episodes] == [9, 7, 10]
    np.testing.assert_allclose([e[2].sum() for e in episodes], returns, atol=1e-6)


def test_policy_target_known_values():
    """q = (0.1, 0.3, illegal, 0.2) -> softmax(5.1 * (0, 1, 0.5)) on the legal actions; all
    equal -> uniform over the legal ones."""
    p = policy_target(np.array([[0.1, 0.3, 9.0, 0.2], [0.5, 0.5, 0.5, 0.5]]),
                      np.array([[True, True, False, True], [True, False, True, True]]))
    e = np.exp([0.0, 5.1, 2.55])
    np.testing.assert_allclose(p[0], [e[0] / e.sum(), e[1] / e.sum(), 0.0, e[2] / e.sum()],
                               rtol=1e-6)
    np.testing.assert_allclose(p[1], [1 / 3, 0, 1 / 3, 1 / 3], rtol=1e-6)


def test_expert_replay_unrolls_stop_at_the_episode_end():
    """Episodes of 3 and 4 steps: every sampled unroll has the policy mask ``t + k < end`` and
    the stored values inside, 0 outside."""
    rep = ExpertReplay(capacity=10, obs_dim=1, n_actions=3)
    for t0, T in ((0, 3), (3, 4)):
        idx = np.arange(t0, t0 + T)
        rep.add_episode(idx[:, None].astype(np.float32), idx % 3, idx * 0.01, np.ones((T, 3)) / 3,
                        idx * 0.1, np.ones((T, 3), bool), np.zeros((T, 3)), np.zeros((T, 3)))
    batch, legal, _, _ = rep.sample(32, 2, np.random.default_rng(0))
    t = batch.obs[:, 0].long().numpy()
    end = np.where(t < 3, 3, 7)
    inside = t[:, None] + np.arange(3) < end[:, None]
    np.testing.assert_array_equal(batch.policy_mask.numpy(), inside)
    want = np.where(inside, (t[:, None] + np.arange(3)) * 0.1, 0.0)
    np.testing.assert_allclose(batch.values.numpy(), want, rtol=1e-6)
    assert legal.shape == (32, 3) and set(t.tolist()) == set(range(7))


def test_resumed_expert_training_gives_identical_weights(tmp_path):
    """2 iterations straight == 1 iteration, checkpoint, a new trainer resuming to 2."""
    torch.set_num_threads(1)
    a = ExpertModelTrainer(MuZeroConfig(**_TINY))
    a.run(2)
    ckpt = tmp_path / "ckpt.pt"
    ExpertModelTrainer(MuZeroConfig(**_TINY)).run(1, ckpt=ckpt)
    b = ExpertModelTrainer(MuZeroConfig(**_TINY))
    b.run(2, ckpt=ckpt)
    assert b.iteration == 2 and len(b.replay) == len(a.replay) > 0
    for (k, va), vb in zip(a.net.state_dict().items(), b.net.state_dict().values(), strict=True):
        assert torch.equal(va, vb), k
    assert math.isfinite(a.history[-1]["all_value"])
    with pytest.raises(ValueError, match="workers must be 0"):
        ExpertModelTrainer(MuZeroConfig(**{**_TINY, "workers": 1}))


def test_hydra_expert_experiment_exports_a_learned_model(tmp_path):
    """experiment=muzero_malloc_mapping_expert trains (tiny) and exports a MuZero-mode model in
    the env's size order."""
    over = [f"agent.config.{k}={v}" for k, v in _TINY.items() if k not in ("targets", "order")]
    with initialize_config_module("heurist.configs", version_base="1.3"):
        cfg = compose("train", overrides=["experiment=muzero_malloc_mapping_expert", *over,
                                          "agent.iterations=2", "agent.eval_instances=2",
                                          "agent.search.simulations=2", "logger=csv"])
    with open_dict(cfg):
        cfg.trainer.run_dir = str(tmp_path)
    res = train_muzero(cfg)
    assert res["iterations"] == 2 and res["eval/instances"] == 2
    sp = load_search_policy(tmp_path / "policy")
    assert (sp.k, sp.order, sp.model) == (8, "size", sp.model)
    assert "model" in sp.plan_kwargs()


def test_rank_term_is_the_target_entropy_when_the_model_is_exact():
    """With the true child rewards/values set to the model's own predictions, the ranking term
    equals the entropy of its target softmax (its minimum: model q = true q)."""
    from heurist.agents.muzero.expert_model import EXPERT_SIGMA, model_loss
    from heurist.policies.nets.muzero import MuZeroNet

    torch.manual_seed(0)
    net = MuZeroNet(obs_dim=3, n_actions=4, latent=4, hidden=8)
    rep = ExpertReplay(capacity=8, obs_dim=3, n_actions=4)
    legal = np.array([[True, True, False, True]] * 4)
    rep.add_episode(np.random.default_rng(1).random((4, 3)).astype(np.float32), np.zeros(4),
                    np.zeros(4), np.full((4, 4), 0.25), np.zeros(4), legal, np.zeros((4, 4)),
                    np.zeros((4, 4)))
    batch, lg, _, _ = rep.sample(4, 1, np.random.default_rng(0))
    with torch.no_grad():
        s1, r_logits = net.dynamics(net.represent(batch.obs).repeat_interleave(4, 0),
                                    torch.arange(4).repeat(4))
        r = net.to_scalar(r_logits).reshape(4, 4)
        v = net.to_scalar(net.predict(s1)[1]).reshape(4, 4)
        _, parts = model_loss(net, batch, lg, r, v, min_span=1e-9)
    q = (r + v).double().masked_fill(~lg, torch.nan)
    lo, hi = np.nanmin(q.numpy(), 1, keepdims=True), np.nanmax(q.numpy(), 1, keepdims=True)
    z = np.where(lg.numpy(), EXPERT_SIGMA * (q.numpy() - lo) / (hi - lo), -np.inf)
    p = np.exp(z - z.max(1, keepdims=True))
    p /= p.sum(1, keepdims=True)
    entropy = -(np.where(p > 0, p * np.log(np.where(p > 0, p, 1)), 0)).sum(1).mean()
    assert parts["rank"] == pytest.approx(entropy, rel=1e-5)

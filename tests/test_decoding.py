"""The decoding unit (heurist.policies.decoding): every strategy's solutions pass the env oracle
with the reported objective equal to evaluate; best-of kept; beam, multi-start and x8 symmetry."""
from __future__ import annotations

import itertools

import pytest
import torch

from heurist.envs.pvrp import PVRPEnv, PVRPSequentialEnv, Weights
from heurist.policies.decoding import (
    STRATEGIES,
    beam_search,
    greedy,
    replay,
    rollout,
    run_episode,
    sampler,
)
from heurist.policies.nets.routing import CAMP, AttentionModel, PointerNetwork, dihedral, dihedral8

SMALL = {"dim": 32, "n_heads": 4, "n_layers": 2, "ff_dim": 64}


pytestmark = pytest.mark.usefixtures("one_thread")


def setup(kind: str):
    """(env, policy, 3 instances) for a single-agent (AM / Ptr-Net on PVRPSequential-ZC) or the
    multi-agent (CAMP on PVRP-P) case."""
    torch.manual_seed(0)
    if kind == "camp":
        env, policy = PVRPEnv(n_clients=7, n_vehicles=3, variant="p", capacity=20), CAMP(**SMALL)
    else:
        env = PVRPSequentialEnv(n_clients=7, n_vehicles=2, variant="zc", capacity=20)
        policy = AttentionModel(**SMALL) if kind == "am" else PointerNetwork(dim=32)
    return env, policy.eval(), env.generate(3, seed=5)


CASES = [(kind, s, aug) for kind in ("am", "ptrnet", "camp") for s in STRATEGIES
         for aug in (False, True) if not (kind == "camp" and s == "beam")]


@pytest.mark.parametrize("kind,strategy,augment", CASES)
def test_every_strategy_is_oracle_checked_and_keeps_the_best(kind, strategy, augment):
    """The returned log passes check_solution, its value is exactly evaluate (objective = -value),
    and it is the best of all candidates (K of them: 1, samples, beams or starts, x8 copies)."""
    env, policy, inst = setup(kind)
    d = rollout(env, policy, inst, strategy=strategy, augment=augment, n_samples=3, beam_width=3)
    kw = {} if d.priorities is None else {"priorities": d.priorities}
    assert env.check_solution(inst, d.actions, **kw).all()
    value = env.evaluate(inst, d.actions, **kw)
    assert torch.equal(d.value, value)
    assert torch.equal(d.objective, -value)
    k = {"greedy": 1, "sample": 3, "beam": 3, "multistart": 7}[strategy] * (8 if augment else 1)
    assert d.candidates.shape == (k, 3)
    assert torch.equal(d.value, d.candidates.max(0).values)


def test_more_candidates_never_hurt():
    """Greedy is one of the candidates of greedy x8 (copy 0 is the identity), so x8 is never
    worse; same for multistart x8 over multistart (candidate s * 8 + 0: start s, identity)."""
    env, policy, inst = setup("am")
    g = rollout(env, policy, inst, strategy="greedy")
    g8 = rollout(env, policy, inst, strategy="greedy", augment=True)
    assert torch.equal(g8.candidates[0], g.value)
    assert (g8.value >= g.value).all()
    m = rollout(env, policy, inst, strategy="multistart")
    m8 = rollout(env, policy, inst, strategy="multistart", augment=True)
    assert torch.equal(m8.candidates[0::8], m.candidates)
    assert (m8.value >= m.value).all()


def test_beam_of_width_one_is_greedy():
    """Beam search with one beam takes the argmax at every step: the same log as greedy."""
    env, policy, inst = setup("ptrnet")
    with torch.no_grad():
        beam = beam_search(env, policy, inst, width=1)
        g = run_episode(env, policy, inst, select=greedy)
    assert torch.equal(beam.actions, g.actions)
    assert torch.allclose(beam.reward, g.reward)


def test_beam_scores_are_the_logs_log_probabilities():
    """Each beam's score equals the summed log-probability of its log, recomputed step by step,
    and the beams are sorted by it."""
    env, policy, inst = setup("am")
    with torch.no_grad():
        beam = beam_search(env, policy, inst, width=3)
        big = torch.cat([inst] * 3, 0)
        td = env.reset(instance=big)
        state = policy.init(td)
        total = torch.zeros(9, dtype=torch.float64)
        for t in range(beam.actions.shape[1]):
            logits, state = policy.step(td, state)
            total += logits.log_softmax(-1).gather(-1, beam.actions[:, t:t + 1]).squeeze(-1).double()
            td["action"] = beam.actions[:, t]
            td = env.step(td)["next"]
    assert torch.allclose(beam.logp.double(), total, atol=1e-4)
    score = beam.logp.view(3, 3)
    assert (score[0] >= score[1]).all() and (score[1] >= score[2]).all()


def test_multistart_forces_each_first_client():
    """Multi-start copy k starts at client k + 1 where that is legal (vehicle 0 of CAMP too)."""
    for kind in ("am", "camp"):
        env, policy, inst = setup(kind)
        big = torch.cat([inst] * 7, 0)
        first = torch.arange(1, 8).repeat_interleave(3)
        with torch.no_grad():
            traj = run_episode(env, policy, big, first=first)
        mask = env.reset(instance=big)["action_mask"]
        legal = (mask if mask.ndim == 2 else mask[:, 0]).gather(1, first[:, None]).squeeze(1)
        taken = traj.actions[:, 0] if traj.actions.ndim == 2 else traj.actions[:, 0, 0]
        assert torch.equal(taken[legal], first[legal])
        assert legal.sum() >= 10


def test_dihedral_maps_are_the_eight_isometries():
    """The point (0.1, 0.3) has 8 distinct images, and every map keeps a distance (0.5 here)."""
    p = torch.tensor([[0.1, 0.3], [0.4, 0.7]], dtype=torch.float64)
    images = {tuple(round(v, 12) for v in dihedral(p, k)[0].tolist()) for k in range(8)}
    assert images == {(0.1, 0.3), (0.9, 0.3), (0.1, 0.7), (0.9, 0.7),
                      (0.3, 0.1), (0.3, 0.9), (0.7, 0.1), (0.7, 0.9)}
    for k in range(8):
        q = dihedral(p, k)
        assert float((q[0] - q[1]).norm()) == pytest.approx(0.5, abs=1e-12)


@pytest.mark.parametrize("kind", ["am", "camp"])
def test_augmentation_leaves_the_objective_invariant(kind):
    """The same solution judged on each of the 8 dihedral copies has the same objective
    (float64 oracle, to 1e-12), on PVRP-ZC sequential and PVRP-P parallel alike."""
    env, policy, inst = setup(kind)
    d = rollout(env, policy, inst)
    copies = dihedral8(inst)
    acts = torch.cat([d.actions] * 8, 0)
    kw = {} if d.priorities is None else {"priorities": torch.cat([d.priorities] * 8, 0)}
    values = env.evaluate(copies, acts, **kw).view(8, 3)
    assert torch.allclose(values, d.value.expand(8, 3), rtol=0, atol=1e-12)


def test_tsp_special_case():
    """TSP as one vehicle without a binding capacity: every strategy returns oracle-accepted tours
    and on 3 clients beam search is exhaustive with 24 beams (3! orders x 2^2 optional depot
    returns = 24 complete logs, and distinct live prefixes complete disjointly, so no level holds
    more): it finds the best of the 6 enumerated tours, even with untrained weights."""
    torch.manual_seed(0)
    env = PVRPSequentialEnv(n_clients=3, n_vehicles=1, capacity=100,
                            weights=Weights(w_time=1.0, w_pref=0.0))
    inst = env.generate(1, seed=0)
    tours = torch.tensor([list(p) + [0] for p in itertools.permutations([1, 2, 3])])
    best = float(env.evaluate(torch.cat([inst] * 6, 0), tours).max())
    policy = AttentionModel(**SMALL).eval()
    for strategy in STRATEGIES:
        assert env.check_solution(inst, rollout(env, policy, inst, strategy=strategy).actions).all()
    d = rollout(env, policy, inst, strategy="beam", beam_width=24)
    assert float(d.value[0]) == pytest.approx(best, abs=1e-12)
    assert float(rollout(env, policy, inst).value[0]) < best - 1e-6  # greedy alone misses it
    _, reward = replay(env, inst, d.actions)
    assert float(reward[0]) == pytest.approx(float(d.value[0]), abs=1e-5)


def test_bad_strategy_and_multi_agent_beam_are_refused():
    """An unknown strategy and beam search for CAMP raise ValueError naming the problem."""
    env, policy, inst = setup("am")
    with pytest.raises(ValueError, match="strategy must be one of"):
        rollout(env, policy, inst, strategy="exhaustive")
    env, policy, inst = setup("camp")
    with pytest.raises(ValueError, match="multi-agent"):
        rollout(env, policy, inst, strategy="beam")


def test_sampler_draws_the_softmax_and_never_a_masked_action():
    """Gumbel-max draws: 200k samples of logits [0, 1, -inf, 2] match softmax to 0.005 at
    temperatures 1 and 2, and the masked action is never drawn."""
    gen = torch.Generator().manual_seed(0)
    logits = torch.tensor([[0.0, 1.0, float("-inf"), 2.0]]).expand(200_000, 4)
    for temperature in (1.0, 2.0):
        counts = torch.bincount(sampler(gen, temperature=temperature)(logits, 0), minlength=4)
        assert counts[2] == 0
        assert torch.allclose(counts / 200_000, (logits[0] / temperature).softmax(-1), atol=0.005)


@pytest.mark.parametrize("kind", ["am", "camp"])
def test_judge_rejects_a_corrupted_log_and_agrees_with_check_solution(kind):
    """judge's one evaluate pass rejects exactly what check_solution rejects: a log whose first
    move repeats at step 2 (a client served twice) raises, a valid one returns evaluate's values."""
    from heurist.policies.decoding import judge

    env, policy, inst = setup(kind)
    traj = run_episode(env, policy, inst, select=greedy)
    kw = {} if traj.priorities is None else {"priorities": traj.priorities}
    assert torch.equal(judge(env, inst, traj), env.evaluate(inst, traj.actions, **kw).double())
    bad = traj.actions.clone()
    bad[0, 1] = bad[0, 0]
    assert not bool(env.check_solution(inst, bad, **kw)[0])
    with pytest.raises(RuntimeError, match=r"the env oracle rejects decoded rows \[0\]"):
        judge(env, inst, type(traj)(actions=bad, priorities=traj.priorities, reward=traj.reward,
                                    logp=traj.logp))

"""The Malloc env: modes, exact rewards, packing penalty, UNDO, greedy plans and the oracles."""
import numpy as np
import pytest
import torch

from heurist.envs.common import conformance as C
from heurist.envs.malloc.candidates import buffer_order
from heurist.envs.malloc.env import MallocEnv, lowest_candidate_action
from heurist.envs.malloc.generator import pad_instances, row_instance
from heurist.envs.malloc.instance import SLOW, MallocInstance, MemoryConfig
from heurist.envs.malloc.oracle import check_plan, evaluate_plan

SMALL = {"k": 4, "lookahead": 2, "n_bins": 4}


def run(env, instance, pick):
    """Plays one episode per row with ``pick(td) -> actions``; returns (actions, rewards, td)."""
    td = env.reset(instance=instance)
    acts, rews = [], []
    while not td["done"].all():
        td["action"] = pick(td)
        acts.append(td["action"].clone())
        td = env.step(td)["next"]
        rews.append(td["reward"][:, 0])
    return torch.stack(acts, 1), torch.stack(rews, 1), td


def greedy(td):
    return lowest_candidate_action(td["action_mask"])


@pytest.mark.parametrize("kw", [
    {"mode": "packing", "n_buffers": 12},
    {"mode": "packing", "n_buffers": 14, "undo": True, "max_undos": 3, "capacity_fraction": 1.1},
    {"mode": "mapping", "n_buffers": 16, "order": "msa"},
    {"mode": "packing", "n_buffers": 16, "order": "size", "capacity_fraction": 1.2},
], ids=["packing", "packing-undo", "mapping-msa", "packing-size"])
def test_conformance_in_every_mode(kw):
    """The shared conformance checks hold in packing mode, with UNDO and in every order."""
    env = MallocEnv(**SMALL, **kw)
    C.check_rollout_terminates(env)
    C.check_determinism(env)
    C.check_batch_independence(env)
    C.check_rewards_match_evaluate(env)


def two_buffer_mapping():
    """Two 100-byte buffers live on op 0 only (no FLOPs), C = 100: only one fits."""
    mem = MemoryConfig(capacity=100, bw_fast=4.0, bw_slow=1.0, flops_per_s=1.0)
    return MallocInstance(size=[100, 100], start=[0, 0], end=[1, 1], ids=[0, 1], op_flops=[0.0],
                          use_buffer=[0, 1], use_op=[0, 0], use_bytes=[100, 100], memory=mem)


def test_mapping_reward_is_the_exact_time_saved():
    """Mapping the first of two buffers returns exactly 75/200 of T_slow; the second stays slow."""
    env = MallocEnv(mode="mapping", **SMALL)
    inst = pad_instances([two_buffer_mapping()])
    acts, rews, _td = run(env, inst, greedy)
    assert acts[0].tolist() == [0, env.leave_action]
    assert rews[0].tolist() == pytest.approx([75 / 200, 0.0])
    assert env.plans()[0].tolist() == [0, SLOW]
    assert float(env.evaluate(inst, acts)[0]) == pytest.approx(75 / 200)


def test_packing_penalty_on_a_dead_end():
    """A dead end ends the packing episode with -peak/C - (1 + unplaced/total bytes) = -2.1."""
    mem = MemoryConfig(capacity=4)
    inst = pad_instances([MallocInstance.from_intervals([2, 3], [0, 1], [2, 3], memory=mem)])
    env = MallocEnv(mode="packing", **SMALL)
    acts, rews, td = run(env, inst, greedy)
    assert rews[0].tolist() == pytest.approx([-0.5 - 1.6])
    assert bool(td["done"][0]) and env.failed().tolist() == [True]
    assert float(env.evaluate(inst, acts)[0]) == pytest.approx(-2.1)
    assert env.check_solution(inst, acts).tolist() == [True]


def test_undo_restores_state_and_negates_reward():
    """UNDO restores the previous observation, negates the reward and spends one undo."""
    env = MallocEnv(mode="mapping", undo=True, max_undos=2, **SMALL)
    inst = pad_instances([two_buffer_mapping()])
    td0 = env.reset(instance=inst)
    assert not td0["action_mask"][0, env.undo_action]
    td0["action"] = torch.tensor([0])
    td1 = env.step(td0.clone())["next"]
    assert td1["action_mask"][0, env.undo_action]
    td1["action"] = torch.tensor([env.undo_action])
    td2 = env.step(td1.clone())["next"]
    assert float(td2["reward"][0]) == pytest.approx(-75 / 200)
    for key in ("buffers", "candidates", "occupancy", "skyline", "action_mask"):
        assert torch.equal(td2[key], td0[key]), key
    assert float(td2["progress"][0, 3]) == pytest.approx(1 / 2)  # one of two undos left
    assert env.plans()[0].tolist() == [-2, -2]


def test_undo_is_the_only_move_at_a_packing_dead_end():
    """At a packing dead end only UNDO is legal until the budget ends, then the penalty."""
    mem = MemoryConfig(capacity=4)
    inst = pad_instances([MallocInstance.from_intervals([2, 3], [0, 1], [2, 3], memory=mem)])
    env = MallocEnv(mode="packing", undo=True, max_undos=2, **SMALL)
    td = env.reset(instance=inst)
    masks = []
    acts, rews = [], []
    while not td["done"].all():
        masks.append(td["action_mask"][0].tolist())
        td["action"] = greedy(td)
        acts.append(td["action"].clone())
        td = env.step(td)["next"]
        rews.append(float(td["reward"][0]))
    u = env.undo_action
    only_undo = [i == u for i in range(env.n_actions)]
    assert masks[1] == only_undo and masks[3] == only_undo
    # place, undo, place, undo, place -> dead end with no undo left
    assert [int(a) for a in acts] == [0, u, 0, u, 0]
    assert rews == pytest.approx([-0.5, 0.5, -0.5, 0.5, -0.5 - 1.6])
    assert float(env.evaluate(inst, torch.stack(acts, 1))[0]) == pytest.approx(sum(rews))


def test_greedy_packing_plan_passes_the_planners_check():
    """The greedy packing plan passes the planners' check_plan and returns -peak / C."""
    env = MallocEnv(mode="packing", n_buffers=40, capacity_fraction=1.5, **SMALL)
    inst = env.generate(3, seed=4)
    _acts, rews, _td = run(env, inst, greedy)
    plans = env.plans()
    assert not env.failed().any()
    for i in range(3):
        x = row_instance(inst, i)
        res = check_plan(x, plans[i, :x.n], mode="packing")
        assert res.valid, res.first
        assert float(rews[i].sum()) == pytest.approx(-res.peak / x.capacity, rel=1e-5)


def test_greedy_mapping_plan_passes_the_planners_check_and_cost_model():
    """The greedy mapping plan is valid and its return is the planners' (T_slow - T) / T_slow."""
    env = MallocEnv(mode="mapping", n_buffers=60, order="msa", **SMALL)
    inst = env.generate(2, seed=9)
    _acts, rews, _td = run(env, inst, greedy)
    plans = env.plans()
    for i in range(2):
        x = row_instance(inst, i)
        plan = plans[i, :x.n]
        assert check_plan(x, plan, mode="mapping").valid
        ev = evaluate_plan(x, plan)
        saved = (ev.time_all_slow - ev.time) / ev.time_all_slow
        assert saved > 0
        assert float(rews[i].double().sum()) == pytest.approx(saved, rel=1e-5)


def test_candidates_are_zero_and_top_edges_in_increasing_order():
    """Candidates: 0 and the top edges of time-overlapping placed buffers, feasible only."""
    mem = MemoryConfig(capacity=10)
    # a [0,3) size 2; b [0,3) size 3; c [5,6) size 1; d [1,2) size 2 ("start" order: a, b, d, c)
    x = MallocInstance.from_intervals([2, 3, 1, 2], [0, 0, 5, 1], [3, 3, 6, 2], memory=mem)
    env = MallocEnv(mode="packing", k=4, lookahead=1, n_bins=5)
    td = env.reset(instance=pad_instances([x]))
    offs = []
    for _ in range(2):  # a goes to 0, then b to a's top edge 2 (its only candidate)
        offs.append(env.state.cand_off[0, :env.state.n_cand[0]].tolist())
        td["action"] = torch.tensor([0])
        td = env.step(td)["next"]
    offs.append(env.state.cand_off[0, :env.state.n_cand[0]].tolist())
    assert offs == [[0], [2], [5]]  # d (2 bytes) over a [0,2) and b [2,5): only the top, 5
    assert td["candidates"][0, 0].tolist() == pytest.approx([0.5, 0.7, 0.5, 1.0])
    assert td["occupancy"][0].tolist() == pytest.approx([1.0, 1.0, 0.5, 0.0, 0.0])


def test_orders():
    """The start, size and msa orders sort as documented."""
    size, start, end = np.array([4, 8, 2]), np.array([2, 0, 0]), np.array([3, 1, 5])
    saving = np.array([4.0, 4.0, 4.0])
    assert buffer_order(size, start, end, saving, "start").tolist() == [2, 1, 0]
    assert buffer_order(size, start, end, saving, "size").tolist() == [1, 0, 2]
    assert buffer_order(size, start, end, saving, "msa").tolist() == [2, 0, 1]  # most per byte
    with pytest.raises(ValueError, match="order="):
        buffer_order(size, start, end, saving, "random")


def test_bad_configuration_and_instances_raise():
    """Bad configs, incomplete or infeasible instances and masked actions raise ValueError."""
    with pytest.raises(ValueError, match="mode="):
        MallocEnv(mode="paging")
    with pytest.raises(ValueError, match="order="):
        MallocEnv(order="lifo")
    with pytest.raises(ValueError, match="k must be"):
        MallocEnv(k=0)
    big = MallocInstance.from_intervals([8], [0], [1], memory=MemoryConfig(capacity=4))
    with pytest.raises(ValueError, match="packing is infeasible"):
        MallocEnv(mode="packing").reset(instance=pad_instances([big]))
    env = MallocEnv(mode="mapping", **SMALL)
    partial = pad_instances([two_buffer_mapping()])
    del partial["n_uses"]
    with pytest.raises(ValueError, match="lacks field 'n_uses'"):
        env.reset(instance=partial)
    td = env.reset(instance=pad_instances([two_buffer_mapping()]))
    td["action"] = torch.tensor([3])  # an empty candidate slot
    with pytest.raises(ValueError, match="masked"):
        env.step(td)


def test_minimalloc_example_from_shared_data(shared_data):
    """MiniMalloc's 5-buffer example (C = 12) packs greedily to peak 12 with a valid plan."""
    from heurist.envs.malloc.minimalloc_csv import read_csv

    path = shared_data / "malloc" / "minimalloc-challenging" / "input.12.csv"
    inst, _ = read_csv(path)
    env = MallocEnv(mode="packing", instances=[inst], **SMALL)
    _acts, rews, _td = run(env, env.generate(1, seed=0), greedy)
    plan = env.plans()[0, :inst.n]
    res = check_plan(inst, plan, mode="packing")
    assert res.valid and res.peak == 12
    assert float(rews.sum()) == pytest.approx(-1.0)


def test_render_plan_writes_a_png(tmp_path):
    """render_plan writes a PNG of a greedy plan and rejects a plan of the wrong length."""
    from heurist.envs.malloc.render import render_plan

    x = two_buffer_mapping()
    out = render_plan(x, np.array([0, SLOW]), tmp_path / "plan.png")
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    with pytest.raises(ValueError, match="plan has shape"):
        render_plan(x, np.array([0]), tmp_path / "bad.png")


@pytest.mark.parametrize("alignment", [1, 256])
def test_numba_candidates_equal_brute_force_at_every_step(alignment):
    """The numba candidate offsets equal the oracle's brute force at every step."""
    from heurist.envs.malloc.replay import candidate_offsets
    from heurist.envs.malloc.synthetic import random_instance

    mem = MemoryConfig(capacity=3 * 2**20, alignment=alignment)
    insts = [random_instance(50, seed=s, max_lifetime=12, memory=mem) for s in range(3)]
    env = MallocEnv(mode="mapping", k=5, lookahead=1, n_bins=4, undo=True, max_undos=10)
    td = env.reset(instance=pad_instances(insts))
    gen = torch.Generator().manual_seed(0)
    checked = multi = 0
    while not td["done"].all():
        s = env.state
        for i, x in enumerate(insts):
            if s.done[i]:
                continue
            b = int(s.order[i, s.pos[i]])
            want = candidate_offsets(x, s.off[i, :x.n], b, env.k)
            assert s.cand_off[i, :s.n_cand[i]].tolist() == want
            assert all(c % alignment == 0 for c in want)
            checked += 1
            multi += len(want) >= 2
        td["action"] = C.random_masked_action(td["action_mask"], gen)
        td = env.step(td)["next"]
    assert (checked, multi) == (210, 65)  # live states compared, of which with >= 2 candidates

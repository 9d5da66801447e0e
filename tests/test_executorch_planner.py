"""heurist planners inside ExecuTorch's memory planner: programs compiled with them run in
``executorch.runtime`` and compute what ExecuTorch's own plan computes; wrong plans are refused."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from executorch.exir import ExecutorchBackendConfig, to_edge
from executorch.exir.memory_planning import MemoryPlanningAlgorithmSuite
from executorch.exir.passes import MemoryPlanningPass
from executorch.runtime import Runtime

from heurist.policies.runtimes.executorch_planner import (
    heurist_algorithm,
    memory_planning_pass,
    verify_storage_reuse,
)
from heurist.policies.runtimes.executorch_specs import overlap_groups


class MLP(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.a, self.b = torch.nn.Linear(16, 32), torch.nn.Linear(32, 8)

    def forward(self, x):
        return self.b(torch.relu(self.a(x)))


class CNN(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.c1 = torch.nn.Conv2d(3, 8, 3, padding=1)
        self.c2 = torch.nn.Conv2d(8, 16, 3, stride=2, padding=1)
        self.fc = torch.nn.Linear(16, 10)

    def forward(self, x):
        return self.fc(torch.relu(self.c2(torch.relu(self.c1(x)))).mean((2, 3)))


def _model(name):
    torch.manual_seed(0)
    if name == "mlp":
        return MLP().eval(), torch.randn(4, 16)
    return CNN().eval(), torch.randn(2, 3, 16, 16)


def _compile(model, x, planning_pass):
    edge = to_edge(torch.export.export(model, (x,)))
    return edge.to_executorch(ExecutorchBackendConfig(memory_planning_pass=planning_pass))


def _run(program, x):
    return Runtime.get().load_program(program.buffer).load_method("forward").execute([x])[0]


@pytest.fixture(scope="module")
def reference():
    """ExecuTorch's default plan and its output, per model."""
    out = {}
    for name in ("mlp", "cnn"):
        model, x = _model(name)
        prog = _compile(model, x, MemoryPlanningPass())
        out[name] = (_run(prog, x), prog.executorch_program.execution_plan[0].non_const_buffer_sizes)
    return out


@pytest.mark.parametrize("name", ["mlp", "cnn"])
@pytest.mark.parametrize("method", ["greedy_size", "minimalloc"])
def test_outputs_equal_default_plan_and_eager(reference, name, method):
    """With our planner the program's output is bitwise ExecuTorch's own plan's, and eager's
    within float rounding (ExecuTorch's portable kernels are not MKL's), at the same arena size."""
    model, x = _model(name)
    prog = _compile(model, x, memory_planning_pass(method))
    out = _run(prog, x)
    want, sizes = reference[name]
    assert torch.equal(out, want)
    torch.testing.assert_close(out, model(x).detach(), rtol=1e-5, atol=1e-6)
    assert prog.executorch_program.execution_plan[0].non_const_buffer_sizes == sizes
    assert sizes == {"mlp": [0, 2816], "cnn": [0, 32768]}[name]


def _zeros(inst):
    return np.zeros(inst.n, dtype=np.int64)


def test_all_zero_plan_refused_by_check_plan():
    """A planner that puts every tensor at offset 0 is refused by the env oracle, by name."""
    model, x = _model("mlp")
    with pytest.raises(ValueError, match=r"planner '_zeros' gave an invalid plan .*overlap"):
        _compile(model, x, memory_planning_pass(_zeros))


def test_the_trap_stock_pass_accepts_all_zero_plan():
    """Why we verify: ExecuTorch's stock pass compiles the all-zero plan of an algorithm not
    named "greedy" and the program computes a wrong answer."""
    model, x = _model("mlp")

    def zeros(alignment, specs, graph_module, graph_signature, extra_padding=0):
        # A valid plan with every offset then zeroed: our check_plan never sees the zeros.
        result = heurist_algorithm("greedy_size")(alignment, specs, graph_module,
                                                  graph_signature, extra_padding)
        for alloc in result.spec_dict.values():
            alloc.mem_offset, alloc.mem_obj_id = 0, 0
        return result

    prog = _compile(model, x, MemoryPlanningPass(
        memory_planning_algo=MemoryPlanningAlgorithmSuite(algo_list=[zeros])))
    assert not torch.allclose(_run(prog, x), model(x).detach())
    # ExecuTorch's own verifier, which our pass always runs, refuses the same plan.
    with pytest.raises(ValueError, match="ExecuTorch's verifier refused the memory plan"):
        verify_storage_reuse(prog.exported_program().graph_module,
                             prog.exported_program().graph_signature)


def test_verifier_accepts_our_plan():
    """ExecuTorch's verifier accepts our greedy plan of the CNN (and counts its reused pairs)."""
    model, x = _model("cnn")
    prog = _compile(model, x, memory_planning_pass("greedy_size"))
    ep = prog.exported_program()
    assert verify_storage_reuse(ep.graph_module, ep.graph_signature) > 0


def test_unknown_planner_refused():
    """A planner name outside the registry is a ValueError listing the valid ones."""
    with pytest.raises(ValueError, match="unknown planner 'best'.*greedy_size"):
        heurist_algorithm("best")


def test_overlap_groups_chain():
    """Byte ranges chained by overlap share a group; a touching range starts a new one."""
    groups = overlap_groups([0, 8, 12, 20, 20], [10, 6, 4, 4, 0])
    assert groups.tolist() == [0, 0, 0, 1, 1]


def test_storage_backed_spec_sits_inside_its_base():
    """A spec backed by another's storage gets the base's offset plus its storage offset and the
    base's mem_obj_id; time-disjoint tensors reuse bytes and share the group (real TensorSpecs)."""
    from executorch.exir.tensor import TensorSpec

    def spec(n, first, last):
        s = TensorSpec.from_tensor(torch.empty(n))
        s.lifetime = [first, last]
        return s

    base, alias, later, short = spec(16, 0, 3), spec(8, 1, 2), spec(16, 4, 5), spec(4, 2, 4)
    alias.storage_base, alias.storage_base_offset = base, 32
    gm = torch.fx.GraphModule(torch.nn.Module(), torch.fx.Graph())
    result = heurist_algorithm("greedy_size")(16, [base, alias, later, short], gm, None, 0)
    got = {name: (r.mem_id, r.mem_offset, r.mem_obj_id) for name, r in zip(
        ["base", "alias", "later", "short"], [result.spec_dict[s] for s in
                                              (base, alias, later, short)])}
    assert got == {"base": (1, 0, 0), "alias": (1, 32, 0), "later": (1, 0, 0),
                   "short": (1, 64, 1)}
    assert result.bufsizes == [0, 80]


def test_skyline_beats_executorch_greedy_on_a_transformer_block():
    """On one TransformerEncoderLayer(64, 4, 256) at 1x32 our exact search reaches the arena's
    lower bound, 114,688 bytes, where ExecuTorch's greedy needs 122,880; outputs stay bitwise."""
    torch.manual_seed(0)
    model = torch.nn.TransformerEncoderLayer(64, 4, 256, dropout=0.0, batch_first=True).eval()
    x = torch.randn(1, 32, 64)
    default = _compile(model, x, MemoryPlanningPass())
    ours = _compile(model, x, memory_planning_pass("skyline", time_limit=2))
    sizes = [p.executorch_program.execution_plan[0].non_const_buffer_sizes for p in (default, ours)]
    assert sizes == [[0, 122880], [0, 114688]]
    assert torch.equal(_run(ours, x), _run(default, x))

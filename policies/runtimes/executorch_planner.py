"""heurist's packing planners as ExecuTorch memory-planning algorithms (executorch 1.5.1).

The hook::

    MemoryPlanningPass(memory_planning_algo=MemoryPlanningAlgorithmSuite(algo_list=[algo]))

calls ``algo(alignment, specs, graph_module, graph_signature, extra_padding)``, which returns a
``MemoryAlgoResult``: per spec ``mem_id``, ``mem_offset`` and ``mem_obj_id``, and the arena size
per memory id (index 0 is the constant segment, always 0). Tensors whose bytes overlap must share
a ``mem_obj_id``.

The trap: ExecuTorch's pass checks storage reuse only when its algorithm is named ``"greedy"``, so
a wrong plan from any other algorithm compiles and silently computes garbage. Here every plan is
checked twice and refused with ``ValueError``: by the env's oracle ``check_plan`` before it is
written (``heurist_algorithm``), and by ExecuTorch's own ``Verifier.verify_storage_reuse`` after
the pass (``HeuristMemoryPlanningPass``).
"""
from __future__ import annotations

from collections.abc import Callable

import numpy as np
from executorch.exir.memory_planning import (
    MemoryAlgoResult,
    MemoryPlanningAlgorithmSuite,
    SpecAllocResult,
    Verifier,
)
from executorch.exir.passes import MemoryPlanningPass

from heurist.envs.malloc.oracle import check_plan
from heurist.policies.malloc.registry import plan, planner_names
from heurist.policies.runtimes.executorch_specs import overlap_groups, pools_from_specs

__all__ = ["HeuristAlgorithm", "HeuristMemoryPlanningPass", "heurist_algorithm",
           "memory_planning_pass", "verify_storage_reuse"]


class HeuristAlgorithm:
    """An ExecuTorch memory-planning algorithm (see the module doc) running ``run``, a function
    ``MallocInstance -> offsets int64 [N]``. ``__name__`` is ``heurist_<name>``: never
    ``"greedy"``, which is why the pass below verifies. ``instances`` collects the instances
    planned (for reports: sizes, lower bounds)."""

    def __init__(self, run: Callable, name: str) -> None:
        self.run = run
        self.name = name
        self.__name__ = f"heurist_{name}"
        self.instances: list = []

    def __call__(self, alignment, specs, graph_module, graph_signature, extra_padding=0):
        result = MemoryAlgoResult({}, [])
        base = list(getattr(graph_module, "input_mem_buffer_sizes", None) or [])
        bufsizes = [0, 0]
        next_obj = 0
        for pool in pools_from_specs(specs, alignment):
            inst = pool.instance
            self.instances.append(inst)
            offsets = (np.asarray(self.run(inst), dtype=np.int64) if inst.n
                       else np.zeros(0, np.int64))
            verdict = check_plan(inst, offsets, mode="packing", enforce_capacity=False)
            if verdict.first is not None:
                raise ValueError(f"planner {self.name!r} gave an invalid plan for ExecuTorch "
                                 f"memory {pool.mem_id}: {verdict.first.message}")
            start = base[pool.mem_id] if pool.mem_id < len(base) else 0
            groups = overlap_groups(offsets, inst.size) + next_obj
            next_obj = int(groups.max()) + 1 if inst.n else next_obj
            for spec, off, group in zip(pool.planned, offsets.tolist(), groups.tolist()):
                result.spec_dict[spec] = SpecAllocResult(pool.mem_id, group, start + off)
            _place_aliases(pool.aliases, result.spec_dict)
            bufsizes += [0] * (pool.mem_id + 1 - len(bufsizes))
            bufsizes[pool.mem_id] = start + verdict.peak + extra_padding
        result.bufsizes = bufsizes
        return result


def heurist_algorithm(method: str | Callable = "greedy_size", *,
                      time_limit: float = 1.0) -> HeuristAlgorithm:
    """The algorithm running heurist planner ``method``: a registry name (packing mode; exact
    searches get ``time_limit`` seconds as a node budget) or a callable
    ``MallocInstance -> offsets int64 [N]``."""
    if callable(method):
        return HeuristAlgorithm(method, getattr(method, "__name__", "custom"))
    if method not in planner_names():
        raise ValueError(f"unknown planner {method!r}: expected one of {planner_names()} "
                         f"or a callable")

    def run(inst):
        return plan(inst, method, mode="packing", time_limit=time_limit)

    return HeuristAlgorithm(run, method)


def _place_aliases(aliases: list, spec_dict: dict) -> None:
    """Storage-backed specs sit inside their base (bases may themselves be aliases)."""
    pending = list(aliases)
    while pending:
        ready = [s for s in pending if s.storage_base in spec_dict]
        if not ready:
            raise ValueError(f"{len(pending)} storage-backed tensors have no planned base")
        for spec in ready:
            base = spec_dict[spec.storage_base]
            spec_dict[spec] = SpecAllocResult(base.mem_id, base.mem_obj_id,
                                              base.mem_offset + int(spec.storage_base_offset))
        pending = [s for s in pending if s not in spec_dict]


def verify_storage_reuse(graph_module, graph_signature=None, *, alloc_graph_input: bool = True,
                         alloc_graph_output: bool = True, alloc_mutable_buffers: bool = True,
                         allow_overlap: bool = False) -> int:
    """ExecuTorch's own check of a planned graph: no two tensors live at once share bytes, and
    tensors sharing bytes share ``mem_obj_id``. Returns the number of reusing pairs;
    ``ValueError`` on a wrong plan."""
    from executorch.exir.error import InternalError

    verifier = Verifier(graph_module, alloc_graph_input, alloc_graph_output,
                        alloc_mutable_buffers, graph_signature)
    try:
        return verifier.verify_storage_reuse(allow_overlap)
    except InternalError as exc:
        raise ValueError(f"ExecuTorch's verifier refused the memory plan: {exc}") from None


class HeuristMemoryPlanningPass(MemoryPlanningPass):
    """ExecuTorch's memory-planning pass that always verifies storage reuse afterwards, whatever
    the algorithm is called."""

    def run(self, graph_module, graph_signature=None):
        result = super().run(graph_module, graph_signature)
        verify_storage_reuse(graph_module, graph_signature,
                             alloc_graph_input=self.alloc_graph_input,
                             alloc_graph_output=self.alloc_graph_output,
                             alloc_mutable_buffers=(self.alloc_mutable_buffers
                                                    and not self.share_mutable_buffers),
                             allow_overlap=self.allow_lifetime_and_storage_overlap)
        return result


def memory_planning_pass(method: str | Callable = "greedy_size", *, time_limit: float = 1.0,
                         **pass_kwargs) -> HeuristMemoryPlanningPass:
    """The pass for ``ExecutorchBackendConfig(memory_planning_pass=...)`` that plans with heurist
    planner ``method``; ``pass_kwargs`` go to ExecuTorch's ``MemoryPlanningPass``."""
    algo = heurist_algorithm(method, time_limit=time_limit)
    return HeuristMemoryPlanningPass(
        memory_planning_algo=MemoryPlanningAlgorithmSuite(algo_list=[algo]), **pass_kwargs)

"""Workload extractor: a PyTorch program -> a :class:`MallocInstance` (buffers, live ranges, uses).

Two graphs (both ATen-level, functional, with fake tensors in ``node.meta["val"]``):

* **inference**: ``torch.export.export(model, args).run_decompositions()`` (core ATen ops).
* **training**: the joint forward+backward graph from
  ``torch._functorch.aot_autograd.aot_export_module(..., trace_joint=True, output_loss_index=0)``
  with the core ATen decompositions. The module must return its scalar loss as output 0; the graph
  then outputs the loss and one gradient per parameter (the gradients live to the end of the
  program, as an optimizer step would read them).

Buffer and lifetime rules: :mod:`heurist.envs.malloc.lifetimes`.
"""
from __future__ import annotations

import warnings

import numpy as np
import torch
from torch import nn

from heurist.envs.malloc.instance import TPU_V4I_CMEM_BYTES, MallocInstance, MemoryConfig
from heurist.envs.malloc.lifetimes import GraphBuffers, graph_buffers

__all__ = ["GRAPH_MODES", "export_graph", "extract", "extract_buffers", "to_instance"]

GRAPH_MODES = ("inference", "training")
"""The graph an instance is extracted from: the forward alone, or the joint forward+backward."""


class _LossFirst(nn.Module):
    """Wraps a module whose forward returns a scalar loss (tensor or ``.loss``) as ``(loss,)``."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, *args):
        out = self.model(*args)
        loss = getattr(out, "loss", out)
        if isinstance(loss, (tuple, list)):
            loss = loss[0]
        if not isinstance(loss, torch.Tensor) or loss.ndim != 0:
            raise ValueError("training extraction needs a model whose forward returns a scalar "
                             "loss (a 0-d tensor or an output with .loss)")
        return (loss,)


def _freeze_unused(model: nn.Module, args: tuple) -> None:
    """Stops gradients of parameters the loss does not reach (e.g. BERT's MLM bias when the
    decoder is untied): the joint export refuses a parameter without a gradient. Found with one
    backward on fake tensors (shapes only, no compute)."""
    from torch._subclasses.fake_tensor import FakeTensorMode

    params = [p for p in model.parameters() if p.requires_grad]
    with FakeTensorMode(allow_non_fake_inputs=True):
        loss = model(*args)[0]
        grads = torch.autograd.grad(loss, params, allow_unused=True)
    for p, g in zip(params, grads, strict=True):
        if g is None:
            p.requires_grad_(False)


def export_graph(model: nn.Module, args: tuple, *, mode: str = "inference") -> torch.fx.Graph:
    """The ATen FX graph of ``model(*args)``: inference (``torch.export``) or training (joint)."""
    if mode not in GRAPH_MODES:
        raise ValueError(f"mode={mode!r}: expected one of {GRAPH_MODES}")
    if not isinstance(args, tuple):
        raise ValueError(  # noqa: TRY004  (the project reports bad input as ValueError)
            f"args must be a tuple of example inputs, got {type(args).__name__}")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if mode == "inference":
            model = model.eval()
            with torch.no_grad():
                ep = torch.export.export(model, args, strict=False).run_decompositions()
            return ep.graph
        from torch._decomp import core_aten_decompositions
        from torch._functorch.aot_autograd import aot_export_module
        from torch._subclasses.fake_tensor import FakeTensorMode

        model = model.train()
        wrapped = _LossFirst(model)
        _freeze_unused(wrapped, args)
        # Trace on fake tensors: without them AOTAutograd runs the real forward and backward
        # (GPT-2 at batch 8 x 512 tokens needed over 20 GB).
        fake = FakeTensorMode(allow_non_fake_inputs=True)
        fake_args = tuple(fake.from_tensor(a) if isinstance(a, torch.Tensor) else a for a in args)
        with fake:
            gm, _ = aot_export_module(wrapped, fake_args, trace_joint=True, output_loss_index=0,
                                      decompositions=dict(core_aten_decompositions()))
        assert isinstance(gm, torch.fx.GraphModule)  # a joint export returns the module
        return gm.graph


def extract_buffers(model: nn.Module, args: tuple, *, mode: str = "inference",
                    inputs: str = "first_use") -> GraphBuffers:
    """Buffers, live ranges, uses and FLOPs of ``model(*args)`` (rules: ``lifetimes``)."""
    return graph_buffers(export_graph(model, args, mode=mode), inputs=inputs)


def to_instance(gb: GraphBuffers, *, memory: MemoryConfig | None = None,
                name: str = "") -> MallocInstance:
    """A :class:`MallocInstance` of the extracted buffers (default memory: TPU-v4i CMEM)."""
    memory = MemoryConfig(capacity=TPU_V4I_CMEM_BYTES) if memory is None else memory
    return MallocInstance(size=gb.size, start=gb.start, end=gb.end,
                          ids=np.arange(len(gb.size), dtype=np.int64), op_flops=gb.op_flops,
                          use_buffer=gb.use_buffer, use_op=gb.use_op, use_bytes=gb.use_bytes,
                          memory=memory, name=name)


def extract(model: nn.Module, args: tuple, *, mode: str = "inference", inputs: str = "first_use",
            memory: MemoryConfig | None = None, name: str = "") -> MallocInstance:
    """One call from a model and example inputs to a :class:`MallocInstance`."""
    return to_instance(extract_buffers(model, args, mode=mode, inputs=inputs), memory=memory,
                       name=name)

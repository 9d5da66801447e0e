"""Buffers, live ranges, uses and FLOPs of one FX graph (the core of the workload extractor).

The graph is the ATen-level FX graph of ``torch.export`` (inference) or of AOTAutograd's joint
forward+backward export (training); every node carries its fake tensor in ``node.meta["val"]``.

Rules (the module is the specification, ``envs/malloc/README.md`` repeats them):

* **Op steps.** Every ``call_function`` node that computes (not a view, not ``getitem``) and returns at
  least one tensor is one op step, numbered ``0 .. n_ops - 1`` in graph order.
* **Buffers.** Each tensor output of a computing op is one buffer. Views (ops whose schema marks the
  result as an alias, plus ``aten._unsafe_view``) are folded into the buffer they view; ``getitem``
  picks one output of a multi-output op. A buffer's size is its tensor's ``numel * element_size`` bytes.
* **Live range.** Half-open ``[def_step, last_use + 1)``, where a use through any alias extends the
  base buffer. A buffer that is never read lives ``[def, def + 1)``. Graph outputs (and buffers an
  output aliases) live to the end of the program, ``n_ops``.
* **Graph inputs** (parameters, buffers, user inputs): ``inputs="first_use"`` (default) makes them live
  from their first use (as if prefetched just in time), ``"program_start"`` from step 0, ``"exclude"``
  drops them and their uses. Inputs that no op reads are dropped.
* **Uses.** For each (buffer, op) pair: the bytes the op reads from the buffer (per input, the viewed
  tensor's bytes, capped at the buffer size since an ``expand`` reads its base once) plus the bytes it
  writes to it.
* **FLOPs.** ``torch.utils.flop_counter``'s registered formulas (matmul, conv, attention); any other op
  counts 0 FLOPs (it is memory bound in the cost model).
"""
from __future__ import annotations

import operator
from dataclasses import dataclass

import numpy as np
import torch
from torch.utils._pytree import tree_flatten

__all__ = ["INPUT_POLICIES", "GraphBuffers", "graph_buffers", "is_view_op"]

INPUT_POLICIES = ("first_use", "program_start", "exclude")

# Storage-sharing ops whose schema does not declare the alias (reshape of a fresh tensor).
_EXTRA_VIEWS = {torch.ops.aten._unsafe_view.default}


@dataclass(frozen=True)
class GraphBuffers:
    """Buffers of one graph. N buffers, ``n_ops`` op steps, U (buffer, op) uses.

    ``size``/``start``/``end`` [N] int64 (bytes, half-open live range in op steps), ``names`` [N] the
    FX node of each buffer (``name`` or ``name#i`` for output i of a multi-output op), ``kind`` [N]
    (``"input"`` or ``"op"``), ``op_flops`` [n_ops] float64, ``op_names`` [n_ops] (ATen op of each
    step), uses as COO ``use_buffer``/``use_op``/``use_bytes`` [U] int64 sorted by (op, buffer).
    """

    size: np.ndarray
    start: np.ndarray
    end: np.ndarray
    names: list[str]
    kind: list[str]
    op_flops: np.ndarray
    op_names: list[str]
    use_buffer: np.ndarray
    use_op: np.ndarray
    use_bytes: np.ndarray

    @property
    def n_ops(self) -> int:
        return int(self.op_flops.shape[0])


def is_view_op(target) -> bool:
    """True when the op's result shares storage with its first input."""
    if target in _EXTRA_VIEWS:
        return True
    return isinstance(target, torch._ops.OpOverload) and bool(target.is_view)


def _nbytes(t: torch.Tensor) -> int:
    return int(t.numel()) * int(t.element_size())


def _tensors_of(val) -> list:
    """Tensor outputs of one node value, ``None`` in place of non-tensors (positions kept)."""
    if isinstance(val, torch.Tensor):
        return [val]
    if isinstance(val, (tuple, list)):
        return [v if isinstance(v, torch.Tensor) else None for v in val]
    return []


def _flops(node, target) -> float:
    from torch.utils.flop_counter import flop_registry

    packet = getattr(target, "overloadpacket", None)
    formula = flop_registry.get(packet)
    if formula is None:
        return 0.0
    args, kwargs = torch.fx.node.map_arg((node.args, node.kwargs), lambda n: n.meta.get("val"))
    out = node.meta.get("val")
    if packet is torch.ops.aten.convolution_backward and int(args[9]) > 1:
        # torch's formula ignores groups in the weight gradient (a depthwise conv would count
        # C times too many FLOPs): count the two gradients apart and divide that one by groups.
        mask = list(args[10])
        f_in = formula(*args[:10], [mask[0], False, False], out_val=out) if mask[0] else 0
        f_w = formula(*args[:10], [False, mask[1], False], out_val=out) if mask[1] else 0
        return float(f_in + f_w / int(args[9]))
    return float(formula(*args, out_val=out, **kwargs))


def graph_buffers(graph: torch.fx.Graph, *, inputs: str = "first_use") -> GraphBuffers:
    """Buffers, live ranges, uses and per-op FLOPs of ``graph`` (see the module rules)."""
    if inputs not in INPUT_POLICIES:
        raise ValueError(f"inputs={inputs!r}: expected one of {INPUT_POLICIES}")
    size: list[int] = []
    names: list[str] = []
    kind: list[str] = []
    def_step: list[int] = []          # -1 for graph inputs until their first use
    last_use: list[int] = []
    # node -> list of buffer ids (one per tensor output, None for non-tensors)
    ref: dict[torch.fx.Node, list] = {}
    op_flops: list[float] = []
    op_names: list[str] = []
    uses: dict[tuple[int, int], int] = {}

    def new_buffer(name: str, nbytes: int, k: str, step: int) -> int:
        size.append(nbytes)
        names.append(name)
        kind.append(k)
        def_step.append(step)
        last_use.append(step)
        return len(size) - 1

    def add_use(b: int, step: int, nbytes: int) -> None:
        uses[(step, b)] = uses.get((step, b), 0) + min(nbytes, size[b])
        last_use[b] = max(last_use[b], step)
        if def_step[b] < 0:
            def_step[b] = step  # first use of a graph input

    out_bufs: set[int] = set()
    for node in graph.nodes:
        val = node.meta.get("val")
        if node.op == "placeholder":
            ts = _tensors_of(val)
            ref[node] = [None if t is None else new_buffer(node.name, _nbytes(t), "input", -1)
                         for t in ts]
        elif node.op == "call_function" and node.target is operator.getitem:
            src, i = node.args
            ref[node] = [ref.get(src, [None] * (i + 1))[i]]
        elif node.op == "call_function" and is_view_op(node.target):
            base = ref.get(node.args[0], [None])[0]
            ref[node] = [base] * max(1, len(_tensors_of(val)))
        elif node.op == "call_function":
            outs = _tensors_of(val)
            if not any(t is not None for t in outs):
                ref[node] = []
                continue
            step = len(op_flops)
            op_flops.append(_flops(node, node.target))
            op_names.append(str(node.target))
            flat, _ = tree_flatten((node.args, node.kwargs))
            for a in flat:
                if isinstance(a, torch.fx.Node) and ref.get(a):
                    b = ref[a][0]
                    if b is not None:
                        t = a.meta.get("val")
                        add_use(b, step, _nbytes(t) if isinstance(t, torch.Tensor) else size[b])
            bufs: list[int | None] = []
            for i, t in enumerate(outs):
                if t is None:
                    bufs.append(None)
                    continue
                single = len(outs) == 1 and isinstance(val, torch.Tensor)
                name = node.name if single else f"{node.name}#{i}"
                b = new_buffer(name, _nbytes(t), "op", step)
                add_use(b, step, _nbytes(t))
                bufs.append(b)
            ref[node] = bufs
        elif node.op == "output":
            flat, _ = tree_flatten(node.args)
            for a in flat:
                if isinstance(a, torch.fx.Node):
                    out_bufs.update(b for b in ref.get(a, []) if b is not None)
    n_ops = len(op_flops)
    start = np.asarray(def_step, dtype=np.int64)
    end = np.asarray(last_use, dtype=np.int64) + 1
    is_input = np.asarray([k == "input" for k in kind], dtype=bool)
    for b in out_bufs:
        end[b] = n_ops
    keep = start >= 0  # inputs never read have no first use
    if inputs == "program_start":
        start[is_input & keep] = 0
    elif inputs == "exclude":
        keep &= ~is_input
    keep &= np.asarray(size, dtype=np.int64) > 0
    new_id = np.cumsum(keep) - 1
    items = sorted((s, b, n) for (s, b), n in uses.items() if keep[b])
    return GraphBuffers(
        size=np.asarray(size, dtype=np.int64)[keep],
        start=start[keep],
        end=end[keep],
        names=[n for n, k in zip(names, keep) if k],
        kind=[k for k, kk in zip(kind, keep) if kk],
        op_flops=np.asarray(op_flops, dtype=np.float64),
        op_names=op_names,
        use_buffer=np.asarray([new_id[b] for _, b, _ in items], dtype=np.int64),
        use_op=np.asarray([s for s, _, _ in items], dtype=np.int64),
        use_bytes=np.asarray([n for _, _, n in items], dtype=np.int64),
    )

"""PNG of a plan: one rectangle per fast buffer, op step (x) by address (y)."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from heurist.envs.malloc.instance import MallocInstance

__all__ = ["render_plan"]


def render_plan(inst: MallocInstance, plan, path: str | Path, *, title: str = "") -> Path:
    """Draws the fast buffers of ``plan`` (``int64 [N]``, negative = not in fast memory) into
    ``path`` (PNG): the capacity as a dashed line, slow buffers omitted."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.collections import PatchCollection
    from matplotlib.patches import Rectangle

    plan = np.asarray(plan)
    if plan.shape != (inst.n,):
        raise ValueError(f"plan has shape {plan.shape}, expected ({inst.n},)")
    fast = np.flatnonzero(plan >= 0)
    fig, ax = plt.subplots(figsize=(10, 4))
    rects = [Rectangle((inst.start[i], plan[i]), inst.end[i] - inst.start[i], inst.size[i])
             for i in fast]
    colors = plt.cm.viridis(np.linspace(0, 1, max(len(fast), 1)))
    ax.add_collection(PatchCollection(rects, facecolor=colors[:len(rects)], edgecolor="k",
                                      linewidth=0.2))
    top = max(int((plan[fast] + inst.size[fast]).max()) if len(fast) else 0, inst.capacity, 1)
    ax.axhline(inst.capacity, color="r", linestyle="--", linewidth=1, label="capacity")
    ax.set_xlim(0, max(inst.n_ops, 1))
    ax.set_ylim(0, top * 1.05)
    ax.set_xlabel("op step")
    ax.set_ylabel("address (bytes)")
    ax.set_title(title or f"{inst.name}: {len(fast)}/{inst.n} buffers in fast memory")
    ax.legend(loc="upper right")
    path = Path(path)
    fig.savefig(path, dpi=120, bbox_inches="tight")
    plt.close(fig)
    return path

"""Draws a PVRP solution: depot, clients (sized by demand) and each vehicle's trips in its colour.

Drawn on a bare Agg canvas (no pyplot), so rendering never touches global figure state.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from heurist.envs.pvrp.instance import PVRPInstances

__all__ = ["render"]


def render(instance_one: PVRPInstances, routes, *, path: str | Path | None = None,
           title: str | None = None):
    """The matplotlib ``Figure`` of ``routes`` (per vehicle a list of trips of 1-based client
    ids, e.g. ``decode_parallel(...).routes``) on ``instance_one`` (a batch of one); writes it
    as a PNG to ``path`` if given. One line per vehicle (legend ``vehicle k``), depot a red square."""
    from matplotlib import colormaps
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    if not isinstance(instance_one, PVRPInstances) or instance_one.S != 1:
        raise ValueError("render: instance_one must be a PVRPInstances batch of one (inst[s])")
    if len(routes) != instance_one.M:
        raise ValueError(f"render: routes must list {instance_one.M} vehicles, got {len(routes)}")
    xy = instance_one.coords(0)
    N = instance_one.N
    fig = Figure(figsize=(6, 6), dpi=100)
    FigureCanvasAgg(fig)
    ax = fig.subplots()
    cmap = colormaps["tab10" if instance_one.M <= 10 else "tab20"]
    for k, trips in enumerate(routes):
        colour = cmap(k % cmap.N)
        for t, trip in enumerate(trips):
            ids = [int(c) for c in trip]
            if any(not 1 <= c <= N for c in ids):
                raise ValueError(f"render: vehicle {k} trip {t} has a client outside 1..{N}")
            path_xy = xy[[0, *ids, 0]]
            ax.plot(path_xy[:, 0], path_xy[:, 1], "-", color=colour, lw=1.5, alpha=0.85,
                    label=f"vehicle {k}" if t == 0 else None)
    ax.scatter(xy[1:, 0], xy[1:, 1], s=12 + 6 * np.asarray(instance_one.demand[0]), c="0.3",
               zorder=3)
    ax.scatter(xy[:1, 0], xy[:1, 1], marker="s", s=90, c="red", zorder=4, label="depot")
    ax.set_aspect("equal")
    ax.set_title(title or f"PVRP-{'ZC' if instance_one.is_zc else 'P'}: N={N}, M={instance_one.M}")
    ax.legend(loc="upper right", fontsize=7)
    if path is not None:
        fig.savefig(Path(path), dpi=100)
    return fig

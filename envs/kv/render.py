"""PNG of a KV cache: the attention heatmap (query steps x tokens) with the kept tokens marked.

Evicted token columns are washed out over the heatmap, and a strip under it shows the kept set
(green kept, grey evicted), so a kept set reads at a glance and survives greyscale printing.
Drawn on a bare Agg canvas (no pyplot), so rendering never touches global figure state.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

__all__ = ["EVICTED_COLOR", "KEPT_COLOR", "kept_tokens", "render_attention", "render_env"]

#: Colours of the kept-set strip (RGB, 0-255).
KEPT_COLOR = (44, 160, 44)
EVICTED_COLOR = (200, 200, 200)
#: Opacity of the white veil over evicted columns of the heatmap.
_VEIL = 0.65


def render_attention(attn, kept, *, n_prompt: int = 0, title: str = "",
                     path: str | Path | None = None):
    """Heatmap of ``attn`` [Q, T] (query steps x tokens, lower-triangular attention; ``Q <= T``)
    with ``kept`` bool [T] marked. The colour is log10 of the attention; ``n_prompt`` > 0 draws
    the prompt's end. Writes a PNG to ``path`` if given; returns the matplotlib ``Figure``
    (``fig.axes[0]`` the heatmap, ``fig.axes[1]`` the kept strip)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.colors import ListedColormap
    from matplotlib.figure import Figure

    attn = np.asarray(attn, dtype=np.float64)
    kept = np.asarray(kept, dtype=bool)
    if attn.ndim != 2 or kept.ndim != 1 or attn.shape[1] != kept.shape[0] or attn.shape[0] < 1:
        raise ValueError(f"need attn [Q, T] and kept [T], got {attn.shape} and {kept.shape}")
    Q, T = attn.shape
    fig = Figure(figsize=(8, 6), dpi=100)
    FigureCanvasAgg(fig)
    ax, strip = fig.subplots(2, 1, sharex=True, gridspec_kw={"height_ratios": [12, 1]})
    heat = np.log10(np.clip(attn, 1e-6, None))
    heat[np.triu(np.ones((Q, T), dtype=bool), 1)] = np.nan  # future tokens: not attended
    im = ax.imshow(heat, aspect="auto", interpolation="nearest", cmap="magma", vmin=-6, vmax=0,
                   extent=(-0.5, T - 0.5, Q - 0.5, -0.5))
    veil = np.zeros((1, T, 4))
    veil[0, ~kept] = (1.0, 1.0, 1.0, _VEIL)
    ax.imshow(veil, aspect="auto", interpolation="nearest", extent=(-0.5, T - 0.5, Q - 0.5, -0.5))
    if n_prompt > 0:
        ax.axvline(n_prompt - 0.5, color="cyan", linestyle="--", linewidth=1, label="prompt end")
        ax.legend(loc="upper right", fontsize=8)
    ax.set_ylabel("query step")
    ax.set_title(title or f"attention, {int(kept.sum())} of {T} tokens kept")
    fig.colorbar(im, ax=[ax, strip], label="log10 attention", fraction=0.04)
    cmap = ListedColormap([np.array(EVICTED_COLOR) / 255, np.array(KEPT_COLOR) / 255])
    strip.imshow(kept[None].astype(float), aspect="auto", interpolation="nearest", cmap=cmap,
                 vmin=0, vmax=1, extent=(-0.5, T - 0.5, 0.5, -0.5))
    strip.set_yticks([0], ["kept"])
    strip.set_xlabel("token")
    if path is not None:
        fig.savefig(Path(path), format="png", dpi=fig.dpi)
    return fig


def kept_tokens(env, row: int = 0, *, head: int = 0) -> np.ndarray:
    """bool [T]: the tokens of ``head`` held in row ``row``'s cache of a running KVCache env."""
    st = env.state
    if st is None:
        raise ValueError("kept_tokens: the env has not been reset")
    T = int(env.instance["length"][row])
    kept = np.zeros(T, dtype=bool)
    for u, h in zip(st.slot[row].tolist(), st.head[row].tolist()):
        if u >= 0 and h == head:
            kept[u * env.unit:(u + 1) * env.unit] = True
    return kept


def render_env(env, row: int = 0, *, head: int = 0, path: str | Path | None = None):
    """:func:`render_attention` of a running KVCache env's row: the query steps so far (through
    the newest unit) over the row's tokens, with the tokens its cache holds now marked."""
    kept = kept_tokens(env, row, head=head)
    T = kept.shape[0]
    attn = env.instance["attn"][row]
    if attn.ndim == 3:  # layer scope: [H, N, N]
        attn = attn[head]
    # Layer scope: heads after the newest entry's head have not run the newest unit yet.
    v, h = int(env.state.v[row]), int(env.state.h[row])
    Q = min(T, (v + (1 if head <= h else 0)) * env.unit)
    title = (f"row {row}, head {head}: {int(kept.sum())} of {T} tokens kept "
             f"after {Q} query steps")
    return render_attention(attn[:Q, :T].numpy(), kept, title=title, path=path,
                            n_prompt=int(env.instance["n_prompt"][row]))

"""The KV render: the PNG's pixels show the kept set (strip colours, washed-out evicted columns),
and a running env's kept set is the one its cache holds."""
import matplotlib
import matplotlib.image as mpimg
import numpy as np
import pytest
import torch

from heurist.envs.kv import KVCacheEnv
from heurist.envs.kv.render import (
    EVICTED_COLOR,
    KEPT_COLOR,
    kept_tokens,
    render_attention,
    render_env,
)

T = 24


def _pixels(path, fig, ax, y_frac, T):
    """RGB uint8 [T] of the PNG at each token column's centre, ``y_frac`` up the axes ``ax``."""
    img = np.rint(mpimg.imread(path)[..., :3] * 255).astype(int)
    bb = ax.get_window_extent()
    assert img.shape[:2] == (round(fig.bbox.height), round(fig.bbox.width))
    y = img.shape[0] - int(bb.y0 + y_frac * bb.height)
    xs = [int(bb.x0 + (i + 0.5) * bb.width / T) for i in range(T)]
    return img[y, xs]


def _uniform():
    return np.tril(np.ones((T, T))) / np.arange(1, T + 1)[:, None]


def test_strip_and_heatmap_pixels_follow_the_kept_set(tmp_path):
    """Strip pixels take the kept/evicted colours; the heatmap veils just the evicted columns."""
    kept = np.zeros(T, dtype=bool)
    kept[[0, 1, 2, 3, 9, 16, 17, 18, 19, 20, 21, 22, 23]] = True
    path = tmp_path / "kv.png"
    fig = render_attention(_uniform(), kept, n_prompt=8, path=path)
    strip = _pixels(path, fig, fig.axes[1], 0.5, T)
    want = np.where(kept[:, None], KEPT_COLOR, EVICTED_COLOR)
    assert np.array_equal(strip, want)
    heat = _pixels(path, fig, fig.axes[0], 0.5 / T, T)  # the last query row, at the bottom
    rgb = matplotlib.colormaps["magma"]((np.log10(1 / T) + 6) / 6)[:3]
    base = np.floor(np.array(rgb) * 255).astype(int)  # Agg truncates the colormap's floats
    assert np.array_equal(heat[kept], np.broadcast_to(base, heat[kept].shape))
    veiled = 0.35 * base + 0.65 * 255  # the white veil blended in Agg's 8-bit arithmetic
    assert np.abs(heat[~kept] - veiled).max() <= 2.0
    assert (heat[~kept] - base).sum(-1).min() >= 150  # washed out: far lighter than kept ones


def test_bad_shapes_are_value_errors():
    """attn that is not [Q, T] with kept [T] is refused."""
    with pytest.raises(ValueError, match="attn"):
        render_attention(_uniform(), np.ones(T - 1, dtype=bool))


def test_render_env_marks_the_cache_of_a_running_env(tmp_path):
    """After 12 steps evicting the oldest non-sink unit the strip marks the cache: 0 and 5..12."""
    env = KVCacheEnv(max_len=40, budget=8, min_length=24)
    td = env.reset(instance=env.generate(1, seed=0))
    with pytest.raises(ValueError):
        kept_tokens(KVCacheEnv(max_len=40, budget=8))
    for _ in range(12):
        st = env.state
        if td["action_mask"].sum() > 1:  # evict the oldest cached unit other than token 0
            pos = torch.where(st.slot[0] > 0, st.slot[0], 10**9)
            td["action"] = pos.argmin().reshape(1)
        else:
            td["action"] = torch.zeros(1, dtype=torch.int64)
        td = env.step(td)["next"]
    kept = kept_tokens(env, 0)
    # 4 evictions (steps 8..11, once 9 units exceed the budget of 8): the budget plus the newest.
    assert np.flatnonzero(kept).tolist() == [0, 5, 6, 7, 8, 9, 10, 11, 12]
    path = tmp_path / "env.png"
    fig = render_env(env, 0, path=path)
    n = kept.shape[0]
    strip = _pixels(path, fig, fig.axes[1], 0.5, n)
    assert np.array_equal(strip, np.where(kept[:, None], KEPT_COLOR, EVICTED_COLOR))
    assert fig.axes[0].get_ylim() == (12.5, -0.5)  # query steps 0..12 so far

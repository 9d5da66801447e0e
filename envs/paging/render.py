"""Text view of one row of a running paging env (for debugging and notebooks)."""
from __future__ import annotations

__all__ = ["render_row"]


def render_row(env, row: int = 0) -> str:
    """One line per slot: page, age, hits since load, predicted gap, marked; plus the request."""
    s = env.state
    if s is None:
        raise ValueError("render_row: the env has not been reset")
    t = int(s.t[row])
    if s.done[row]:
        return f"row {row}: done after {int(s.length[row])} requests, misses {s.total[row]:g}"
    page = int(s.trace[row, t])
    lines = [f"row {row}: t={t}/{int(s.length[row])} request page {page} (miss, cache full)"]
    for j in range(env.cache_size):
        p = int(s.slot_page[row, j])
        if p < 0:
            lines.append(f"  slot {j:2d}: empty")
            continue
        gap = s.slot_pred[row, j] - t
        lines.append(f"  slot {j:2d}: page {p:6d}  age {t - int(s.slot_last[row, j]):5d}  "
                     f"hits {int(s.slot_hits[row, j]):4d}  pred gap {gap:10.1f}  "
                     f"{'marked' if s.slot_mark[row, j] else ''}")
    return "\n".join(lines)

"""Peak of simultaneously live bytes: the classic lower bound on any packing's peak address.

The one copy: the planners, the CLI, the extractor's scripts and the synthetic generator use it."""
from __future__ import annotations

import numpy as np

from heurist.envs.malloc.instance import MallocInstance

__all__ = ["peak_live_bytes"]


def peak_live_bytes(inst: MallocInstance) -> int:
    """``max_t sum(size of buffers live at t)``, by an O(N log N) sweep over start/end events.

    At equal times ends come first: live ranges are half-open.
    """
    if inst.n == 0:
        return 0
    times = np.concatenate([inst.start, inst.end])
    delta = np.concatenate([inst.size, -inst.size])
    order = np.lexsort((delta, times))
    return int(max(0, np.cumsum(delta[order]).max()))

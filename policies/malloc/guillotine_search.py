"""Guillotine search for perfect tilings (issue 13): packs or gives up, never proves anything.

A *guillotine* packing of a perfect tiling (every time section exactly full) can be cut, again
and again, by a straight line through free space: a *time cut* (a section border that no buffer
of the piece crosses) or an *address cut* (a level ``a`` that no buffer of the piece straddles,
so the buffers below it fill ``[base, base + a)`` in every section of the piece's window). This
search looks for such a packing only, top down, as an AND-OR search over *pieces*
``(window [s0, s1), height h, the set of buffers inside)``:

* a piece whose window is one section is packed by stacking its buffers (they fill it exactly);
  a piece that is one buffer spanning the window at height ``h`` is that buffer;
* time cuts are taken at once: the parts are independent pieces (all must pack);
* otherwise every address cut ``a`` (ascending, screened by the subset sums of the sparsest
  sections) is tried, with every set ``S`` of the piece's buffers that sums to exactly ``a`` in
  each section of the window (found section by section from the left, exact subset-sum targets,
  a memo of dead border states, identical buffers taken in order), and then the piece below
  (``S``, height ``a``) and the piece above (the rest, ``h - a``).

**Strips** (``strips=True``). The full-window cut lines of a piece without a time cut split it
into *strips*: full-window pieces with no full-window cut inside, so each is one buffer spanning
the window or has a time cut. Strips can be swapped freely (nothing crosses their borders), so
any strip can go at the bottom: the one holding a chosen *anchor* buffer. So a buffer spanning
the window is cut off at once (no choice), and otherwise only the sets ``S`` holding the anchor
that leave some inner border uncrossed are tried. Such a border ``c`` (not crossed by the
anchor) bounds the strip's height: it is a subset sum both of the buffers ending at ``c`` and of
those starting at ``c``. Per piece, the anchor is the buffer with the fewest such heights (a
buffer with none means no guillotine packing). Trying all strips in every order is gone too.
Any anchor gives a search that is complete for guillotine packings, so ``anchors`` of them
(``GUILLOTINE_ANCHORS``: the fewest heights, and the lowest least height, alternately) run in
turn, ``_QUANTUM`` switch points each: the first to pack wins, and the first to be exhausted
proves the piece has no guillotine packing.

**Look-ahead** (``lookahead=True``). Entering section ``i``, the set search checks that every
section ahead can still reach exactly ``a`` with the buffers not decided yet (subset sums of those
starting in ``i`` or later, built per piece; where they do not fit ``_REACH_BITS``, the sums of
every buffer live there stand in). Inside a section, the buffers that live on are decided longest
first, and each decision checks at once the sections it closes (those only it and the buffers
decided before it reach, among the ones starting here).

The two pieces of a cut share no buffer, so they are independent: each is solved once (its first
packing kept) and a piece that cannot be packed is remembered by ``(window, height, buffers)``.
Identical buffers (size and span) are taken as a prefix *of the piece's own* group.
So the search would be complete *for guillotine packings* of the instance, but for one rule: of
a section's one-section buffers, a cut set takes the first subset of the right sum only (so
"exhausted" is no proof even for guillotine packings). A packing it returns is a real one. Many packings are not guillotine packings, so finding none (or running out of its
step budget) says nothing about feasibility: it is only a first member before the complete
``filler_search``, which alone may say ``infeasible``. It reads only sizes and live ranges.
"""
from __future__ import annotations

import numpy as np

__all__ = ["guillotine_pack"]


GUILLOTINE_ANCHORS = 4
"""Anchors per piece whose strip searches run in turn (``_Guillotine._drive``)."""

GUILLOTINE_ATTEMPT = None
"""Steps per cut attempt in the first restart round (``guillotine_pack``; None: no restarts)."""

GUILLOTINE_VARIANTS = ({"pick_yield": False}, {"pick_order": "end"},
                       {"anchors": 1, "pick_order": "end"})
"""Settings run one after the other, an equal share of the steps each (``guillotine_pack``).
Each is complete for guillotine packings; they differ in which packing they reach first (the
runs are heavy-tailed): generator N=400 seed 2 packs with the first (27,256 steps), generator
N=700 seed 0 with the second only (195,233), tests N=400 seed 2 with the third (73,018)."""

_QUANTUM = 64
"""Switch points per anchor and turn."""

_REACH_BITS = 1 << 29
"""Bits of look-ahead subset sums per piece (64 MiB): caps the exact rows kept (``_reach``)."""


class _Budget(Exception):
    """The step budget ran out."""


class _Abandon(Exception):
    """A cut attempt ran past its step deadline (``_Guillotine.deadline``)."""


def _sumset(sizes, limit):
    """Subset sums of ``sizes`` up to ``limit`` as a Python int bitset (0 if ``limit < 0``)."""
    if limit < 0:
        return 0
    mask = (1 << (limit + 1)) - 1
    s = 1
    for x in sizes:
        s |= (s << x) & mask
    return s


class _Guillotine:
    """One search over buffers ``size/lo/hi`` (compressed sections, address units)."""

    def __init__(self, size, lo, hi, steps, strips=True, lookahead=True, anchors=1):
        self.strips = bool(strips)
        self.anchors = max(1, int(anchors))
        self.lookahead = bool(lookahead)
        self.size = [int(x) for x in size]
        self.lo = [int(x) for x in lo]
        self.hi = [int(x) for x in hi]
        n = len(self.size)
        # Identical buffers (size and span) are interchangeable: take them in index order.
        self.prev_same = [-1] * n
        seen: dict[tuple[int, int, int], int] = {}
        for b in range(n):
            key = (self.size[b], self.lo[b], self.hi[b])
            self.prev_same[b] = seen.get(key, -1)
            seen[key] = b
        self.off = [0] * n
        self.failed: set = set()
        self.solved: dict = {}   # piece key -> offsets of its items relative to its base
        self.unknown: dict = {}  # piece key -> the attempt limit under which it was left open
        self.steps = 0
        self.max_steps = int(steps)
        self.attempt = None      # steps per cut attempt (None: unlimited, a complete search)
        self.pick_order = "size"  # of the buffers starting in a section (``order_key``)
        self.pick_yield = True
        self.pick_check = True
        self.deadline = float("inf")

    def _tick(self):
        self.steps += 1
        if self.steps > self.max_steps:
            raise _Budget
        if self.steps > self.deadline:
            raise _Abandon

    def solve(self, s0, s1, base, h, items):
        """Packs the piece (``items``: a frozenset of buffers) at ``base``: True (offsets set);
        False if it has no guillotine packing (remembered); None when some cut attempt inside
        was abandoned at its step limit (``attempt``), so nothing was proved."""
        self._tick()
        if s1 - s0 == 1:
            o = base
            for b in items:
                self.off[b] = o
                o += self.size[b]
            return True
        if len(items) == 1:
            (b,) = items
            if self.lo[b] == s0 and self.hi[b] == s1 and self.size[b] == h:
                self.off[b] = base
                return True
        key = (s0, s1, h, items)
        if key in self.failed:
            return False
        rel = self.solved.get(key)
        if rel is not None:
            for b, r in rel:
                self.off[b] = base + r
            return True
        if self.attempt is not None and self.unknown.get(key, -1) >= self.attempt:
            return None
        parts = self._time_parts(s0, s1, items)
        if len(parts) > 1:
            ok = True
            for p0, p1, m in parts:
                r = self.solve(p0, p1, base, h, frozenset(m))
                if r is not True:
                    ok = r
                    break
        else:
            ok = self._address(s0, s1, base, h, items)
        if ok is False:
            self.failed.add(key)
        elif ok is None:
            self.unknown[key] = self.attempt
        elif len(items) > 1:
            self.solved[key] = tuple((b, self.off[b] - base) for b in items)
        return ok

    def _time_parts(self, s0, s1, items):
        cross = [0] * (s1 - s0 + 1)
        for b in items:
            cross[self.lo[b] - s0 + 1] += 1
            cross[self.hi[b] - s0] -= 1
        starts = [s0]
        run = 0
        for k in range(s0 + 1, s1):
            run += cross[k - s0]
            if run == 0:
                starts.append(k)
        if len(starts) == 1:
            return [(s0, s1, items)]
        ends = starts[1:] + [s1]
        parts = [(a, e, []) for a, e in zip(starts, ends)]
        for b in items:
            parts[int(np.searchsorted(starts, self.lo[b], side="right")) - 1][2].append(b)
        return parts

    def _address(self, s0, s1, base, h, items):
        width = s1 - s0
        live = [[] for _ in range(width)]
        starts = [[] for _ in range(width)]
        for b in items:
            starts[self.lo[b] - s0].append(b)
            for k in range(self.lo[b], self.hi[b]):
                live[k - s0].append(b)
        # Cut levels: subset sums of every section's buffers, the sparsest sections first (the
        # set search checks each section exactly, so a superset is enough).
        cand = (1 << (h + 1)) - 1
        for i in sorted(range(width), key=lambda i: len(live[i])):
            cand &= _sumset([self.size[b] for b in live[i]], h)
            self._tick()
            if cand & ~1 & ~(1 << h) == 0:
                return False
        cand &= ~1 & ~(1 << h)
        # Identical buffers: the nearest one before ``b`` *in this piece* (the others lie in
        # other pieces, so they do not constrain S here).
        prev_in = {}
        for b in items:
            ps = self.prev_same[b]
            while ps >= 0 and ps not in items:
                ps = self.prev_same[ps]
            prev_in[b] = ps
        reach = None
        if not self.strips:
            reach = self._reach(s0, h, live) if self.lookahead else None
            return self._drive([self._strips(s0, s1, base, h, items, starts, prev_in, -1,
                                             cand, reach)])
        full = [b for b in items if self.lo[b] == s0 and self.hi[b] == s1]
        if full:
            # A buffer spanning the window is a strip of its own: at the bottom, no choice.
            anchor = max(full, key=lambda b: (self.size[b], -b))
            below = frozenset((anchor,))
            a = self.size[anchor]
            if a >= h:
                return False
            r = self.solve(s0, s1, base + a, h - a, items - below)
            return self.solve(s0, s1, base, a, below) if r is True else r
        # Strips (module doc): the bottom one holds the anchor. Each anchor's search is
        # complete for guillotine packings, so they run in turn (round-robin): the first to
        # pack wins, and the first to be exhausted proves that there is none.
        picks = self._pick_anchor(s0, s1, h, live, items, cand)
        if not picks:
            return False
        reach = self._reach(s0, h, live) if self.lookahead else None
        return self._drive([self._strips(s0, s1, base, h, items, starts, prev_in, anchor,
                                         cand & levels, reach) for anchor, levels in picks])

    def _drive(self, runs):
        """Round-robin over the anchors' searches, ``_QUANTUM`` switch points each: True at
        the first packing, False when the first of them is exhausted (a proof); a run
        exhausted with some attempt abandoned (``"open"``) drops out, and None when all did."""
        runs = list(runs)
        while runs:
            for run in list(runs):
                for _ in range(_QUANTUM):
                    r = next(run, False)
                    if r is None:
                        continue
                    if r == "open":
                        runs.remove(run)
                        break
                    return r
        return None

    def _strips(self, s0, s1, base, h, items, starts, prev_in, anchor, cand, reach):
        """One anchor's search (``anchor`` -1: any bottom set): yields None at switch points,
        then True (packed: the offsets are set), ``"open"`` (exhausted, but some cut attempt
        was abandoned at its step limit) or ends (exhausted: no guillotine packing)."""
        open_ = False
        while cand:
            a = (cand & -cand).bit_length() - 1
            cand &= cand - 1
            self._tick()
            yield None
            for S in self._cut_sets(s0, s1, h, a, starts, prev_in, anchor, reach):
                if S is None:
                    yield None
                    continue
                below = frozenset(S)
                saved = self.deadline
                if self.attempt is not None:
                    # Restarts (``guillotine_pack``): each cut attempt gets ``attempt`` steps, so
                    # one wrong cut whose failure takes an exhaustive proof cannot hold the
                    # search; an abandoned attempt leaves the piece open, never failed.
                    self.deadline = min(saved, self.steps + self.attempt)
                try:
                    r = self.solve(s0, s1, base, a, below)
                    if r is True:
                        r = self.solve(s0, s1, base + a, h - a, items - below)
                except _Abandon:
                    if self.steps > saved:
                        raise
                    r = None
                finally:
                    self.deadline = saved
                if r is True:
                    yield True
                    return
                open_ = open_ or r is None
        if open_:
            yield "open"

    def _pick_anchor(self, s0, s1, h, live, items, cand):
        """The anchor (a buffer crossing a border) whose strip heights (its strip's levels,
        within ``cand``) are fewest, widest on ties; and those heights; ``(-1, 0)`` when some
        buffer allows no strip height (the piece has no guillotine packing). Uses per border ``c``
        the subset sums of the buffers ending at ``c`` (section ``c - 1``) and starting at ``c``
        (section ``c``); only the two borders an anchor ends on need them without it."""
        size, lo, hi = self.size, self.lo, self.hi
        mask = (1 << (h + 1)) - 1
        width = s1 - s0

        def sums(bufs, skip=-1):
            ss = 1
            for b in bufs:
                if b != skip:
                    ss |= (ss << size[b]) & mask
            return ss

        ends = [[b for b in live[c - 1 - s0] if hi[b] == c] for c in range(s0 + 1, s1)]
        begins = [[b for b in live[c - s0] if lo[b] == c] for c in range(s0 + 1, s1)]
        side = [sums(e) & sums(g) for e, g in zip(ends, begins)]
        self._tick()
        # prefix[j]: OR of side[0..j-1]; suffix[j]: OR of side[j..]
        prefix = [0] * width
        for j in range(1, width):
            prefix[j] = prefix[j - 1] | side[j - 1]
        suffix = [0] * width
        for j in range(width - 2, -1, -1):
            suffix[j] = suffix[j + 1] | side[j]
        scored = []
        for b in items:
            if hi[b] - lo[b] < 2:
                continue
            za = size[b]
            # borders c = s0 + 1 + j not crossed: c < lo[b] or c > hi[b], and c in {lo, hi}
            jl, jh = lo[b] - s0 - 1, hi[b] - s0 - 1
            lv = prefix[max(jl, 0)] | (suffix[jh + 1] if 0 <= jh + 1 < width else 0)
            if jl >= 0:
                lv |= sums(ends[jl]) & ((sums(begins[jl], b) << za) & mask)
            if jh < width - 1:
                lv |= ((sums(ends[jh], b) << za) & mask) & sums(begins[jh])
            lv &= cand & ~((1 << za) - 1)
            self._tick()
            if not lv:
                # Every buffer lies in some strip, of a height it allows: none, no packing.
                return []
            scored.append((lv.bit_count(), (lv & -lv).bit_length(), -(hi[b] - lo[b]), b, lv))
        # The fewest heights first; then those whose least height is lowest (a thin strip is
        # found soon), alternately, up to ``self.anchors`` of them.
        by_count = sorted(scored)
        by_low = sorted(scored, key=lambda x: x[1:])
        picks, seen = [], set()
        for x, y in zip(by_count, by_low):
            for z in (x, y):
                if z[3] not in seen and len(picks) < self.anchors:
                    seen.add(z[3])
                    picks.append((z[3], z[4]))
        return picks

    def _reach(self, s0, h, live):
        """``rows[k][i]`` (``i <= k``, relative sections): the subset sums, as a little-endian
        bitset in ``bytes`` up to ``h`` (None: only 0), of the buffers live in section ``k``
        that start in section ``i`` or later, i.e. those a cut-set search has not decided
        when it enters section ``i``. One bitset per distinct start, the nearest ones first
        while they fit ``_REACH_BITS``; further back, the sums of all of them stand in (a
        superset: the check stays sound, only weaker)."""
        width = len(live)
        mask = (1 << (h + 1)) - 1
        nbytes = h // 8 + 1
        by_k = []
        for k in range(width):
            bs = sorted(live[k], key=lambda b: -self.lo[b])
            by_k.append((bs, sorted({self.lo[b] - s0 for b in bs}, reverse=True)))
        # Rows kept per section: the R nearest distinct starts (and the full column).
        total = sum(len(st) for _, st in by_k)
        keep = total
        while keep > 1 and (sum(min(len(st), keep) for _, st in by_k) + width) * (h + 1) \
                > _REACH_BITS:
            keep //= 2
        rows = []
        for k in range(width):
            bs, st = by_k[k]
            row = [None] * (k + 1)
            ss, q = 1, 0
            cut = st[keep - 1] if len(st) > keep else None
            for i in range(k, -1, -1):
                if cut is not None and i < cut:
                    # beyond the kept starts: every buffer live here (a superset)
                    for b in bs[q:]:
                        ss |= (ss << self.size[b]) & mask
                        self._tick()
                    full = ss.to_bytes(nbytes, "little")
                    for i2 in range(i + 1):
                        row[i2] = full
                    break
                added = False
                while q < len(bs) and self.lo[bs[q]] - s0 >= i:
                    ss |= (ss << self.size[bs[q]]) & mask
                    q += 1
                    added = True
                    self._tick()
                if q == 0:
                    row[i] = None
                elif added:
                    row[i] = ss.to_bytes(nbytes, "little")
                else:
                    row[i] = row[i + 1]
            rows.append(row)
        return rows

    def _cut_sets(self, s0, s1, h, a, starts, prev_in, anchor=-1, reach=None):
        """Every set ``S`` of the piece's buffers summing to exactly ``a`` in each section of the
        window (the rest then sums to ``h - a``), section by section from the left. With an
        ``anchor`` (strips), only the sets holding it that some inner border of the window
        leaves uncrossed (the bottom strip has a time cut). ``prev_in``: per buffer, the
        nearest identical one before it in the piece (-1: none)."""
        width = s1 - s0
        low = [0] * width   # bytes decided into S, per section
        high = [0] * width  # bytes decided out of S
        S: set[int] = set()
        dead: set = set()
        size, lo, hi = self.size, self.lo, self.hi

        # The last inner border the anchor does not cross (0: none; a set holding the anchor
        # then has no time cut).
        last_free = width if anchor < 0 else max(
            [i for i in range(1, width) if not lo[anchor] < s0 + i < hi[anchor]], default=0)

        def order_key(i):
            # The buffers that live on first (fillers last), then ``self.pick_order``:
            # "size" largest first, "end" longest first (more sections closed early).
            if self.pick_order == "end":
                return lambda b: (hi[b] == s0 + i + 1, -hi[b], -size[b], b)
            return lambda b: (hi[b] == s0 + i + 1, -size[b], b)

        def fits(b, arr, lim):
            z = size[b]
            for k in range(lo[b] - s0, hi[b] - s0):
                if arr[k] + z > lim:
                    return False
            return True

        def add(b, arr, z):
            for k in range(lo[b] - s0, hi[b] - s0):
                arr[k] += z

        def reachable(k, i):
            """Section ``k`` can still get exactly ``a`` from the buffers starting in ``i`` or
            later (``reach``)."""
            t = a - low[k]
            r = reach[k][i]
            if r is None:
                return t == 0
            return 0 <= t and (r[t >> 3] >> (t & 7)) & 1

        def section(i, free):
            if i == width:
                if free or anchor < 0:
                    yield S
                return
            # The future depends only on which buffers still live here are in S (and, with an
            # anchor, whether a border was left uncrossed: none of them lives on across it).
            on = frozenset(b for b in S if hi[b] > s0 + i)
            free = free or (0 < i and all(lo[b] >= s0 + i for b in on))  # (the anchor)
            if not free and i > last_free:
                return  # every border left is crossed by the anchor
            key = (i, on, free)
            if key in dead:
                return
            if reach is not None:
                # Look-ahead: each section ahead must still reach exactly ``a`` with the
                # buffers not decided yet.
                for k in range(i, width):
                    if not reachable(k, i):
                        dead.add(key)
                        return
            self._tick()
            yield None  # a switch point for the anchors' round-robin
            got = False
            target = a - low[i]
            # The buffers that live on branch first; of the fillers (living here only, so the
            # future does not see them) one subset of the right sum is taken, the first found
            # largest first: trying every such subset explodes on many small fillers.
            new = sorted((b for b in starts[i] if b != anchor), key=order_key(i))
            # Once new[j] is decided, the sections from the furthest end among new[j + 1:] to
            # the furthest among new[j:] see no undecided buffer of this section any more, so
            # ``pick`` checks them at once (``reachable`` from section ``i + 1``).
            reach_end = [i + 1] * (len(new) + 1)
            for j in range(len(new) - 1, -1, -1):
                reach_end[j] = max(reach_end[j + 1], hi[new[j]] - s0)
            suffix = [0] * (len(new) + 1)
            suffix[len(new)] = 1
            mask = (1 << (target + 1)) - 1 if target >= 0 else 0
            for j in range(len(new) - 1, -1, -1):
                suffix[j] = suffix[j + 1] | ((suffix[j + 1] << size[new[j]]) & mask)
            if target >= 0 and (suffix[0] >> target) & 1:
                for out in pick(i, new, suffix, reach_end, 0, target, free):
                    got = got or out is not None  # None: a switch point, not a set
                    yield out
            if not got:
                dead.add(key)

        def pick(i, new, suffix, reach_end, j, t, free):
            if j == len(new):
                yield from section(i + 1, free)
                return
            self._tick()
            # A switch point here too: one section's subsets can take many steps, and the
            # anchors' round-robin must not wait for them.
            if self.pick_yield:
                yield None
            b = new[j]
            if hi[b] == s0 + i + 1:
                yield from fillers(i, new, suffix, j, t, free)
                return
            z = size[b]
            ps = prev_in[b]
            c0 = reach_end[j + 1]
            c1 = reach_end[j] if reach is not None and self.pick_check else c0
            # In S (only if the identical buffer before it is: S holds a prefix of each group
            # of identical buffers), or out of it.
            if (t >= z and (suffix[j + 1] >> (t - z)) & 1 and (ps < 0 or ps in S)
                    and fits(b, low, a)):
                add(b, low, z)
                S.add(b)
                try:
                    if all(reachable(k, i + 1) for k in range(c0, c1)):
                        yield from pick(i, new, suffix, reach_end, j + 1, t - z, free)
                finally:
                    S.discard(b)
                    add(b, low, -z)
            if ((suffix[j + 1] >> t) & 1 and fits(b, high, h - a)
                    and all(reachable(k, i + 1) for k in range(c0, c1))):
                add(b, high, z)
                try:
                    yield from pick(i, new, suffix, reach_end, j + 1, t, free)
                finally:
                    add(b, high, -z)

        def fillers(i, new, suffix, j, t, free):
            chosen = []
            for q in range(j, len(new)):
                b = new[q]
                if t >= size[b] and (suffix[q + 1] >> (t - size[b])) & 1:
                    chosen.append(b)
                    t -= size[b]
            for b in new[j:]:
                if b in chosen:
                    low[i] += size[b]
                    S.add(b)
                else:
                    high[i] += size[b]
            try:
                yield from section(i + 1, free)
            finally:
                for b in new[j:]:
                    if b in chosen:
                        low[i] -= size[b]
                        S.discard(b)
                    else:
                        high[i] -= size[b]

        if anchor >= 0:
            # The anchor is in S from the start, so every section of its span knows it.
            if not fits(anchor, low, a):
                return
            add(anchor, low, size[anchor])
            S.add(anchor)
        yield from section(0, False)


def guillotine_pack(size, t0, t1, cap, *, steps, strips=True, lookahead=True,
                    anchors=GUILLOTINE_ANCHORS, attempt=GUILLOTINE_ATTEMPT, growth=4,
                    variants=GUILLOTINE_VARIANTS):
    """Offsets (address units, ``int64 [N]``) of a guillotine packing of the perfect tiling
    ``size/t0/t1`` (compressed sections ``[t0, t1)``) within ``cap``, or ``None`` (none found
    within ``steps`` search steps: says nothing about feasibility); and the steps used.
    ``strips``, ``lookahead``, ``anchors``: the rules of the module doc (off / 1 for ablation).
    ``variants``: search settings (``_Guillotine`` attributes: ``pick_yield``, ``pick_order``,
    ``pick_check``, ``anchors``) run one after the other, ``steps / len(variants)`` each (the runs are
    heavy-tailed: which one packs first varies by instance). ``attempt``: the restarts' first
    cap on the steps of one cut attempt (x ``growth`` each round; None: no restarts)."""
    import sys

    size = np.asarray(size, dtype=np.int64)
    t0 = np.asarray(t0, dtype=np.int64)
    t1 = np.asarray(t1, dtype=np.int64)
    limit = sys.getrecursionlimit()
    # Nesting grows with the window width (one generator level per section in a cut search).
    sys.setrecursionlimit(max(limit, 20 * (int(t1.max()) + len(size)) + 1000))
    used = 0
    try:
        variants = list(variants) or [{}]
        for v in variants:
            g = _Guillotine(size, t0, t1, steps // len(variants), strips, lookahead, anchors)
            for name, value in v.items():
                if not hasattr(g, name):
                    raise ValueError(f"unknown guillotine setting {name!r}")
                setattr(g, name, value)
            ok = None
            try:
                # Restarts: every cut attempt gets ``attempt`` steps, ``growth`` x more each
                # round, until the top piece is packed or proved to have no guillotine packing
                # (a round with no attempt abandoned is the complete search) or the steps run
                # out.
                g.attempt = attempt
                while ok is None:
                    ok = g.solve(0, int(t1.max()), 0, int(cap), frozenset(range(len(size))))
                    if g.attempt is None:
                        break
                    g.attempt *= growth
            except _Budget:
                ok = False
            used += min(g.steps, g.max_steps)
            if ok:
                return np.asarray(g.off, dtype=np.int64), used
            if ok is False and g.steps <= g.max_steps and attempt is None:
                break  # exhausted: no guillotine packing (the other settings find none either)
    finally:
        sys.setrecursionlimit(limit)
    return None, used

"""The tree's bookkeeping as numba kernels, one call per simulation for all B trees.

``select`` walks every tree from its root to the edge to expand (Gumbel MuZero or PUCT rules),
``expand_backward`` writes the network's output into the new node and backs its value up to the
root. ``root_completed_qvalues`` gives the root's sigma(completed q) for the final action and the
policy target. The formulas follow mctx (``action_selection``, ``qtransforms``, ``search``) line by
line so that its published expectations hold here.
"""
import math

import numba as nb
import numpy as np

__all__ = [
    "GUMBEL",
    "PUCT",
    "expand_backward",
    "mask_logits",
    "root_completed_qvalues",
    "select",
    "softmax_rows",
]

GUMBEL = 0
PUCT = 1
_TINY = np.finfo(np.float64).tiny
_MIN_LOGIT = np.finfo(np.float64).min
_LOW_LOGIT = -1e9  # mctx's floor for the considered actions' scores


@nb.njit(cache=True)
def _softmax(x, out):
    """``out = softmax(x)`` for one row ``[A]``."""
    m = x[0]
    for a in range(1, x.shape[0]):
        m = max(m, x[a])
    s = 0.0
    for a in range(x.shape[0]):
        out[a] = math.exp(x[a] - m)
        s += out[a]
    for a in range(x.shape[0]):
        out[a] /= s


@nb.njit(cache=True)
def _mix_completed_q(b, n, visits, prior_probs, rewards, discounts, values, raw_values,
                     value_scale, maxvisit_init, rescale, use_mixed, epsilon, out):
    """mctx's ``qtransform_completed_by_mix_value`` at node ``n`` of tree ``b`` into ``out [A]``:
    unvisited actions get the mixed value, then min-max rescaling, then the factor
    ``(maxvisit_init + max N) * value_scale``, so ``out`` is sigma(completed q)."""
    num_actions = out.shape[0]
    probs = prior_probs[b, n]
    sum_n = 0
    max_n = 0
    sum_p = 0.0
    for a in range(num_actions):
        c = visits[b, n, a]
        sum_n += c
        max_n = max(max_n, c)
        if c > 0:
            sum_p += max(_TINY, probs[a])  # tiny: a visited action with zero prior stays finite
    value = raw_values[b, n]
    if use_mixed:
        weighted_q = 0.0
        for a in range(num_actions):
            if visits[b, n, a] > 0:
                q = rewards[b, n, a] + discounts[b, n, a] * values[b, n, a]
                weighted_q += max(_TINY, probs[a]) * q / sum_p
        value = (raw_values[b, n] + sum_n * weighted_q) / (sum_n + 1)
    for a in range(num_actions):
        if visits[b, n, a] > 0:
            out[a] = rewards[b, n, a] + discounts[b, n, a] * values[b, n, a]
        else:
            out[a] = value
    if rescale:
        lo = out[0]
        hi = out[0]
        for a in range(1, num_actions):
            lo = min(lo, out[a])
            hi = max(hi, out[a])
        span = max(hi - lo, epsilon)
        for a in range(num_actions):
            out[a] = (out[a] - lo) / span
    scale = (maxvisit_init + max_n) * value_scale
    for a in range(num_actions):
        out[a] *= scale


@nb.njit(cache=True)
def _minmax_q(b, n, visits, rewards, discounts, values, node_values, epsilon, out):
    """mctx's ``qtransform_by_parent_and_siblings``: Q normalised to [0, 1] by the min and max over
    the node's value and its visited children's Q; unvisited actions score 0."""
    lo = node_values[b, n]
    hi = lo
    for a in range(out.shape[0]):
        if visits[b, n, a] > 0:
            q = rewards[b, n, a] + discounts[b, n, a] * values[b, n, a]
            lo = min(lo, q)
            hi = max(hi, q)
    span = max(hi - lo, epsilon)
    for a in range(out.shape[0]):
        if visits[b, n, a] > 0:
            out[a] = (rewards[b, n, a] + discounts[b, n, a] * values[b, n, a] - lo) / span
        else:
            out[a] = 0.0


@nb.njit(cache=True)
def _argmax(score):
    best = 0
    for a in range(1, score.shape[0]):
        if score[a] > score[best]:
            best = a
    return best


@nb.njit(cache=True)
def select(mode, sim, max_depth, node_visits, raw_values, node_values, children_index,
           logits, prior_probs, values, visits, rewards, discounts, invalid, gumbel, table,
           num_considered, value_scale, maxvisit_init, rescale, use_mixed, pb_c_init, pb_c_base,
           epsilon, parent_out, action_out, next_out):
    """Walks each tree from the root until an unexpanded edge or ``max_depth``; writes the node
    to expand from (``parent_out [B]``), the action (``action_out [B]``) and the index the new node
    gets (``next_out [B]``: ``sim + 1``, or the existing child when the depth cut-off was hit)."""
    num_trees = children_index.shape[0]
    num_actions = children_index.shape[2]
    q = np.empty(num_actions)
    probs = np.empty(num_actions)
    score = np.empty(num_actions)
    for b in range(num_trees):
        node = 0
        depth = 0
        while True:
            if mode == GUMBEL:
                _mix_completed_q(b, node, visits, prior_probs, rewards, discounts, values,
                                 raw_values, value_scale, maxvisit_init, rescale, use_mixed,
                                 epsilon, q)
                if depth == 0:
                    # Sequential halving: only actions with the scheduled visit count compete,
                    # ranked by g + logits + sigma(q) (mctx's score_considered).
                    sim_index = 0
                    lmax = logits[b, 0, 0]
                    for a in range(num_actions):
                        sim_index += visits[b, 0, a]
                        lmax = max(lmax, logits[b, 0, a])
                    considered = table[num_considered[b], sim_index]
                    for a in range(num_actions):
                        s = max(_LOW_LOGIT, gumbel[b, a] + logits[b, 0, a] - lmax + q[a])
                        if visits[b, 0, a] != considered or invalid[b, 0, a]:
                            s = -np.inf
                        score[a] = s
                else:
                    # Deterministic selection: argmax(pi' - N / (1 + sum N)), pi' the improved
                    # policy softmax(logits + sigma(completed q)).
                    total = 0
                    for a in range(num_actions):
                        score[a] = logits[b, node, a] + q[a]
                        total += visits[b, node, a]
                    _softmax(score, probs)
                    for a in range(num_actions):
                        score[a] = probs[a] - visits[b, node, a] / (1.0 + total)
                        if invalid[b, node, a]:
                            score[a] = -np.inf
            else:
                _minmax_q(b, node, visits, rewards, discounts, values, node_values, epsilon, q)
                nv = node_visits[b, node]
                pb_c = pb_c_init + math.log((nv + pb_c_base + 1.0) / pb_c_base)
                root_scale = math.sqrt(nv) * pb_c
                for a in range(num_actions):
                    score[a] = (q[a] + root_scale * prior_probs[b, node, a]
                                / (visits[b, node, a] + 1.0))
                    if invalid[b, node, a]:
                        score[a] = -np.inf
            action = _argmax(score)
            depth += 1
            child = children_index[b, node, action]
            if child < 0 or depth >= max_depth:
                break
            node = child
        parent_out[b] = node
        action_out[b] = action
        next_out[b] = sim + 1 if child < 0 else child


@nb.njit(cache=True)
def expand_backward(parent, action, next_index, new_logits, new_value, reward, discount,
                    new_invalid, node_visits, raw_values, node_values, parents, action_from_parent,
                    children_index, logits, prior_probs, values, visits, rewards, discounts,
                    invalid):
    """Writes the model's output into node ``next_index[b]`` (child of ``parent[b]`` along
    ``action[b]``) and backs the value up: each ancestor's value becomes the running mean of
    ``reward + discount * value`` along the path (mctx's ``expand`` then ``backward``)."""
    num_trees = parent.shape[0]
    num_actions = logits.shape[2]
    for b in range(num_trees):
        p = parent[b]
        a = action[b]
        n = next_index[b]
        for c in range(num_actions):
            logits[b, n, c] = new_logits[b, c]
            invalid[b, n, c] = new_invalid[b, c]
        _softmax(logits[b, n], prior_probs[b, n])  # once per expansion, read at every visit
        raw_values[b, n] = new_value[b]
        node_values[b, n] = new_value[b]
        node_visits[b, n] += 1  # a node re-expanded at the depth cut-off counts again
        children_index[b, p, a] = n
        rewards[b, p, a] = reward[b]
        discounts[b, p, a] = discount[b]
        parents[b, n] = p
        action_from_parent[b, n] = a
        idx = n
        leaf_value = node_values[b, n]
        while idx != 0:
            up = parents[b, idx]
            act = action_from_parent[b, idx]
            count = node_visits[b, up]
            leaf_value = rewards[b, up, act] + discounts[b, up, act] * leaf_value
            node_values[b, up] = (node_values[b, up] * count + leaf_value) / (count + 1.0)
            values[b, up, act] = node_values[b, idx]
            visits[b, up, act] += 1
            node_visits[b, up] = count + 1
            idx = up


@nb.njit(cache=True)
def root_completed_qvalues(raw_values, prior_probs, values, visits, rewards, discounts,
                           value_scale, maxvisit_init, rescale, use_mixed, epsilon, out):
    """``out [B, A]``: sigma(completed q) at every root, the same transform the search used."""
    for b in range(out.shape[0]):
        _mix_completed_q(b, 0, visits, prior_probs, rewards, discounts, values, raw_values,
                         value_scale, maxvisit_init, rescale, use_mixed, epsilon, out[b])


def mask_logits(logits: np.ndarray, invalid: np.ndarray | None) -> np.ndarray:
    """``[B, A]`` logits shifted to max 0, with illegal actions at the lowest finite float (finite,
    so an all-illegal row still has a softmax; mctx's ``_mask_invalid_actions``)."""
    if invalid is None:
        return logits
    shifted = logits - logits.max(axis=-1, keepdims=True)
    return np.where(invalid, _MIN_LOGIT, shifted)


@nb.njit(cache=True)
def softmax_rows(x, out):
    """``out[b] = softmax(x[b])`` for ``[B, A]`` rows."""
    for b in range(x.shape[0]):
        _softmax(x[b], out[b])

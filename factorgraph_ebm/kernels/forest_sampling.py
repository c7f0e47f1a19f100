"""Exact samples on forests: the outward sampling pass after an inward sum-product pass (FFBS on chains).

After the tree schedule's inward pass (:func:`.trees._tree_pass` with
:data:`.trees.INWARD`, at the sampling beta) every non-root variable's
message to its parent factor and every root's belief are final. Then, along
the same order (each tree from its root), a draw

* samples each root from its belief, ``p(x) ∝ exp(-beta b(x))``;
* at each factor, whose parent variable is already drawn, samples the joint
  state of its other (child) variables from
  ``p(x_c | x_p) ∝ exp(-beta (T(x_p, x_c) + sum_c m_c(x_c)))`` with ``m_c``
  each child's inward message (its unary plus the messages of its own child
  factors): on a forest this is the exact conditional, so the draws follow
  the joint distribution exactly.

:func:`_forest_weights` turns the final inward messages into probabilities once
(``exp(-beta (m - min m))``); a pairwise factor's conditional then costs K
multiplications per draw against the exp-space tables of
:func:`.bp._exp_tables` (no exponential), with an exact log-domain path when
that product underflows. Factors of arity >= 3 walk the table slice of the
parent's state. Randomness is :mod:`.rng`'s counter-based draws keyed by
``(seed, draw, 0)`` with site ``v`` for a root ``v`` and ``n_vars + f`` for
factor ``f``, so a draw does not depend on the thread count or on the other
draws of the call.
"""

import numpy as np
from numba import prange

from ._jit import JIT_INLINE, JIT_LOOP, JIT_PARALLEL, njit
from .messages import INF, TINY
from .rng import _sweep_key, _uniform


@njit(**JIT_PARALLEL)
def _forest_weights(w, beta, parent_edge, msg_v2f, belief, em, eroot):
    """Probabilities (unnormalised, maximum 1) of the final inward messages and root beliefs.

    ``em[edge_state_ptr[pe] + x] = exp(-beta (m(x) - min m))`` for each
    non-root variable's message ``m`` along its parent edge ``pe``;
    ``eroot[var_state_ptr[v] + x]`` the same for each root's belief (zeros when
    all +inf). Other entries are left as they are.
    """
    n_vars = len(w.var_states)
    for v in prange(n_vars):
        k = w.var_states[v]
        pe = parent_edge[v]
        root = pe < 0
        s0 = w.var_state_ptr[v] if root else w.edge_state_ptr[pe]
        src = belief if root else msg_v2f
        dst = eroot if root else em
        lo = INF
        for x in range(k):
            lo = min(lo, src[s0 + x])
        for x in range(k):
            dst[s0 + x] = np.exp(-beta * (src[s0 + x] - lo)) if lo < INF else 0.0


@njit(**JIT_INLINE)
def _pick(weights, a, k, total, u):
    """Index ``x`` in ``0 .. k-1`` with ``P(x) = weights[a + x] / total`` for a uniform ``u`` (inverse CDF).

    Rounding that runs past the end picks the last positive weight.
    """
    target = u * total
    acc = 0.0
    last = -1
    for x in range(k):
        wx = weights[a + x]
        if wx > 0.0:
            last = x
            acc += wx
            if acc > target:
                return x
    return last


@njit(**JIT_INLINE)
def _pick_product(a, ua, b, ub, k, u):
    """Index ``x`` with ``P(x) ∝ a[ua + x] b[ub + x]`` (inverse CDF for the uniform ``u``); -1 if the sum <= TINY.

    One vectorised pass for the sum (unsigned offsets, so LLVM vectorises the
    reduction), then a scan that stops at the pick. Rounding that runs past
    the end picks the last positive weight.
    """
    total = 0.0
    for x in range(k):
        total += a[ua + x] * b[ub + x]
    if not total > TINY:
        return -1
    target = u * total
    acc = 0.0
    last = -1
    for x in range(k):
        wx = a[ua + x] * b[ub + x]
        if wx > 0.0:
            last = x
            acc += wx
            if acc > target:
                return x
    return last


@njit(**JIT_INLINE)
def _pick_pair(w, beta, etables, msg_v2f, em, f, pe, s, u, scratch):
    """State of the child of pairwise factor ``f`` given its parent (edge ``pe``) in state ``s``."""
    e0 = w.factor_edge_ptr[f]
    kp = pe - e0
    ec = e0 + 1 - kp
    kc = w.var_states[w.edge_var[ec]]
    # the table as (parent state x child state): the C-order copy, or the transposed one
    r0 = w.block_ptr[w.factor_block[f]] + (0 if kp == 0 else len(w.tables) // 2) + s * kc
    m = w.edge_state_ptr[ec]
    x = _pick_product(etables, np.uint64(r0), em, np.uint64(m), np.uint64(kc), u)
    if x >= 0:
        return x
    # underflow (or nothing allowed): exact log-domain weights
    lo = INF
    for x in range(kc):
        lo = min(lo, w.tables[r0 + x] + msg_v2f[m + x])
    if lo == INF:
        return -1
    total = 0.0
    for x in range(kc):
        c = w.tables[r0 + x] + msg_v2f[m + x]
        wx = np.exp(-beta * (c - lo)) if c < INF else 0.0
        scratch[x] = wx
        total += wx
    return _pick(scratch, 0, kc, total, u)


@njit(**JIT_INLINE)
def _slice_entry(w, msg_v2f, f, pe, r):
    """Table position and child-message cost of entry ``r`` of factor ``f``'s slice at its parent's state.

    The children (scope order, last fastest) count ``r`` in mixed radix;
    returns ``(offset from the slice base, sum of the children's messages)``.
    """
    off = 0
    cost = 0.0
    rem = r
    for e in range(w.factor_edge_ptr[f + 1] - 1, w.factor_edge_ptr[f] - 1, -1):
        if e == pe:
            continue
        ke = w.var_states[w.edge_var[e]]
        x = rem % ke
        rem //= ke
        off += x * w.edge_stride[e]
        cost += msg_v2f[w.edge_state_ptr[e] + x]
    return off, cost


@njit(**JIT_INLINE)
def _pick_general(w, beta, msg_v2f, f, pe, s, u, scratch):
    """Slice entry ``r`` (children's joint state) of factor ``f`` (any arity) given its parent in state ``s``."""
    b = w.factor_block[f]
    base = w.block_ptr[b] + s * w.edge_stride[pe]
    n_slice = (w.block_ptr[b + 1] - w.block_ptr[b]) // w.var_states[w.edge_var[pe]]
    lo = INF
    for r in range(n_slice):
        off, cost = _slice_entry(w, msg_v2f, f, pe, r)
        c = w.tables[base + off] + cost
        scratch[r] = c
        lo = min(lo, c)
    if lo == INF:
        return -1
    total = 0.0
    for r in range(n_slice):
        c = scratch[r]
        wx = np.exp(-beta * (c - lo)) if c < INF else 0.0
        scratch[r] = wx
        total += wx
    return _pick(scratch, 0, n_slice, total, u)


@njit(**JIT_LOOP)
def _draw_range(w, beta, etables, order, parent_edge, msg_v2f, em, eroot, seed, first_draw, lo, hi, out,
                scratch):
    """Draws ``lo .. hi - 1`` into ``out[d]`` (int32 states), walking ``order`` from each root outwards.

    ``scratch``: float64 work array, length >= the largest state count and
    the largest table slice of a factor of arity >= 3.
    """
    n_vars = len(w.var_states)
    for d in range(lo, hi):
        key = _sweep_key(seed, first_draw + d, 0)
        for i in range(len(order)):
            node = order[i]
            if node < n_vars:
                if parent_edge[node] < 0:     # a root: its belief
                    a = w.var_state_ptr[node]
                    k = w.var_states[node]
                    total = 0.0
                    for x in range(k):
                        total += eroot[a + x]
                    out[d, node] = _pick(eroot, a, k, total, _uniform(key, node)) if total > 0.0 else -1
                continue
            f = node - n_vars
            e0 = w.factor_edge_ptr[f]
            arity = w.factor_edge_ptr[f + 1] - e0
            if arity < 2:
                continue
            pe = parent_edge[node]
            s = out[d, w.edge_var[pe]]
            u = _uniform(key, node)
            if s < 0:
                for e in range(e0, e0 + arity):
                    if e != pe:
                        out[d, w.edge_var[e]] = -1
                continue
            if arity == 2:
                out[d, w.edge_var[2 * e0 + 1 - pe]] = _pick_pair(w, beta, etables, msg_v2f, em, f, pe, s, u,
                                                                  scratch)
                continue
            r = _pick_general(w, beta, msg_v2f, f, pe, s, u, scratch)
            for e in range(e0 + arity - 1, e0 - 1, -1):
                if e == pe:
                    continue
                ke = w.var_states[w.edge_var[e]]
                out[d, w.edge_var[e]] = r % ke if r >= 0 else -1
                r = r // ke if r >= 0 else r


@njit(**JIT_PARALLEL)
def _forest_draws(w, beta, etables, order, parent_edge, msg_v2f, em, eroot, seed, first_draw, n_threads, out,
                  scratch_size):
    """``out.shape[0]`` draws into ``out`` ((n_draws, n_vars) int32), contiguous ranges of draws per thread.

    Draw ``d`` uses the keys of draw ``first_draw + d`` (see the module
    docstring), so the result does not depend on ``n_threads``. A state of
    -1 means its variable's tree has no allowed configuration.
    """
    n = out.shape[0]
    n_chunks = max(1, min(n_threads, n))
    scratch = np.empty((n_chunks, scratch_size))
    for c in prange(n_chunks):
        _draw_range(w, beta, etables, order, parent_edge, msg_v2f, em, eroot, seed, first_draw,
                    c * n // n_chunks, (c + 1) * n // n_chunks, out, scratch[c])

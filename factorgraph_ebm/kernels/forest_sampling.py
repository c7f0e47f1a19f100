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
(``exp(-beta (m - min m))``), and ``sample.forest`` lays out a sampling program
(one int64 row per step, :data:`KIND` ... :data:`AUX`) with those probabilities
in step order, so a draw streams through two arrays front to back instead of
chasing the wiring (on a 100k-variable random tree that was 10x faster per
draw). A pairwise factor's conditional then costs K multiplications per draw
against the exp-space tables of :func:`.bp._exp_tables` (no exponential), with
an exact log-domain path when that product underflows. Factors of arity >= 3
walk the table slice of the parent's state. Randomness is :mod:`.rng`'s counter-based draws keyed by
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
def _pick_log(w, beta, msg_v2f, r0, m, k, u, scratch):
    """The pick of a pairwise step in the log domain, exactly: table row ``w.tables[r0:r0 + k]`` + ``msg_v2f[m:m + k]``.

    For when the exp-space product underflows (or nothing is allowed: -1).
    """
    lo = INF
    for x in range(k):
        lo = min(lo, w.tables[r0 + x] + msg_v2f[m + x])
    if lo == INF:
        return -1
    total = 0.0
    for x in range(k):
        c = w.tables[r0 + x] + msg_v2f[m + x]
        wx = np.exp(-beta * (c - lo)) if c < INF else 0.0
        scratch[x] = wx
        total += wx
    return _pick(scratch, 0, k, total, u)


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


#: Columns of a sampling program (:func:`_draw_range`), one row per step: what it draws and from what.
KIND, CHILD, PARENT, BASE, K, M, SITE, AUX = range(8)
#: ``KIND`` of a step: a root from its belief, the child of a pairwise factor, the children of a larger factor.
ROOT, PAIR, GENERAL = 0, 1, 2


@njit(**JIT_LOOP)
def _draw_range(w, beta, etables, prog, probs, msg_v2f, seed, first_draw, lo, hi, out, scratch):
    """Draws ``lo .. hi - 1`` into ``out[d]`` (int32 states) by running the sampling program ``prog``.

    ``prog`` ((n_steps, 8) int64, rows in the tree order, roots first in each
    tree) is built once per plan (``sample.forest._Plan``), so a draw streams
    through it: ``ROOT``: variable ``CHILD`` from ``probs[M:M + K]`` (its
    belief's probabilities); ``PAIR``: variable ``CHILD`` given ``PARENT``'s
    state ``s`` from the exp-space table row at ``BASE + s K`` times
    ``probs[M:M + K]`` (its inward message's probabilities; ``AUX``: that
    message in ``msg_v2f``, for the exact log-domain path); ``GENERAL``: the
    children of factor ``SITE - n_vars`` (parent edge ``AUX``) jointly.
    ``SITE`` keys the uniform of the step. ``scratch``: float64 work array,
    length >= the largest state count and the largest slice of a factor of
    arity >= 3.
    """
    n_vars = len(w.var_states)
    for d in range(lo, hi):
        key = _sweep_key(seed, first_draw + d, 0)
        for i in range(prog.shape[0]):
            kind = prog[i, KIND]
            c = prog[i, CHILD]
            k = prog[i, K]
            m = prog[i, M]
            u = _uniform(key, prog[i, SITE])
            if kind == ROOT:
                total = 0.0
                for x in range(k):
                    total += probs[m + x]
                out[d, c] = _pick(probs, m, k, total, u) if total > 0.0 else -1
                continue
            s = out[d, prog[i, PARENT]]
            if kind == PAIR:
                if s < 0:
                    out[d, c] = -1
                    continue
                r0 = prog[i, BASE] + s * k
                x = _pick_product(etables, np.uint64(r0), probs, np.uint64(m), np.uint64(k), u)
                if x < 0:
                    x = _pick_log(w, beta, msg_v2f, r0, prog[i, AUX], k, u, scratch)
                out[d, c] = x
                continue
            f = prog[i, SITE] - n_vars
            pe = prog[i, AUX]
            e0 = w.factor_edge_ptr[f]
            e1 = w.factor_edge_ptr[f + 1]
            r = _pick_general(w, beta, msg_v2f, f, pe, s, u, scratch) if s >= 0 else -1
            for e in range(e1 - 1, e0 - 1, -1):
                if e == pe:
                    continue
                ke = w.var_states[w.edge_var[e]]
                out[d, w.edge_var[e]] = r % ke if r >= 0 else -1
                r = r // ke if r >= 0 else r


@njit(**JIT_PARALLEL)
def _forest_draws(w, beta, etables, prog, probs, msg_v2f, seed, first_draw, n_threads, out, scratch_size):
    """``out.shape[0]`` draws into ``out`` ((n_draws, n_vars) int32), contiguous ranges of draws per thread.

    Draw ``d`` uses the keys of draw ``first_draw + d`` (see the module
    docstring), so the result does not depend on ``n_threads``. A state of
    -1 means its variable's tree has no allowed configuration.
    """
    n = out.shape[0]
    n_chunks = max(1, min(n_threads, n))
    scratch = np.empty((n_chunks, scratch_size))
    for c in prange(n_chunks):
        _draw_range(w, beta, etables, prog, probs, msg_v2f, seed, first_draw, c * n // n_chunks,
                    (c + 1) * n // n_chunks, out, scratch[c])

"""Naive mean field: coordinate ascent on a fully factorised ``q(x) = prod_v q_v(x_v)``, and its free energy.

The update of variable ``v`` (every other ``q_u`` held fixed) is the exact
minimiser of the mean-field free energy over ``q_v``:

``q_v(x) ∝ exp(-beta (unary_v(x) + sum_{f ∋ v} E_{q of f's other variables}[T_f | x_v = x]))``.

Expectations use ``0 * inf = 0``: a table entry whose other-variable weight is
exactly 0 contributes nothing; a +inf entry of positive weight makes the
expected energy of ``x`` +inf, and ``x`` then gets ``q_v(x) = 0`` exactly (so
does a state the evidence rules out). Each expected energy is kept as two
accumulators, the finite part and the *forbidden mass* (the total weight of
+inf entries), so no ``inf - inf`` or ``0 * inf`` is ever evaluated.

When every state the evidence allows has positive forbidden mass (possible
only while the current ``q`` already has infinite free energy), no choice of
``q_v`` makes the free energy finite; ``q_v`` then becomes a point mass on the
allowed state of least forbidden mass (ties: lowest finite part), which moves
the other variables towards a feasible configuration.

Pairwise factors read the row of ``v``'s state in the C-order copy of their
table (``v`` first in the scope) or in the transposed copy (``v`` second), so the
expectation over the neighbour is a contiguous dot product; factors of any
other arity walk their table with ``edge_stride``.

Graphs of a batch are independent: :func:`_sweeps` runs them in parallel
(``prange``), each sweeping its own variables in id order until its largest
change of ``q`` in a sweep is <= ``tol``.
"""

import numpy as np
from numba import prange

from ._jit import JIT, JIT_INLINE, JIT_PARALLEL, njit

INF = np.inf
#: The forbidden mass a +inf entry adds when the product of its positive weights underflows to 0.
TINY = 1e-300


@njit(**JIT_INLINE)
def _expected(v, w, unary, q, fin, bad):
    """Expected energy of every state of ``v`` given the other variables' ``q``: ``fin`` (finite part), ``bad``
    (forbidden mass), at ``fin[:k]``, ``bad[:k]``. The evidence's +inf (``unary``) counts as forbidden mass 1."""
    k = w.var_states[v]
    s0 = w.var_state_ptr[v]
    half = len(w.tables) // 2
    for x in range(k):
        u = unary[s0 + x]
        if u < INF:
            fin[x] = u
            bad[x] = 0.0
        else:
            fin[x] = 0.0
            bad[x] = 1.0
    for p in range(w.var_edge_ptr[v], w.var_edge_ptr[v + 1]):
        e = w.var_edges[p]
        f = w.edge_factor[e]
        e0 = w.factor_edge_ptr[f]
        e1 = w.factor_edge_ptr[f + 1]
        b = w.factor_block[f]
        t0 = w.block_ptr[b]
        if e1 - e0 == 1:
            for x in range(k):
                t = w.tables[t0 + x]
                if t < INF:
                    fin[x] += t
                else:
                    bad[x] += 1.0
        elif e1 - e0 == 2:
            other = e0 + 1 if e == e0 else e0
            u = w.edge_var[other]
            ku = w.var_states[u]
            su = w.var_state_ptr[u]
            base = t0 if e == e0 else t0 + half     # rows = states of v
            for x in range(k):
                r = base + x * ku
                a = 0.0
                m = 0.0
                for j in range(ku):
                    wt = q[su + j]
                    if wt > 0.0:
                        t = w.tables[r + j]
                        if t < INF:
                            a += wt * t
                        else:
                            m += wt
                fin[x] += a
                bad[x] += m
        else:
            st = w.edge_stride[e]
            size = w.block_ptr[b + 1] - t0
            for t in range(size):
                wt = 1.0
                pos = True
                for e2 in range(e0, e1):
                    if e2 != e:
                        u = w.edge_var[e2]
                        p2 = q[w.var_state_ptr[u] + (t // w.edge_stride[e2]) % w.var_states[u]]
                        if p2 == 0.0:
                            pos = False
                            break
                        wt *= p2
                if pos:
                    x = (t // st) % k
                    c = w.tables[t0 + t]
                    if c < INF:
                        fin[x] += wt * c
                    else:
                        bad[x] += max(wt, TINY)     # positive even when the product underflows


@njit(**JIT_INLINE)
def _update(v, w, unary, beta, q, fin, bad):
    """Replace ``q_v`` by its mean-field update; returns the largest change ``max_x |q_new(x) - q_old(x)|``."""
    k = w.var_states[v]
    s0 = w.var_state_ptr[v]
    _expected(v, w, unary, q, fin, bad)
    lo = INF
    for x in range(k):
        if bad[x] == 0.0 and fin[x] < lo:
            lo = fin[x]
    if lo < INF:
        z = 0.0
        for x in range(k):
            if bad[x] == 0.0:
                fin[x] = np.exp(-beta * (fin[x] - lo))
                z += fin[x]
            else:
                fin[x] = 0.0
        for x in range(k):
            fin[x] /= z
    else:
        # no state of finite expected energy: a point mass on the allowed state of least forbidden mass
        best = -1
        for x in range(k):
            if unary[s0 + x] < INF:
                if best < 0 or bad[x] < bad[best] or (bad[x] == bad[best] and fin[x] < fin[best]):
                    best = x
        if best < 0:
            return 0.0      # the evidence rules out every state (the caller reports the zero partition)
        for x in range(k):
            fin[x] = 1.0 if x == best else 0.0
    change = 0.0
    for x in range(k):
        d = abs(fin[x] - q[s0 + x])
        if d > change:
            change = d
        q[s0 + x] = fin[x]
    return change


@njit(**JIT_PARALLEL)
def _sweeps(w, unary, beta, tol, max_iter, graph_var_ptr, q, n_iter, delta):
    """Mean-field sweeps of every graph of the batch, in parallel over graphs, ``q`` updated in place.

    Graph ``g`` sweeps its variables ``graph_var_ptr[g] .. graph_var_ptr[g + 1] - 1``
    in id order, each update seeing the ones before it, until the largest
    change of a sweep is <= ``tol`` or ``max_iter`` sweeps ran; its sweep count
    and last change go to ``n_iter[g]`` and ``delta[g]``.
    """
    kmax = 1
    for v in range(len(w.var_states)):
        kmax = max(kmax, w.var_states[v])
    for g in prange(len(graph_var_ptr) - 1):
        fin = np.empty(kmax)
        bad = np.empty(kmax)
        it = 0
        d = 0.0
        while it < max_iter:
            d = 0.0
            for v in range(graph_var_ptr[g], graph_var_ptr[g + 1]):
                c = _update(v, w, unary, beta, q, fin, bad)
                if c > d:
                    d = c
            it += 1
            if d <= tol:
                break
        n_iter[g] = it
        delta[g] = d


@njit(**JIT_INLINE)
def _factor_term(f, w, q):
    """``E_q[T_f]`` with ``0 * inf = 0``; +inf when a +inf entry has positive probability."""
    e0 = w.factor_edge_ptr[f]
    e1 = w.factor_edge_ptr[f + 1]
    b = w.factor_block[f]
    t0 = w.block_ptr[b]
    size = w.block_ptr[b + 1] - t0
    acc = 0.0
    if e1 - e0 == 2:
        u0 = w.edge_var[e0]
        u1 = w.edge_var[e0 + 1]
        k1 = w.var_states[u1]
        s0 = w.var_state_ptr[u0]
        s1 = w.var_state_ptr[u1]
        for i in range(w.var_states[u0]):
            a = q[s0 + i]
            if a == 0.0:
                continue
            r = 0.0
            for j in range(k1):
                p = q[s1 + j]
                if p > 0.0:
                    t = w.tables[t0 + i * k1 + j]
                    if t == INF:
                        return INF
                    r += p * t
            acc += a * r
        return acc
    for t in range(size):
        wt = 1.0
        pos = True
        for e in range(e0, e1):
            u = w.edge_var[e]
            p = q[w.var_state_ptr[u] + (t // w.edge_stride[e]) % w.var_states[u]]
            if p == 0.0:
                pos = False
                break
            wt *= p
        if pos:
            c = w.tables[t0 + t]
            if c == INF:
                return INF      # even when the product underflowed: its true value is > 0
            acc += wt * c
    return acc


@njit(**JIT_INLINE)
def _var_term(v, w, unary, beta, q):
    """``E_{q_v}[unary_v] - H(q_v) / beta`` with ``0 * inf = 0``."""
    s0 = w.var_state_ptr[v]
    acc = 0.0
    ent = 0.0
    for x in range(w.var_states[v]):
        p = q[s0 + x]
        if p > 0.0:
            u = unary[s0 + x]
            if u == INF:
                return INF
            acc += p * u
            ent -= p * np.log(p)
    return acc - ent / beta


@njit(**JIT_PARALLEL)
def _free_energy_terms(w, unary, beta, q, fterm, vterm):
    """The terms of the mean-field free energy ``F_MF(q)``: ``fterm[f] = E_q[T_f]``, ``vterm[v] = E_{q_v}[unary_v]
    - H(q_v) / beta``, with ``0 * inf = 0`` (+inf where a +inf entry has positive probability)."""
    for f in prange(len(fterm)):
        fterm[f] = _factor_term(f, w, q)
    for v in prange(len(vterm)):
        vterm[v] = _var_term(v, w, unary, beta, q)


@njit(**JIT)
def _unary_field(w, unary, field):
    """``field = unary + the tables of the one-variable factors`` (per variable state; +inf stays +inf)."""
    for s in range(len(unary)):
        field[s] = unary[s]
    for f in range(len(w.factor_edge_ptr) - 1):
        e0 = w.factor_edge_ptr[f]
        if w.factor_edge_ptr[f + 1] - e0 != 1:
            continue
        v = w.edge_var[e0]
        s0 = w.var_state_ptr[v]
        t0 = w.block_ptr[w.factor_block[f]]
        for x in range(w.var_states[v]):
            field[s0 + x] += w.tables[t0 + x]


@njit(**JIT_PARALLEL)
def _factor_products(w, q, factors, ptr, out):
    """``out[ptr[i] + t] = prod_{e of f} q(x_e(t))`` for ``f = factors[i]`` and every entry ``t`` of its table."""
    for i in prange(len(factors)):
        f = factors[i]
        e0 = w.factor_edge_ptr[f]
        e1 = w.factor_edge_ptr[f + 1]
        b = w.factor_block[f]
        size = w.block_ptr[b + 1] - w.block_ptr[b]
        o = ptr[i]
        for t in range(size):
            wt = 1.0
            for e in range(e0, e1):
                u = w.edge_var[e]
                wt *= q[w.var_state_ptr[u] + (t // w.edge_stride[e]) % w.var_states[u]]
            out[o + t] = wt

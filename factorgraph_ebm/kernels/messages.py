"""Message updates of one variable or one factor, in the energy domain.

Messages are energies: ``msg_f2v`` (factor to variable) and ``msg_v2f``
(variable to factor), flat float64 arrays indexed by ``w.edge_state_ptr``.
Factor-to-variable messages are normalised to a minimum of 0.

``softmin_beta(e) = -(1/beta) log sum exp(-beta e)``; ``beta = inf`` is ``min``.
The pairwise sum-product path multiplies in exp space against ``etables``
(``exp(-beta (T - block_min))`` per table block), costing one exponential per
source state instead of one per table entry; a column whose sum underflows is
recomputed exactly in the log domain, so ``+inf`` stays forbidden and no NaN
appears.
"""

import numpy as np
from numba import njit

from ._jit import JIT

INF = np.inf
#: Below this, an exp-space column sum may have lost terms to underflow.
TINY = 1e-280


@njit(**JIT)
def _var_messages(v, w, unary, msg_f2v, msg_v2f, belief):
    """All messages of variable ``v`` to its factors, and its belief.

    ``msg_v2f[e] = unary_v + sum of msg_f2v over v's other edges``, by a prefix
    pass and a suffix pass (additions only, so +inf is safe; O(degree * states)).
    ``belief[v] = unary_v + sum of every incoming msg_f2v``.
    """
    k = w.var_states[v]
    s0 = w.var_state_ptr[v]
    p0 = w.var_edge_ptr[v]
    p1 = w.var_edge_ptr[v + 1]
    prev = -1
    for p in range(p0, p1):
        m = w.edge_state_ptr[w.var_edges[p]]
        if prev < 0:
            for x in range(k):
                msg_v2f[m + x] = unary[s0 + x]
        else:
            for x in range(k):
                msg_v2f[m + x] = msg_v2f[prev + x] + msg_f2v[prev + x]
        prev = m
    for x in range(k):
        belief[s0 + x] = 0.0
    for p in range(p1 - 1, p0 - 1, -1):
        m = w.edge_state_ptr[w.var_edges[p]]
        for x in range(k):
            msg_v2f[m + x] += belief[s0 + x]
            belief[s0 + x] += msg_f2v[m + x]
    for x in range(k):
        belief[s0 + x] += unary[s0 + x]


@njit(**JIT)
def _normalize(out, m, k):
    """Shift ``out[m:m+k]`` so its minimum is 0 (left alone when all +inf)."""
    lo = INF
    for x in range(k):
        if out[m + x] < lo:
            lo = out[m + x]
    if lo < INF:
        for x in range(k):
            out[m + x] -= lo


@njit(**JIT)
def _pair_message(f, k, w, beta, etables, block_min, msg_v2f, out):
    """Message of pairwise factor ``f`` to its scope position ``k`` (0 or 1)."""
    e0 = w.factor_edge_ptr[f]
    et = e0 + k
    es = e0 + 1 - k
    kt = w.var_states[w.edge_var[et]]
    ks = w.var_states[w.edge_var[es]]
    st = w.edge_stride[et]
    ss = w.edge_stride[es]
    mt = w.edge_state_ptr[et]
    ms = w.edge_state_ptr[es]
    b = w.factor_block[f]
    t0 = w.block_ptr[b]
    tables = w.tables
    if beta == INF:
        for j in range(kt):
            out[mt + j] = INF
        for i in range(ks):
            q = msg_v2f[ms + i]
            if q == INF:
                continue
            base = t0 + i * ss
            for j in range(kt):
                c = tables[base + j * st] + q
                if c < out[mt + j]:
                    out[mt + j] = c
        _normalize(out, mt, kt)
        return
    qmin = INF
    for i in range(ks):
        if msg_v2f[ms + i] < qmin:
            qmin = msg_v2f[ms + i]
    if qmin == INF:
        for j in range(kt):
            out[mt + j] = INF
        return
    for j in range(kt):
        out[mt + j] = 0.0
    for i in range(ks):
        wi = np.exp(-beta * (msg_v2f[ms + i] - qmin))
        if wi == 0.0:
            continue
        base = t0 + i * ss
        for j in range(kt):
            out[mt + j] += etables[base + j * st] * wi
    shift = block_min[b] + qmin
    for j in range(kt):
        s = out[mt + j]
        if s > TINY:
            out[mt + j] = -np.log(s) / beta
            continue
        # exact log-domain column: min, then sum of shifted exponentials
        lo = INF
        for i in range(ks):
            c = tables[t0 + i * ss + j * st] + msg_v2f[ms + i]
            if c < lo:
                lo = c
        if lo == INF:
            out[mt + j] = INF
            continue
        acc = 0.0
        for i in range(ks):
            c = tables[t0 + i * ss + j * st] + msg_v2f[ms + i]
            if c < INF:
                acc += np.exp(-beta * (c - lo))
        out[mt + j] = lo - np.log(acc) / beta - shift
    _normalize(out, mt, kt)


@njit(**JIT)
def _general_message(f, k, w, beta, msg_v2f, out):
    """Message of factor ``f`` (any arity) to its scope position ``k``.

    Walks the table once per pass; sum-product uses a min pass then a sum of
    shifted exponentials, so it is exact in the log domain.
    """
    e0 = w.factor_edge_ptr[f]
    e1 = w.factor_edge_ptr[f + 1]
    et = e0 + k
    kt = w.var_states[w.edge_var[et]]
    st = w.edge_stride[et]
    mt = w.edge_state_ptr[et]
    b = w.factor_block[f]
    t0 = w.block_ptr[b]
    size = w.block_ptr[b + 1] - t0
    tables = w.tables
    for x in range(kt):
        out[mt + x] = INF
    for t in range(size):
        c = tables[t0 + t]
        if c == INF:
            continue
        for e in range(e0, e1):
            if e != et:
                c += msg_v2f[w.edge_state_ptr[e] + (t // w.edge_stride[e]) % w.var_states[w.edge_var[e]]]
        x = (t // st) % kt
        if c < out[mt + x]:
            out[mt + x] = c
    if beta < INF:
        acc = np.zeros(kt)
        for t in range(size):
            x = (t // st) % kt
            lo = out[mt + x]
            if lo == INF:
                continue
            c = tables[t0 + t]
            if c == INF:
                continue
            for e in range(e0, e1):
                if e != et:
                    c += msg_v2f[w.edge_state_ptr[e] + (t // w.edge_stride[e]) % w.var_states[w.edge_var[e]]]
            if c < INF:
                acc[x] += np.exp(-beta * (c - lo))
        for x in range(kt):
            if out[mt + x] < INF:
                out[mt + x] -= np.log(acc[x]) / beta
    _normalize(out, mt, kt)


@njit(**JIT)
def _factor_message(f, k, w, beta, etables, block_min, msg_v2f, out):
    """Message of factor ``f`` to scope position ``k``: pairwise path or general path."""
    if w.factor_edge_ptr[f + 1] - w.factor_edge_ptr[f] == 2:
        _pair_message(f, k, w, beta, etables, block_min, msg_v2f, out)
    else:
        _general_message(f, k, w, beta, msg_v2f, out)


@njit(**JIT)
def _factor_costs(f, w, msg_v2f, out, o0):
    """Write ``T(x) + sum_j msg_v2f_j(x_j)`` for every entry x of factor ``f`` at ``out[o0:]``."""
    e0 = w.factor_edge_ptr[f]
    e1 = w.factor_edge_ptr[f + 1]
    b = w.factor_block[f]
    t0 = w.block_ptr[b]
    size = w.block_ptr[b + 1] - t0
    for t in range(size):
        c = w.tables[t0 + t]
        if c < INF:
            for e in range(e0, e1):
                c += msg_v2f[w.edge_state_ptr[e] + (t // w.edge_stride[e]) % w.var_states[w.edge_var[e]]]
        out[o0 + t] = c

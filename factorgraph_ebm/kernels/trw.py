"""Tree-reweighted message passing (TRW; TRW-S at beta = inf): forest cover and sequential passes.

The energy is split over a set of spanning forests of the bipartite factor
graph, each of weight ``1 / n_forests``; a factor of arity >= 2 that lies in
``c_f`` of them has appearance probability ``rho_f = c_f / n_forests`` (one-variable
factors are in every forest, ``rho = 1``). :func:`_grow_forest` builds one
maximal forest of monotonic chains (along each tree the variable ids increase,
the order the passes follow, as TRW-S needs for its bound never to decrease)
greedily, taking the least covered factors first; the caller repeats it until
every factor is covered.

Messages are energies, as in :mod:`.messages`, computed on the *scaled*
wiring whose tables are ``T_f / rho_f`` (the caller builds it), so the message
helpers of :mod:`.messages` serve unchanged. With ``m_f`` the factor-to-variable
messages, variable ``v`` has

``b_v = unary_v + sum_{f ∋ v} rho_f m_{f->v}`` and sends ``n_{v->f} = b_v - m_{f->v}``

(+inf where ``b_v`` is +inf: a state some message or the evidence forbids
stays forbidden, and every +inf a message ever holds is a consequence of the
tables and the evidence, so no assignment of finite energy is excluded).

Schedule (Kolmogorov's sequential TRW-S, for factors of any arity): the
variables of each graph in id order, forward then backward. At variable ``v``
the messages ``m_{f->v}`` of the factors that have a variable before ``v`` in
the current direction are recomputed from their variables' current
``n_{u->f}``, then ``b_v`` (updated message by message) and the ``n_{v->f}``
the pass still reads follow (see :func:`_graph_pass`). One forward plus one
backward pass is one iteration: every message of a pairwise factor is computed
once. The graphs of a batch run in parallel (``prange``), each to its own
convergence; a single graph runs on one thread (the schedule is sequential).
"""

import numpy as np
from numba import prange

from ._jit import JIT_INLINE, JIT_LOOP, JIT_PARALLEL, njit
from .messages import INF, _change_at, _factor_message, _pair_message_at, _potts_message_at, _unary_message


@njit(**JIT_LOOP)
def _grow_forest(w, order, has_in, has_out, member):
    """One maximal forest of monotonic chains of the factors ``order`` (arity >= 2, in the order given).

    ``member[f] = True`` for its factors. A factor links its variables in id
    order: its lowest variable to a later one, its highest from an earlier one,
    any variable in between both; it joins when none of those links is taken
    yet, so every variable has at most one factor from an earlier variable
    (``has_in``) and one to a later one (``has_out``) and each tree of the
    forest is a chain along which the ids increase (acyclic). ``has_in``,
    ``has_out`` (n_vars,) bool are work space; ``member`` (n_factors,) bool is
    cleared first. Returns the number of factors taken.
    """
    for v in range(len(w.var_states)):
        has_in[v] = False
        has_out[v] = False
    for f in range(len(member)):
        member[f] = False
    taken = 0
    for i in range(len(order)):
        f = order[i]
        e0 = w.factor_edge_ptr[f]
        e1 = w.factor_edge_ptr[f + 1]
        lo = w.edge_var[e0]
        hi = lo
        for e in range(e0 + 1, e1):
            lo = min(lo, w.edge_var[e])
            hi = max(hi, w.edge_var[e])
        ok = True
        for e in range(e0, e1):
            v = w.edge_var[e]
            if (v != lo and has_in[v]) or (v != hi and has_out[v]):
                ok = False
                break
        if not ok:
            continue
        for e in range(e0, e1):
            v = w.edge_var[e]
            if v != lo:
                has_in[v] = True
            if v != hi:
                has_out[v] = True
        member[f] = True
        taken += 1
    return taken


@njit(**JIT_INLINE)
def _var_update(v, w, rho, unary, msg_f2v, msg_v2f, belief):
    """``b_v = unary_v + sum_f rho_f m_{f->v}`` and ``n_{v->f} = b_v - m_{f->v}`` (+inf where ``b_v`` is +inf)."""
    k = w.var_states[v]
    s0 = w.var_state_ptr[v]
    p0 = w.var_edge_ptr[v]
    p1 = w.var_edge_ptr[v + 1]
    for x in range(k):
        belief[s0 + x] = unary[s0 + x]
    for p in range(p0, p1):
        e = w.var_edges[p]
        m = w.edge_state_ptr[e]
        r = rho[w.edge_factor[e]]
        for x in range(k):
            belief[s0 + x] += r * msg_f2v[m + x]
    for p in range(p0, p1):
        m = w.edge_state_ptr[w.var_edges[p]]
        for x in range(k):
            b = belief[s0 + x]
            msg_v2f[m + x] = INF if b == INF else b - msg_f2v[m + x]


@njit(**JIT_INLINE)
def _earlier(e, v, forward, w):
    """Whether the factor of edge ``e`` (at variable ``v``, arity >= 2) has a variable before ``v`` in the pass."""
    f = w.edge_factor[e]
    e0 = w.factor_edge_ptr[f]
    e1 = w.factor_edge_ptr[f + 1]
    if e1 - e0 == 2:
        return (w.edge_var[2 * e0 + 1 - e] < v) == forward
    for e2 in range(e0, e1):
        u = w.edge_var[e2]
        if u != v and (u < v) == forward:
            return True
    return False


@njit(**JIT_LOOP)
def _graph_pass(lo, hi, forward, w, rho, unary, beta, etables, block_min, tol, msg_f2v, msg_v2f, belief, new, buf,
                scratch):
    """One pass over the variables ``lo .. hi - 1`` (forward: increasing ids); returns the largest message change.

    (Exact when it exceeds ``tol``, else some value <= ``tol``: see
    :func:`.messages._message_change`.) At each variable the fresh messages
    are computed into ``buf`` (length >= the largest state count; pairwise
    factors) or ``new`` (shaped like the messages, at the edge's place:
    higher-order factors), and the belief follows each one by ``rho_f (new -
    old)``, summed afresh from the unary and every message when a +inf is
    involved (no branch in the state loop: ``0 * (new - old)`` is NaN exactly
    then, and the fastmath flags of :mod:`._jit` keep NaN semantics). Only
    the messages ``n_{v->f}`` that this pass still reads are written: not
    those to a pairwise factor whose other variable came before (the next
    pass, in the other direction, rewrites them first) nor to one-variable
    factors, so after a pass ``msg_v2f`` and the summed ``belief`` are brought
    back in line by :func:`_var_update` over the graph (as :func:`_iterations`
    does at its end). ``scratch``: length >= 3 x the
    largest state count.
    """
    d = 0.0
    for i in range(hi - lo):
        v = lo + i if forward else hi - 1 - i
        k = w.var_states[v]
        s0 = w.var_state_ptr[v]
        p0 = w.var_edge_ptr[v]
        p1 = w.var_edge_ptr[v + 1]
        resum = False
        for p in range(p0, p1):
            e = w.var_edges[p]
            f = w.edge_factor[e]
            e0 = w.factor_edge_ptr[f]
            arity = w.factor_edge_ptr[f + 1] - e0
            if arity < 2 or not _earlier(e, v, forward, w):
                continue
            m = w.edge_state_ptr[e]
            if arity == 2:
                if w.block_potts[w.factor_block[f]]:
                    _potts_message_at(f, e - e0, w, beta, msg_v2f, buf, 0, scratch)
                else:
                    _pair_message_at(f, e - e0, w, beta, etables, block_min, msg_v2f, buf, 0, scratch)
            else:
                _factor_message(f, e - e0, w, beta, etables, block_min, msg_v2f, new, scratch)
                for x in range(k):
                    buf[x] = new[m + x]
            c = 0.0 if beta == INF else _change_at(buf, 0, msg_f2v, m, k, beta, max(d, tol), scratch)
            r = rho[f]
            c_inf = 0.0
            bad = 0.0
            for x in range(k):
                a = buf[x]
                t = a - msg_f2v[m + x]        # NaN (both +inf) or +-inf when a +inf is involved
                at = abs(t)
                c_inf = at if at > c_inf else c_inf   # the min-sum change: NaN (no change) is skipped
                bad += 0.0 * t                        # NaN exactly when a +inf is involved
                belief[s0 + x] += r * t
                msg_f2v[m + x] = a
            if beta == INF:
                c = c_inf
            if c > d:
                d = c
            if bad != bad:
                resum = True
        if resum:
            _var_update(v, w, rho, unary, msg_f2v, msg_v2f, belief)
            continue
        for p in range(p0, p1):
            e = w.var_edges[p]
            f = w.edge_factor[e]
            arity = w.factor_edge_ptr[f + 1] - w.factor_edge_ptr[f]
            if arity == 1 or (arity == 2 and _earlier(e, v, forward, w)):
                continue
            m = w.edge_state_ptr[e]
            for x in range(k):
                b = belief[s0 + x]
                msg_v2f[m + x] = INF if b == INF else b - msg_f2v[m + x]
    return d


@njit(**JIT_PARALLEL)
def _start(w, rho, unary, msg_f2v, msg_v2f, belief):
    """Messages of the one-variable factors (their tables, constant), 0 for the others; every belief and ``n``."""
    n_factors = len(w.factor_edge_ptr) - 1
    for f in prange(n_factors):
        e0 = w.factor_edge_ptr[f]
        if w.factor_edge_ptr[f + 1] - e0 == 1:
            _unary_message(f, w, msg_f2v)
        else:
            for e in range(e0, w.factor_edge_ptr[f + 1]):
                for s in range(w.edge_state_ptr[e], w.edge_state_ptr[e + 1]):
                    msg_f2v[s] = 0.0
    for v in prange(len(w.var_states)):
        _var_update(v, w, rho, unary, msg_f2v, msg_v2f, belief)


@njit(**JIT_PARALLEL)
def _iterations(w, rho, unary, beta, etables, block_min, tol, n_iter, graph_var_ptr, active, msg_f2v, msg_v2f,
                belief, iters, delta):
    """Up to ``n_iter`` iterations (forward + backward pass) of every graph ``g`` with ``active[g]``, in parallel.

    A graph stops early when an iteration's largest message change is <=
    ``tol``; ``iters[g]`` counts the iterations run (added to), ``delta[g]``
    is the last iteration's change.
    """
    new = np.empty_like(msg_f2v)
    width = np.max(w.var_states) if len(w.var_states) else 1
    for g in prange(len(graph_var_ptr) - 1):
        if not active[g]:
            continue
        lo = graph_var_ptr[g]
        hi = graph_var_ptr[g + 1]
        buf = np.empty(width)
        scratch = np.empty(3 * width)
        d = 0.0
        for it in range(n_iter):
            d = _graph_pass(lo, hi, True, w, rho, unary, beta, etables, block_min, tol, msg_f2v, msg_v2f, belief,
                            new, buf, scratch)
            d = max(d, _graph_pass(lo, hi, False, w, rho, unary, beta, etables, block_min, tol, msg_f2v, msg_v2f,
                                   belief, new, buf, scratch))
            iters[g] += 1
            if d <= tol:
                break
        delta[g] = d
        for v in range(lo, hi):     # exact beliefs (no drift from the incremental updates) and every n_{v->f}
            _var_update(v, w, rho, unary, msg_f2v, msg_v2f, belief)


@njit(**JIT_LOOP)
def _chain_decode_range(lo, hi, w, rho, unary, msg_f2v, state, cost):
    """TRW-S's sequential decode of the variables ``lo .. hi - 1`` (one graph), in id order, into ``state``.

    Each variable takes the state minimising its unary plus, per factor, the
    table entry given the variables already decoded when all its other
    variables come earlier, else the reweighted message ``rho_f m_{f->v}``
    (ties: the lowest state). ``w`` is the unscaled wiring (the model's own
    tables); ``cost``: length >= the largest state count.
    """
    for v in range(lo, hi):
        k = w.var_states[v]
        s0 = w.var_state_ptr[v]
        for x in range(k):
            cost[x] = unary[s0 + x]
        for p in range(w.var_edge_ptr[v], w.var_edge_ptr[v + 1]):
            e = w.var_edges[p]
            f = w.edge_factor[e]
            e0 = w.factor_edge_ptr[f]
            e1 = w.factor_edge_ptr[f + 1]
            decoded = True
            base = 0
            for e2 in range(e0, e1):
                if e2 != e:
                    u = w.edge_var[e2]
                    if u > v:
                        decoded = False
                        break
                    base += w.edge_stride[e2] * state[u]
            if decoded:
                t0 = w.block_ptr[w.factor_block[f]] + base
                st = w.edge_stride[e]
                for x in range(k):
                    cost[x] += w.tables[t0 + st * x]
            else:
                m = w.edge_state_ptr[e]
                r = rho[f]
                for x in range(k):
                    cost[x] += r * msg_f2v[m + x]
        best = 0
        for x in range(1, k):
            if cost[x] < cost[best]:
                best = x
        if cost[best] == INF:       # every state forbidden given the past: the first the evidence allows
            for x in range(k):
                if unary[s0 + x] < INF:
                    best = x
                    break
        state[v] = best


@njit(**JIT_PARALLEL)
def _chain_decode(w, rho, unary, msg_f2v, graph_var_ptr, state):
    """:func:`_chain_decode_range` of every graph of the batch, in parallel."""
    width = np.max(w.var_states) if len(w.var_states) else 1
    for g in prange(len(graph_var_ptr) - 1):
        cost = np.empty(width)
        _chain_decode_range(graph_var_ptr[g], graph_var_ptr[g + 1], w, rho, unary, msg_f2v, state, cost)

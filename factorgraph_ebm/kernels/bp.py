"""Belief propagation sweeps: flooding (loopy); the tree schedule is in :mod:`.trees`.

One kernel family for every beta: ``beta = inf`` is min-sum, finite ``beta`` is
sum-product at that inverse temperature. Work per flooding iteration is
``sum over factors of arity * table size`` (``2 K^2`` per pairwise factor).

The messages of one factor or one variable (and the measure of their change)
are the inline helpers of :mod:`.messages`; this module holds what the
flooding schedule, the Bethe free energy and factor marginals build from
them, and the exp-space tables (:func:`_exp_tables`) the pairwise
sum-product messages read. The factor half of a flooding iteration
(:func:`.pairwise._flood_factors`, fused for pairwise factors) is in :mod:`.pairwise`.
"""

import numpy as np
from numba import prange

from ._jit import JIT, JIT_LOOP, JIT_PARALLEL, njit
from .messages import INF, TINY, _factor_costs, _pair_weights, _unary_message, _var_messages
from .pairwise import _flood_factors


def _exp_tables(w, beta):
    """``exp(-beta (T - block_min))`` for the entries of every pairwise table, and ``block_min`` per block.

    Only pairwise factors read ``etables`` (their sum-product messages and
    marginals work in exp space), so other blocks (per-position emission
    tables, higher-arity tables) are left unset (``np.empty`` leaves untouched
    pages unmapped, so emission tables cost nothing here). Returns
    ``(etables, block_min)``; zeros at beta = inf (unused by min-sum).
    """
    block_min = np.zeros(len(w.block_ptr) - 1)
    if beta == INF:
        return np.zeros(len(w.tables)), block_min
    etables = np.empty(len(w.tables))
    _fill_exp_tables(w, beta, np.zeros(len(block_min), dtype=np.bool_), etables, block_min)
    return etables, block_min


@njit(**JIT_LOOP)
def _fill_exp_tables(w, beta, pairwise, etables, block_min):
    """The loops of :func:`_exp_tables`; ``pairwise`` (n_blocks,) bool is work space (all False)."""
    half = len(w.tables) // 2
    for f in range(len(w.factor_block)):
        if w.factor_edge_ptr[f + 1] - w.factor_edge_ptr[f] == 2:
            pairwise[w.factor_block[f]] = True
    for b in range(len(block_min)):
        if not pairwise[b]:
            continue
        lo = INF
        for t in range(w.block_ptr[b], w.block_ptr[b + 1]):
            lo = min(lo, w.tables[t])
        if lo == INF:
            lo = 0.0
        block_min[b] = lo
        for t in range(w.block_ptr[b], w.block_ptr[b + 1]):
            etables[t] = np.exp(-beta * (w.tables[t] - lo))
            etables[half + t] = np.exp(-beta * (w.tables[half + t] - lo))


@njit(**JIT_PARALLEL)
def _probabilities(costs, ptr, beta, out):
    """Normalise consecutive cost tables ``costs[ptr[i]:ptr[i + 1]]`` into probabilities at ``out``.

    ``p ∝ exp(-beta (c - min c))``; at beta = inf uniform over the minima; a
    table that is +inf everywhere gets zeros.
    """
    for i in prange(len(ptr) - 1):
        a = ptr[i]
        b = ptr[i + 1]
        lo = INF
        for t in range(a, b):
            lo = min(lo, costs[t])
        if lo == INF:
            for t in range(a, b):
                out[t] = 0.0
            continue
        z = 0.0
        for t in range(a, b):
            if beta == INF:
                out[t] = 1.0 if costs[t] == lo else 0.0
            else:
                out[t] = np.exp(-beta * (costs[t] - lo))
            z += out[t]
        for t in range(a, b):
            out[t] /= z


#: Tasks of :func:`_sweep`: the phases of a flooding iteration and the Bethe terms.
UNARY_MESSAGES, VAR_MESSAGES, FACTOR_MESSAGES, BETHE_FACTORS, BETHE_VARS = 0, 1, 2, 3, 4



@njit(**JIT_LOOP)
def _bethe_factor_terms(lo, hi, w, beta, etables, block_min, msg_v2f, fterm, costs):
    """``<T_f>_{b_f} - H(b_f) / beta`` of the factors ``lo .. hi - 1``, at ``fterm[f]``.

    Pairwise factors take the exp-space path (:func:`_pair_weights`), where
    ``<T> - H/beta = C - <m0 + m1> - log(z)/beta`` needs no exponential per entry.
    ``costs``: work array of at least the largest table size + 2 x the largest state count.
    """
    for f in range(lo, hi):
        b = w.factor_block[f]
        t0 = w.block_ptr[b]
        size = w.block_ptr[b + 1] - t0
        e0 = w.factor_edge_ptr[f]
        if w.factor_edge_ptr[f + 1] - e0 == 2:
            z, cst = _pair_weights(f, w, beta, etables, block_min, msg_v2f, costs)
            if z > TINY:
                m0 = w.edge_state_ptr[e0]
                m1 = w.edge_state_ptr[e0 + 1]
                k0 = w.var_states[w.edge_var[e0]]
                k1 = w.var_states[w.edge_var[e0 + 1]]
                acc = 0.0
                for i in range(k0):
                    q0 = msg_v2f[m0 + i]
                    for j in range(k1):
                        pt = costs[i * k1 + j]
                        if pt > 0.0:
                            acc += pt * (q0 + msg_v2f[m1 + j])
                fterm[f] = cst - acc / z - np.log(z) / beta
                continue
        _factor_costs(f, w, msg_v2f, costs, 0)
        lo_cost = INF
        for t in range(size):
            lo_cost = min(lo_cost, costs[t])
        if lo_cost == INF:
            fterm[f] = INF
            continue
        # <T> - H/beta = sum_t p_t (T_t + log p_t / beta), p_t = exp(-beta (c_t - lo)) / z
        z = 0.0
        acc = 0.0
        for t in range(size):
            if costs[t] < INF:
                d = costs[t] - lo_cost
                p = np.exp(-beta * d)
                z += p
                acc += p * (w.tables[t0 + t] - d)
        fterm[f] = acc / z - np.log(z) / beta


@njit(**JIT_LOOP)
def _bethe_var_terms(lo, hi, w, unary, beta, belief, vterm):
    """``<U_v>_{b_v} + (d_v - 1) H(b_v) / beta`` of the variables ``lo .. hi - 1``, at ``vterm[v]``.

    A variable whose belief is +inf everywhere gets +inf (zero partition).
    """
    for v in range(lo, hi):
        k = w.var_states[v]
        s0 = w.var_state_ptr[v]
        low = INF
        for x in range(k):
            if belief[s0 + x] < low:
                low = belief[s0 + x]
        if low == INF:
            vterm[v] = INF
            continue
        z = 0.0
        for x in range(k):
            if belief[s0 + x] < INF:
                z += np.exp(-beta * (belief[s0 + x] - low))
        logz = np.log(z)
        degree = w.var_edge_ptr[v + 1] - w.var_edge_ptr[v]
        acc = 0.0
        for x in range(k):
            if belief[s0 + x] < INF:
                r = beta * (belief[s0 + x] - low)
                p = np.exp(-r) / z
                acc += p * (unary[s0 + x] + (degree - 1) * (r + logz) / beta)
        vterm[v] = acc


@njit(**JIT_LOOP)
def _sweep_chunk(task, lo, hi, w, unary, beta, etables, block_min, damping, tol, msg_f2v, msg_v2f, belief, new,
                 node_out, scratch):
    """Task ``task`` (see :func:`_sweep`) on the nodes ``lo .. hi - 1``; returns the chunk's largest change."""
    if task == UNARY_MESSAGES:
        for f in range(lo, hi):
            if w.factor_edge_ptr[f + 1] - w.factor_edge_ptr[f] == 1:
                _unary_message(f, w, msg_f2v)
    elif task == VAR_MESSAGES:
        for v in range(lo, hi):
            _var_messages(v, w, unary, msg_f2v, msg_v2f, belief)
    elif task == FACTOR_MESSAGES:
        return _flood_factors(lo, hi, w, beta, etables, block_min, damping, tol, msg_v2f, msg_f2v, new, scratch)
    elif task == BETHE_FACTORS:
        _bethe_factor_terms(lo, hi, w, beta, etables, block_min, msg_v2f, node_out, scratch)
    else:
        _bethe_var_terms(lo, hi, w, unary, beta, belief, node_out)
    return 0.0


@njit(**JIT_PARALLEL)
def _sweep(task, n, n_chunks, w, unary, beta, etables, block_min, damping, tol, msg_f2v, msg_v2f, belief, new,
           node_out, chunk_out, scratch):
    """One task over ``n`` nodes in ``n_chunks`` contiguous chunks, in parallel.

    The one parallel loop of flooding BP and of the Bethe free energy (one
    parallel region to compile for all of them, each chunk a call of the
    serial :func:`_sweep_chunk`). Tasks: ``UNARY_MESSAGES`` (messages of the
    one-variable factors, constant), ``VAR_MESSAGES`` (every variable's
    messages and belief), ``FACTOR_MESSAGES`` (every other factor's messages,
    damped; ``chunk_out[c]`` = largest change in chunk c), ``BETHE_FACTORS`` /
    ``BETHE_VARS`` (per-node Bethe terms at ``node_out``). ``scratch``
    (n_chunks, width) is the chunks' work space: width >= 3 x the largest state
    count, and >= the largest table + 2 x the largest state count for
    ``BETHE_FACTORS`` (allocated once by the caller, not once per sweep).
    """
    # (callers pass the task as np.int64(...): a literal would compile one copy per task)
    for c in prange(n_chunks):
        chunk_out[c] = _sweep_chunk(task, c * n // n_chunks, (c + 1) * n // n_chunks, w, unary, beta, etables,
                                    block_min, damping, tol, msg_f2v, msg_v2f, belief, new, node_out, scratch[c])


@njit(**JIT)
def _sweep_chunks(w, n_threads):
    """Chunks of a :func:`_sweep`: 16 per thread (a slow thread holds up less), at most one per node."""
    return max(1, min(max(len(w.factor_edge_ptr) - 1, len(w.var_states)), 16 * n_threads))


@njit(**JIT)
def _flood(w, unary, beta, etables, block_min, damping, tol, max_iter, n_threads, msg_f2v, msg_v2f, belief):
    """Loopy BP, flooding schedule, from the messages given (updated in place).

    One-variable factors send their (constant) message once, before the loop.
    Each iteration: every variable sends (from last iteration's msg_f2v), then
    every other factor sends; new = (1 - damping) new + damping old. Stops when the
    largest message change (:func:`_message_change`) is <= ``tol`` (``delta`` is
    that change when it exceeds ``tol``, else some value <= ``tol``). Ends with a
    variable sweep, so ``msg_v2f`` and ``belief`` match the final ``msg_f2v``.

    Returns ``(n_iter, delta)``.
    """
    n_vars = len(w.var_states)
    n_factors = len(w.factor_edge_ptr) - 1
    n_chunks = _sweep_chunks(w, n_threads)
    new = np.empty_like(msg_f2v)
    scratch = np.empty((n_chunks, 3 * np.max(w.var_states)))
    none = np.empty(0)
    cdelta = np.zeros(n_chunks)
    delta = INF
    it = 0
    _sweep(np.int64(UNARY_MESSAGES), n_factors, n_chunks, w, unary, beta, etables, block_min, damping, tol, msg_f2v,
           msg_v2f, belief, new, none, cdelta, scratch)
    while it < max_iter:
        _sweep(np.int64(VAR_MESSAGES), n_vars, n_chunks, w, unary, beta, etables, block_min, damping, tol, msg_f2v,
               msg_v2f, belief, new, none, cdelta, scratch)
        _sweep(np.int64(FACTOR_MESSAGES), n_factors, n_chunks, w, unary, beta, etables, block_min, damping, tol,
               msg_f2v, msg_v2f, belief, new, none, cdelta, scratch)
        it += 1
        delta = np.max(cdelta)
        if delta <= tol:
            break
    _sweep(np.int64(VAR_MESSAGES), n_vars, n_chunks, w, unary, beta, etables, block_min, damping, tol, msg_f2v,
           msg_v2f, belief, new, none, cdelta, scratch)
    return it, delta


def _bethe_terms(w, unary, beta, etables, block_min, msg_v2f, belief, n_threads, fterm, vterm):
    """Per-node terms of the Bethe free energy (finite beta), in parallel.

    ``F = sum_f [<T_f>_{b_f} - H(b_f)/beta] + sum_v [<U_v>_{b_v} + (d_v - 1) H(b_v)/beta]``,
    exact on forests. Writes ``fterm`` (n_factors,) and ``vterm`` (n_vars,).
    A plain Python function: two calls of :func:`_sweep` (once per BP run, so
    a compiled wrapper would only add compile time).
    """
    n_vars = len(w.var_states)
    n_factors = len(w.factor_edge_ptr) - 1
    n_chunks = _sweep_chunks(w, n_threads)
    cdelta = np.zeros(n_chunks)
    max_states = int(np.max(w.var_states))
    scratch = np.empty((n_chunks, int(np.max(np.diff(w.block_ptr), initial=0)) + 2 * max_states))
    _sweep(np.int64(BETHE_FACTORS), n_factors, n_chunks, w, unary, beta, etables, block_min, 0.0, 0.0, msg_v2f, msg_v2f,
           belief, msg_v2f, fterm, cdelta, scratch)
    _sweep(np.int64(BETHE_VARS), n_vars, n_chunks, w, unary, beta, etables, block_min, 0.0, 0.0, msg_v2f, msg_v2f,
           belief, msg_v2f, vterm, cdelta, scratch)


@njit(**JIT_PARALLEL)
def _gather_costs(w, factors, msg_v2f, out, out_ptr):
    """Factor cost tables ``T + sum msg_v2f`` for the listed factors, at ``out[out_ptr[i]:]``."""
    for i in prange(len(factors)):
        _factor_costs(factors[i], w, msg_v2f, out, out_ptr[i])


@njit(**JIT_PARALLEL)
def _add_factor_marginals(w, beta, etables, block_min, msg_v2f, factor_weight, n_threads, out):
    """``out[table entry] += factor_weight[f] * P_f(entry)`` summed over the factors f using the table.

    ``P_f`` is factor f's marginal over its scope from the beliefs ``T + sum
    msg_v2f`` (at beta = inf: uniform over the minimising entries). ``out`` is in
    the table layout (first copy of ``w.tables``), so factors that share a table
    (a chain's transition matrix) add into the same entries and the
    factor-entry layout (``n_factors x table size`` floats) is never
    materialised. Factors of weight 0 are skipped; pairwise factors at finite
    beta take the exp-space path. Threads work on contiguous factor ranges,
    each with its own accumulator, summed at the end.
    """
    n_factors = len(w.factor_block)
    width = 0
    for b in range(len(w.block_ptr) - 1):
        width = max(width, w.block_ptr[b + 1] - w.block_ptr[b])
    max_states = np.max(w.var_states) if len(w.var_states) else 0
    n_chunks = max(1, min(n_threads, n_factors))
    acc = np.zeros((n_chunks - 1, len(out)))      # chunk 0 adds into out itself
    for c in prange(n_chunks):
        scratch = np.empty(width + 2 * max_states)
        mine = out if c == 0 else acc[c - 1]
        for f in range(c * n_factors // n_chunks, (c + 1) * n_factors // n_chunks):
            wf = factor_weight[f]
            if wf == 0.0:
                continue
            b = w.factor_block[f]
            t0 = w.block_ptr[b]
            size = w.block_ptr[b + 1] - t0
            z = 0.0
            if beta < INF and w.factor_edge_ptr[f + 1] - w.factor_edge_ptr[f] == 2:
                z, _ = _pair_weights(f, w, beta, etables, block_min, msg_v2f, scratch)
            if not z > TINY:
                z = 0.0
                _factor_costs(f, w, msg_v2f, scratch, 0)
                lo = INF
                for t in range(size):
                    lo = min(lo, scratch[t])
                if lo == INF:
                    continue
                if beta == INF:
                    for t in range(size):
                        scratch[t] = 1.0 if scratch[t] == lo else 0.0
                        z += scratch[t]
                else:
                    for t in range(size):
                        scratch[t] = np.exp(-beta * (scratch[t] - lo))
                        z += scratch[t]
            scale = wf / z
            for t in range(size):
                mine[t0 + t] += scale * scratch[t]
    for c in range(n_chunks - 1):
        for t in range(len(out)):
            out[t] += acc[c, t]

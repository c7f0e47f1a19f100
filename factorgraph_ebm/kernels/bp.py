"""Belief propagation sweeps: flooding (loopy) and tree (exact on forests).

One kernel family for every beta: ``beta = inf`` is min-sum, finite ``beta`` is
sum-product at that inverse temperature. Work per flooding iteration is
``sum over factors of arity * table size`` (``2 K^2`` per pairwise factor).

Messages are energies: ``msg_f2v`` (factor to variable) and ``msg_v2f``
(variable to factor), flat float64 arrays indexed by ``w.edge_state_ptr``.
Factor-to-variable messages are normalised to a minimum of 0.

``softmin_beta(e) = -(1/beta) log sum exp(-beta e)``; ``beta = inf`` is ``min``.
The pairwise sum-product path multiplies in exp space against ``etables``
(``exp(-beta (T - block_min))`` per table block), costing one exponential per
source state instead of one per table entry; a column whose sum underflows is
recomputed exactly in the log domain, so ``+inf`` stays forbidden and no NaN
appears.

Every kernel that calls these helpers lives in this one module: Numba's disk
cache keys on the caller's file only, so helpers kept elsewhere could go stale.
"""

import numpy as np
from numba import prange

from ._jit import JIT, JIT_INLINE, JIT_LOOP, JIT_PARALLEL, njit

INF = np.inf
#: Below this, an exp-space column sum may have lost terms to underflow.
TINY = 1e-280
#: :func:`_message_change`: below this span of ``beta (new - old)`` the new probabilities are
#: the old ones times a second-order expansion (relative error < SMALL_SPAN^3 / 6).
SMALL_SPAN = 1e-3


@njit(**JIT_INLINE)
def _var_messages(v, w, unary, msg_f2v, msg_v2f, belief):
    """All messages of variable ``v`` to its factors, and its belief.

    ``msg_v2f[e] = unary_v + sum of msg_f2v over v's other edges``, by a prefix
    pass and a suffix pass (additions only, so +inf is safe; O(degree * states)).
    ``belief[v] = unary_v + sum of every incoming msg_f2v``. Offsets are
    unsigned so the state loops vectorise.
    """
    k = np.uint64(w.var_states[v])
    s0 = np.uint64(w.var_state_ptr[v])
    p0 = w.var_edge_ptr[v]
    p1 = w.var_edge_ptr[v + 1]
    prev = np.uint64(0)
    for p in range(p0, p1):
        m = np.uint64(w.edge_state_ptr[w.var_edges[p]])
        if p == p0:
            for x in range(k):
                msg_v2f[m + x] = unary[s0 + x]
        else:
            for x in range(k):
                msg_v2f[m + x] = msg_v2f[prev + x] + msg_f2v[prev + x]
        prev = m
    for x in range(k):
        belief[s0 + x] = 0.0
    for p in range(p1 - 1, p0 - 1, -1):
        m = np.uint64(w.edge_state_ptr[w.var_edges[p]])
        for x in range(k):
            msg_v2f[m + x] += belief[s0 + x]
            belief[s0 + x] += msg_f2v[m + x]
    for x in range(k):
        belief[s0 + x] += unary[s0 + x]


@njit(**JIT_INLINE)
def _normalize(out, m, k):
    """Shift ``out[m:m+k]`` so its minimum is 0 (left alone when all +inf); returns the shift (0 then)."""
    lo = INF
    for x in range(k):
        if out[m + x] < lo:
            lo = out[m + x]
    if lo < INF:
        for x in range(k):
            out[m + x] -= lo
        return lo
    return 0.0


@njit(**JIT_INLINE)
def _pair_message(f, k, w, beta, etables, block_min, msg_v2f, out, scratch):
    """Message of pairwise factor ``f`` to its scope position ``k`` (0 or 1).

    Sum-product reads the table as a (target states x source states) matrix:
    the C-order copy for k = 0, the transposed copy (offset ``len(tables) // 2``)
    for k = 1; each target state is then a sum over contiguous source states,
    which LLVM vectorises. Min-sum reads the other copy, (source x target), and
    keeps four targets' minima in registers per pass over the sources (a min
    reduction does not vectorise and one chain is latency-bound). (One array plus an offset rather than
    two arrays chosen by a branch, which would cost reference counting per call.)
    Sum-product first writes the source weights ``exp(-beta (q - min q))`` to
    ``scratch`` (length >= source states).

    Returns the constant removed by normalisation: the unnormalised message
    ``softmin_beta(T + msg_v2f)`` is ``out + constant``.
    """
    e0 = w.factor_edge_ptr[f]
    et = e0 + k
    es = e0 + 1 - k
    kt = w.var_states[w.edge_var[et]]
    ks = w.var_states[w.edge_var[es]]
    mt = w.edge_state_ptr[et]
    ms = w.edge_state_ptr[es]
    b = w.factor_block[f]
    t0 = w.block_ptr[b] + (0 if k == 0 else len(w.tables) // 2)
    mat = w.tables
    # unsigned offsets in the inner loops: no negative-index wraparound, so they vectorise
    uks = np.uint64(ks)
    ums = np.uint64(ms)
    if beta == INF:
        # source-major copy (the other one): four target states per pass over the
        # sources, four independent min chains (a single chain is latency-bound)
        s0 = w.block_ptr[b] + (len(w.tables) // 2 if k == 0 else 0)
        j = 0
        while j + 4 <= kt:
            a0 = INF
            a1 = INF
            a2 = INF
            a3 = INF
            for i in range(uks):
                m = msg_v2f[ums + i]
                r = np.uint64(s0 + j) + i * np.uint64(kt)
                v0 = mat[r] + m
                v1 = mat[r + np.uint64(1)] + m
                v2 = mat[r + np.uint64(2)] + m
                v3 = mat[r + np.uint64(3)] + m
                a0 = v0 if v0 < a0 else a0
                a1 = v1 if v1 < a1 else a1
                a2 = v2 if v2 < a2 else a2
                a3 = v3 if v3 < a3 else a3
            out[mt + j] = a0
            out[mt + j + 1] = a1
            out[mt + j + 2] = a2
            out[mt + j + 3] = a3
            j += 4
        while j < kt:
            a0 = INF
            for i in range(uks):
                v0 = mat[np.uint64(s0 + j) + i * np.uint64(kt)] + msg_v2f[ums + i]
                a0 = v0 if v0 < a0 else a0
            out[mt + j] = a0
            j += 1
        return _normalize(out, mt, kt)
    qmin = INF
    for i in range(ks):
        qmin = min(qmin, msg_v2f[ms + i])
    if qmin == INF:
        for j in range(kt):
            out[mt + j] = INF
        return 0.0
    for i in range(ks):
        scratch[i] = np.exp(-beta * (msg_v2f[ms + i] - qmin))
    shift = block_min[b] + qmin
    for j in range(kt):
        base = t0 + j * ks
        ubase = np.uint64(base)
        s = 0.0
        for i in range(uks):
            s += etables[ubase + i] * scratch[i]
        if s > TINY:
            out[mt + j] = -np.log(s) / beta
            continue
        # underflow: exact log-domain row (min, then sum of shifted exponentials)
        lo = INF
        for i in range(ks):
            lo = min(lo, mat[base + i] + msg_v2f[ms + i])
        if lo == INF:
            out[mt + j] = INF
            continue
        acc = 0.0
        for i in range(ks):
            c = mat[base + i] + msg_v2f[ms + i]
            if c < INF:
                acc += np.exp(-beta * (c - lo))
        out[mt + j] = lo - np.log(acc) / beta - shift
    return _normalize(out, mt, kt) + shift


@njit(**JIT_INLINE)
def _unary_message(f, w, out):
    """Message of a one-variable factor: its table, shifted to a minimum of 0 (any beta); returns the shift."""
    e = w.factor_edge_ptr[f]
    k = w.var_states[w.edge_var[e]]
    m = w.edge_state_ptr[e]
    t0 = w.block_ptr[w.factor_block[f]]
    for x in range(k):
        out[m + x] = w.tables[t0 + x]
    return _normalize(out, m, k)


@njit(**JIT_LOOP)
def _general_message(f, k, w, beta, msg_v2f, out, scratch):
    """Message of factor ``f`` (any arity) to its scope position ``k``.

    Walks the table once per pass; sum-product uses a min pass then a sum of
    shifted exponentials, so it is exact in the log domain. Returns the
    normalisation shift.
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
        acc = scratch
        for x in range(kt):
            acc[x] = 0.0
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
    return _normalize(out, mt, kt)


@njit(**JIT_INLINE)
def _factor_message(f, k, w, beta, etables, block_min, msg_v2f, out, scratch):
    """Message of factor ``f`` to scope position ``k``: unary, pairwise or general path.

    ``scratch`` is a float64 work array of length >= the largest state count.
    Returns the constant removed by normalisation (the unnormalised message is
    ``out + constant``).
    """
    arity = w.factor_edge_ptr[f + 1] - w.factor_edge_ptr[f]
    if arity == 2:
        return _pair_message(f, k, w, beta, etables, block_min, msg_v2f, out, scratch)
    if arity == 1:
        return _unary_message(f, w, out)
    return _general_message(f, k, w, beta, msg_v2f, out, scratch)


@njit(**JIT_INLINE)
def _factor_messages(f, w, beta, etables, block_min, msg_v2f, out, scratch):
    """Every message of factor ``f`` (one inlined :func:`_factor_message` for every scope position)."""
    for k in range(w.factor_edge_ptr[f + 1] - w.factor_edge_ptr[f]):
        _factor_message(f, k, w, beta, etables, block_min, msg_v2f, out, scratch)


@njit(**JIT_INLINE)
def _factor_costs(f, w, msg_v2f, out, o0):
    """Write ``T(x) + sum_j msg_v2f_j(x_j)`` for every entry x of factor ``f`` at ``out[o0:]``."""
    e0 = w.factor_edge_ptr[f]
    e1 = w.factor_edge_ptr[f + 1]
    b = w.factor_block[f]
    t0 = w.block_ptr[b]
    size = w.block_ptr[b + 1] - t0
    if e1 - e0 == 2:  # C-order (k0, k1) table: no index arithmetic per entry
        m0 = w.edge_state_ptr[e0]
        m1 = w.edge_state_ptr[e0 + 1]
        k1 = w.var_states[w.edge_var[e0 + 1]]
        for i in range(w.var_states[w.edge_var[e0]]):
            for j in range(k1):
                t = i * k1 + j
                out[o0 + t] = w.tables[t0 + t] + msg_v2f[m0 + i] + msg_v2f[m1 + j]
        return
    for t in range(size):
        c = w.tables[t0 + t]
        if c < INF:
            for e in range(e0, e1):
                c += msg_v2f[w.edge_state_ptr[e] + (t // w.edge_stride[e]) % w.var_states[w.edge_var[e]]]
        out[o0 + t] = c


@njit(**JIT_INLINE)
def _pair_weights(f, w, beta, etables, block_min, msg_v2f, out):
    """Unnormalised probabilities of pairwise factor ``f`` in exp space, at ``out[:k0 * k1]``.

    ``out[i k1 + j] = etables[t] a_i b_j`` with ``a_i = exp(-beta (m0_i - min m0))``
    (likewise ``b``): one exponential per state instead of one per entry. This
    is ``exp(-beta (c_t - C))`` for the costs ``c = T + m0 + m1`` and
    ``C = block_min + min m0 + min m1``. Returns ``(z, C)``; ``z <= TINY`` means
    all forbidden or underflow, and the caller takes the exact log-domain path.
    ``out`` needs ``k0 k1 + k0 + k1`` entries.
    """
    e0 = w.factor_edge_ptr[f]
    m0 = w.edge_state_ptr[e0]
    m1 = w.edge_state_ptr[e0 + 1]
    k0 = w.var_states[w.edge_var[e0]]
    k1 = w.var_states[w.edge_var[e0 + 1]]
    b = w.factor_block[f]
    t0 = w.block_ptr[b]
    lo0 = INF
    for i in range(k0):
        lo0 = min(lo0, msg_v2f[m0 + i])
    lo1 = INF
    for j in range(k1):
        lo1 = min(lo1, msg_v2f[m1 + j])
    if lo0 == INF or lo1 == INF:
        return 0.0, INF
    a0 = k0 * k1
    for i in range(k0):
        out[a0 + i] = np.exp(-beta * (msg_v2f[m0 + i] - lo0))
    for j in range(k1):
        out[a0 + k0 + j] = np.exp(-beta * (msg_v2f[m1 + j] - lo1))
    z = 0.0
    for i in range(k0):
        ai = out[a0 + i]
        for j in range(k1):
            v = etables[t0 + i * k1 + j] * ai * out[a0 + k0 + j]
            out[i * k1 + j] = v
            z += v
    return z, block_min[b] + lo0 + lo1


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


def _bfs_order(w):
    """Breadth-first order of the bipartite graph, rooted at the lowest variable id per component.

    Returns
    -------
    order : (n_vars + n_factors,) int64
        Node ids: ``v`` for variable v, ``n_vars + f`` for factor f.
    parent_edge : (n_vars + n_factors,) int64
        Edge joining a node to its BFS parent, -1 for roots.
    is_forest : bool
        False when an edge closes a cycle.
    """
    n_nodes = len(w.var_states) + len(w.factor_edge_ptr) - 1
    order = np.empty(n_nodes, dtype=np.int64)
    parent_edge = np.full(n_nodes, -1, dtype=np.int64)
    is_forest = _fill_bfs_order(w, order, parent_edge, np.zeros(n_nodes, dtype=np.bool_))
    return order, parent_edge, bool(is_forest)


@njit(**JIT_LOOP)
def _fill_bfs_order(w, order, parent_edge, seen):
    """The search of :func:`_bfs_order` into ``order`` and ``parent_edge`` (all -1); returns is_forest."""
    n_vars = len(w.var_states)
    is_forest = True
    head = 0
    tail = 0
    for r in range(n_vars):
        if seen[r]:
            continue
        seen[r] = True
        order[tail] = r
        tail += 1
        while head < tail:
            node = order[head]
            head += 1
            if node < n_vars:
                for p in range(w.var_edge_ptr[node], w.var_edge_ptr[node + 1]):
                    e = w.var_edges[p]
                    if e == parent_edge[node]:
                        continue
                    g = n_vars + w.edge_factor[e]
                    if seen[g]:
                        is_forest = False
                        continue
                    seen[g] = True
                    parent_edge[g] = e
                    order[tail] = g
                    tail += 1
            else:
                f = node - n_vars
                for e in range(w.factor_edge_ptr[f], w.factor_edge_ptr[f + 1]):
                    if e == parent_edge[node]:
                        continue
                    u = w.edge_var[e]
                    if seen[u]:
                        is_forest = False
                        continue
                    seen[u] = True
                    parent_edge[u] = e
                    order[tail] = u
                    tail += 1
    return is_forest


@njit(**JIT_LOOP)
def _tree_range(w, unary, beta, etables, block_min, order, parent_edge, lo, hi, msg_f2v, msg_v2f, belief,
                inward, scratch):
    """Inward then outward pass over ``order[lo:hi]``, a run of whole trees.

    ``inward[f]`` receives the constant removed from factor f's message to its
    parent: a tree's free energy is the sum of these plus the softmin of its
    root's belief. ``scratch``: work array, length >= the largest state count.
    """
    n_vars = len(w.var_states)
    n = hi - lo
    # one loop for both passes (steps 0 .. n-1 inward, n .. 2n-1 outward): each helper is inlined once
    for step in range(2 * n):
        towards_root = step < n
        node = order[hi - 1 - step if towards_root else lo + step - n]
        if node < n_vars:
            _var_messages(node, w, unary, msg_f2v, msg_v2f, belief)
            continue
        f = node - n_vars
        e0 = w.factor_edge_ptr[f]
        kp = parent_edge[node] - e0
        for k in range(w.factor_edge_ptr[f + 1] - e0):
            if (k == kp) == towards_root:
                shed = _factor_message(f, k, w, beta, etables, block_min, msg_v2f, msg_f2v, scratch)
                if towards_root:
                    inward[f] = shed


@njit(**JIT_PARALLEL)
def _tree_pass(w, unary, beta, etables, block_min, order, parent_edge, n_threads, msg_f2v, msg_v2f, belief,
               inward):
    """One inward and one outward pass along ``order``: exact on a forest.

    ``order`` lists each tree (connected component) as one contiguous run that
    starts at its root, so runs of whole trees (a batch of sentences) are
    independent: threads take contiguous ranges of trees of about equal size.
    """
    n_vars = len(w.var_states)
    n = len(order)
    is_root = np.zeros(n + 1, dtype=np.bool_)
    for i in range(n):
        is_root[i] = order[i] < n_vars and parent_edge[order[i]] < 0
    is_root[n] = True
    roots = np.flatnonzero(is_root)
    n_chunks = max(1, min(n_threads, len(roots) - 1))
    bounds = np.empty(n_chunks + 1, dtype=np.int64)
    for c in range(n_chunks):
        bounds[c] = roots[np.searchsorted(roots, c * n // n_chunks)]
    bounds[0] = 0
    bounds[n_chunks] = n
    scratch = np.empty((n_chunks, np.max(w.var_states)))
    for c in prange(n_chunks):
        _tree_range(w, unary, beta, etables, block_min, order, parent_edge, bounds[c], bounds[c + 1],
                    msg_f2v, msg_v2f, belief, inward, scratch[c])


#: Tasks of :func:`_sweep`: the phases of a flooding iteration and the Bethe terms.
UNARY_MESSAGES, VAR_MESSAGES, FACTOR_MESSAGES, BETHE_FACTORS, BETHE_VARS = 0, 1, 2, 3, 4


@njit(**JIT_INLINE)
def _message_change(new, old, m, k, beta, floor, scratch):
    """Change between the messages ``new[m:m+k]`` and ``old[m:m+k]``: the measure behind ``tol``.

    Finite beta: ``max_x |p_new(x) - p_old(x)|`` with each message read as a
    probability vector, ``p(x) = exp(-beta m(x)) / sum`` (an all-+inf message
    is all zeros), so it lies in [0, 1], does not depend on the state count
    or on a constant added to either message, and ignores energy moves of
    states that carry no probability. beta = inf (min-sum): ``max_x |new(x) -
    old(x)|`` of the min-normalised energies (+inf when an entry changes
    between finite and +inf, 0 where both are +inf).

    The exact finite-beta value costs ``2 k`` exponentials (2 for two states);
    it is computed only when the cheap bound ``beta (max_x d(x) - min_x d(x)) / 4``,
    ``d = new - old``, exceeds ``floor``; otherwise 0 is returned. (The bound:
    along ``p_t ∝ p_old exp(-t beta d)``, ``|dp_t(x)/dt| <= p_t(x) (1 - p_t(x))
    beta span(d) <= beta span(d) / 4``.) So ``max(floor, result)`` is exact:
    callers pass the largest change seen so far, or ``tol`` when only changes
    above it matter. ``scratch``: work array of length >= ``2 k``.
    """
    if beta == INF:
        d = 0.0
        for x in range(k):
            a = new[m + x]
            b = old[m + x]
            if a != b:
                if a == INF or b == INF:
                    return INF
                d = max(d, abs(a - b))
        return d
    hi = -INF
    lo = INF
    n_finite = 0
    mixed = False
    for x in range(k):
        a = new[m + x]
        b = old[m + x]
        if a == INF and b == INF:
            continue
        if a == INF or b == INF:
            mixed = True
            continue
        n_finite += 1
        dx = a - b
        hi = max(hi, dx)
        lo = min(lo, dx)
    if not mixed and (n_finite == 0 or not 0.25 * beta * (hi - lo) > floor):
        return 0.0
    if k == 2 and not mixed and n_finite == 2:
        # two states: p(0) = 1 / (1 + exp(-beta (m1 - m0))), one exponential per message
        pa = 1.0 / (1.0 + np.exp(-beta * (new[m + 1] - new[m])))
        pb = 1.0 / (1.0 + np.exp(-beta * (old[m + 1] - old[m])))
        return abs(pa - pb)
    lo_b = INF
    for x in range(k):
        lo_b = min(lo_b, old[m + x])
    za = 0.0
    zb = 0.0
    if not mixed and beta * (hi - lo) < SMALL_SPAN:
        # near a fixed point: p_new ∝ p_old exp(-t), t = beta (d - min d) in [0, span], to second order
        # (relative error < span^3 / 6): k exponentials instead of 2 k
        for x in range(k):
            if old[m + x] == INF:
                scratch[x] = 0.0
                scratch[k + x] = 0.0
                continue
            pb = np.exp(-beta * (old[m + x] - lo_b))
            t = beta * (new[m + x] - old[m + x] - lo)
            pa = pb * (1.0 - t + 0.5 * t * t)
            scratch[x] = pa
            scratch[k + x] = pb
            za += pa
            zb += pb
        d = 0.0
        for x in range(k):
            d = max(d, abs(scratch[x] / za - scratch[k + x] / zb))
        return d
    lo_a = INF
    for x in range(k):
        lo_a = min(lo_a, new[m + x])
    for x in range(k):
        pa = np.exp(-beta * (new[m + x] - lo_a)) if new[m + x] < INF else 0.0
        pb = np.exp(-beta * (old[m + x] - lo_b)) if old[m + x] < INF else 0.0
        scratch[x] = pa
        scratch[k + x] = pb
        za += pa
        zb += pb
    za = 1.0 / za if za > 0.0 else 0.0
    zb = 1.0 / zb if zb > 0.0 else 0.0
    d = 0.0
    for x in range(k):
        d = max(d, abs(scratch[x] * za - scratch[k + x] * zb))
    return d


@njit(**JIT_INLINE)
def _settle(new, old, m, k, damping, beta, floor, scratch):
    """Damp the fresh message ``new[m:m+k]`` towards ``old``, then return its change (:func:`_message_change`).

    ``new = (1 - damping) new + damping old`` entry-wise where both are
    finite (an entry turning +inf or finite is taken as is), renormalised to a
    minimum of 0, so every stored message is min-normalised.
    """
    if damping > 0.0:
        for x in range(k):
            a = new[m + x]
            b = old[m + x]
            if a < INF and b < INF:
                new[m + x] = (1.0 - damping) * a + damping * b
        _normalize(new, m, k)
    return _message_change(new, old, m, k, beta, floor, scratch)


@njit(**JIT_LOOP)
def _flood_factors(lo, hi, w, beta, etables, block_min, damping, tol, msg_v2f, msg_f2v, new, scratch):
    """Flooding update of the factors ``lo .. hi - 1`` (one-variable factors skipped), damped.

    Returns the largest message change (:func:`_message_change`) when it
    exceeds ``tol``, else a value <= ``tol`` (changes whose cheap bound is
    <= tol are not computed exactly). ``scratch``: length >= 2 x the largest
    state count.
    """
    d = 0.0
    for f in range(lo, hi):
        e0 = w.factor_edge_ptr[f]
        e1 = w.factor_edge_ptr[f + 1]
        if e1 - e0 == 1:
            continue
        _factor_messages(f, w, beta, etables, block_min, msg_v2f, new, scratch)
        for e in range(e0, e1):
            m = w.edge_state_ptr[e]
            k = w.edge_state_ptr[e + 1] - m
            c = _settle(new, msg_f2v, m, k, damping, beta, max(d, tol), scratch)
            if c > d:
                d = c
            for x in range(k):
                msg_f2v[m + x] = new[m + x]
    return d


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
    (n_chunks, width) is the chunks' work space: width >= 2 x the largest state
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
    scratch = np.empty((n_chunks, 2 * np.max(w.var_states)))
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


def _decode(w, belief, msg_v2f, order, parent_edge):
    """Assignment minimising the beliefs, decoded along ``order``.

    Each root takes its lowest-belief state; each factor, reached from its
    parent variable, gives its still-free variables the joint state minimising
    ``T + sum msg_v2f`` with the decided ones fixed (first minimum in table
    order). On a forest after min-sum this is exact backtracking, whatever the
    ties. Returns int64 states, -1 where a variable has no finite belief.
    """
    state = np.full(len(w.var_states), -1, dtype=np.int64)
    _fill_decode(w, belief, msg_v2f, order, parent_edge, state)
    return state


@njit(**JIT_LOOP)
def _fill_decode(w, belief, msg_v2f, order, parent_edge, state):
    """The decoding loop of :func:`_decode`, into ``state`` (all -1 on entry)."""
    n_vars = len(w.var_states)
    for i in range(len(order)):
        node = order[i]
        if node < n_vars:
            if state[node] >= 0:
                continue
            s0 = w.var_state_ptr[node]
            lo = INF
            for x in range(w.var_states[node]):
                if belief[s0 + x] < lo:
                    lo = belief[s0 + x]
                    state[node] = x
            continue
        f = node - n_vars
        e0 = w.factor_edge_ptr[f]
        e1 = w.factor_edge_ptr[f + 1]
        b = w.factor_block[f]
        t0 = w.block_ptr[b]
        size = w.block_ptr[b + 1] - t0
        n_free = 0
        for e in range(e0, e1):
            if state[w.edge_var[e]] < 0:
                n_free += 1
        if n_free == 0:
            continue
        if e1 - e0 == 2 and n_free == 1:
            # pairwise, one end decided: scan the free end's states only (C-order table)
            free = e0 if state[w.edge_var[e0]] < 0 else e0 + 1
            u = w.edge_var[free]
            s = state[w.edge_var[2 * e0 + 1 - free]]
            k1 = w.var_states[w.edge_var[e0 + 1]]
            m = w.edge_state_ptr[free]
            best = INF
            for x in range(w.var_states[u]):
                c = w.tables[t0 + (s * k1 + x if free == e0 + 1 else x * k1 + s)] + msg_v2f[m + x]
                if c < best:
                    best = c
                    state[u] = x
            continue
        best = INF
        best_t = -1
        for t in range(size):
            c = w.tables[t0 + t]
            if c == INF:
                continue
            ok = True
            for e in range(e0, e1):
                x = (t // w.edge_stride[e]) % w.var_states[w.edge_var[e]]
                s = state[w.edge_var[e]]
                if s >= 0:
                    if s != x:
                        ok = False
                        break
                else:
                    c += msg_v2f[w.edge_state_ptr[e] + x]
            if ok and c < best:
                best = c
                best_t = t
        if best_t < 0:
            continue
        for e in range(e0, e1):
            u = w.edge_var[e]
            if state[u] < 0:
                state[u] = (best_t // w.edge_stride[e]) % w.var_states[u]


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

"""Tree schedule: exact BP on forests by an inward and an outward pass, and decoding by backtracking.

The breadth-first order of :func:`_bfs_order` lists each tree (connected
component) as one contiguous run starting at its root; the inward pass walks
it backwards (leaves to root), the outward pass forwards. ``passes`` picks
:data:`INWARD`, :data:`OUTWARD` (from the messages of an earlier inward pass)
or :data:`BOTH`. After the inward pass alone, every variable's message to its
parent factor and each root's belief are final, which is all the free energy
(sum of the inward constants plus the root's softmin) and MAP backtracking
(:func:`_decode`) read; the outward pass is only needed for marginals.

Pairwise min-sum messages use this module's own helper (:func:`_tree_min_message`):
the source-major table copy, one source state at a time, an element-wise min over the
contiguous target states (vectorised). Other messages are the helpers of :mod:`.messages`.
"""

import numpy as np
from numba import prange

from ._jit import JIT_INLINE, JIT_LOOP, JIT_PARALLEL, njit
from .messages import INF, TINY, _factor_message, _var_messages

#: ``passes`` of :func:`_tree_pass`: leaves to roots, roots to leaves (after an inward pass), both.
INWARD, OUTWARD, BOTH = 1, 2, 3

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


@njit(**JIT_INLINE)
def _tree_var_inward(v, pe, w, unary, msg_f2v, msg_v2f, belief):
    """Inward step of variable ``v`` (parent edge ``pe``, -1 for a root).

    A non-root sends its parent factor ``unary_v + sum of msg_f2v from its
    children``; a root gets its belief (every incoming message is final).
    Nothing else is written: its messages to its children come in the
    outward pass.
    """
    k = np.uint64(w.var_states[v])
    s0 = np.uint64(w.var_state_ptr[v])
    dst = belief if pe < 0 else msg_v2f
    d0 = s0 if pe < 0 else np.uint64(w.edge_state_ptr[pe])
    for x in range(k):
        dst[d0 + x] = unary[s0 + x]
    for p in range(w.var_edge_ptr[v], w.var_edge_ptr[v + 1]):
        e = w.var_edges[p]
        if e == pe:
            continue
        m = np.uint64(w.edge_state_ptr[e])
        for x in range(k):
            dst[d0 + x] += msg_f2v[m + x]


@njit(**JIT_INLINE)
def _tree_min_message(f, k, w, msg_v2f, out):
    """Min-sum message of pairwise factor ``f`` to scope position ``k``, normalised; returns the shift.

    Reads the source-major table copy (rows = source states): for each
    source state an element-wise min over the contiguous target states,
    which vectorises (no min reduction in the inner loop), four source
    states per pass.
    """
    e0 = w.factor_edge_ptr[f]
    et = e0 + k
    es = e0 + 1 - k
    kt = w.var_states[w.edge_var[et]]
    ks = w.var_states[w.edge_var[es]]
    mt = w.edge_state_ptr[et]
    ms = w.edge_state_ptr[es]
    s0 = w.block_ptr[w.factor_block[f]] + (len(w.tables) // 2 if k == 0 else 0)
    mat = w.tables
    ukt = np.uint64(kt)
    umt = np.uint64(mt)
    for j in range(ukt):
        out[umt + j] = INF
    # four source rows per pass over the targets: a quarter of the loads and stores of ``out``
    i = 0
    while i + 4 <= ks:
        m0 = msg_v2f[ms + i]
        m1 = msg_v2f[ms + i + 1]
        m2 = msg_v2f[ms + i + 2]
        m3 = msg_v2f[ms + i + 3]
        r0 = np.uint64(s0 + i * kt)
        r1 = r0 + ukt
        r2 = r1 + ukt
        r3 = r2 + ukt
        for j in range(ukt):
            c0 = mat[r0 + j] + m0
            c1 = mat[r1 + j] + m1
            c2 = mat[r2 + j] + m2
            c3 = mat[r3 + j] + m3
            c0 = c1 if c1 < c0 else c0
            c2 = c3 if c3 < c2 else c2
            c0 = c2 if c2 < c0 else c0
            o = out[umt + j]
            out[umt + j] = c0 if c0 < o else o
        i += 4
    while i < ks:
        m0 = msg_v2f[ms + i]
        r0 = np.uint64(s0 + i * kt)
        for j in range(ukt):
            c0 = mat[r0 + j] + m0
            o = out[umt + j]
            out[umt + j] = c0 if c0 < o else o
        i += 1
    return _tree_normalize(out, mt, kt)


@njit(**JIT_INLINE)
def _min4(a, m, k):
    """Minimum of ``a[m:m+k]`` with four independent minima (a single min chain is latency-bound)."""
    l0 = INF
    l1 = INF
    l2 = INF
    l3 = INF
    x = 0
    while x + 4 <= k:
        a0 = a[m + x]
        a1 = a[m + x + 1]
        a2 = a[m + x + 2]
        a3 = a[m + x + 3]
        l0 = a0 if a0 < l0 else l0
        l1 = a1 if a1 < l1 else l1
        l2 = a2 if a2 < l2 else l2
        l3 = a3 if a3 < l3 else l3
        x += 4
    while x < k:
        a0 = a[m + x]
        l0 = a0 if a0 < l0 else l0
        x += 1
    l0 = l1 if l1 < l0 else l0
    l2 = l3 if l3 < l2 else l2
    return l2 if l2 < l0 else l0


@njit(**JIT_INLINE)
def _tree_normalize(out, m, k):
    """:func:`.messages._normalize` with the minimum of :func:`_min4`."""
    lo = _min4(out, m, k)
    if lo < INF:
        um = np.uint64(m)
        for x in range(np.uint64(k)):
            out[um + x] -= lo
        return lo
    return 0.0


# --- vectorisable exp and log (no SVML: np.exp / np.log are scalar calls, 5 ns each, most of a
# sum-product tree pass). Bit patterns move through a float64 work array and its int64 view.
_LOG2E = 1.4426950408889634
_LN2_HI = 0.6931471803691238       # ln 2 = _LN2_HI + _LN2_LO, _LN2_HI with 32 significant bits
_LN2_LO = 1.9082149292705877e-10
_SQRT2 = 1.4142135623730951
#: Below this, exp underflows towards subnormals: :func:`_vexp` returns 0 (the callers' sums treat
#: anything under ``messages.TINY`` as underflow and recompute exactly).
_EXP_MIN = -708.0


@njit(**JIT_INLINE)
def _vexp(buf, a, n, fb, ib, b):
    """``buf[a:a+n] = exp(buf[a:a+n])`` for arguments <= 0 (-inf gives 0), to about 2 ulp.

    ``fb`` / ``ib``: one work array seen as float64 and as int64, ``n``
    entries from ``b``. 2^k by its bit pattern, exp(r), |r| <= ln2/2, by a
    degree-13 Taylor polynomial. Arguments below :data:`_EXP_MIN` give 0.
    """
    ua = np.uint64(a)
    ub = np.uint64(b)
    for i in range(np.uint64(n)):
        x = buf[ua + i]
        low = x < _EXP_MIN
        x = _EXP_MIN if low else x
        kf = np.floor(x * _LOG2E + 0.5)
        r = (x - kf * _LN2_HI) - kf * _LN2_LO
        q = 1.0 / 6227020800.0
        q = q * r + 1.0 / 479001600.0
        q = q * r + 1.0 / 39916800.0
        q = q * r + 1.0 / 3628800.0
        q = q * r + 1.0 / 362880.0
        q = q * r + 1.0 / 40320.0
        q = q * r + 1.0 / 5040.0
        q = q * r + 1.0 / 720.0
        q = q * r + 1.0 / 120.0
        q = q * r + 1.0 / 24.0
        q = q * r + 1.0 / 6.0
        q = q * r + 0.5
        q = q * r + 1.0
        buf[ua + i] = q * r + 1.0
        ib[ub + i] = 0 if low else (np.int64(kf) + 1023) << 52
    for i in range(np.uint64(n)):
        buf[ua + i] *= fb[ub + i]


@njit(**JIT_INLINE)
def _vlog(buf, a, n, fb, ib, b):
    """``buf[a:a+n] = log(buf[a:a+n])`` for positive normal finite arguments, to about 2 ulp.

    ``log(2^e m) = e ln2 + 2 atanh((m - 1) / (m + 1))``, ``m`` in [sqrt(1/2), sqrt(2)),
    the series to z^23. Work arrays as in :func:`_vexp`.
    """
    ua = np.uint64(a)
    ub = np.uint64(b)
    for i in range(np.uint64(n)):
        fb[ub + i] = buf[ua + i]
    for i in range(np.uint64(n)):
        bits = ib[ub + i]
        buf[ua + i] = np.float64((bits >> 52) - 1023)              # exponent (positive numbers: no sign bit)
        ib[ub + i] = (bits & 0x000FFFFFFFFFFFFF) | 0x3FF0000000000000   # mantissa in [1, 2)
    for i in range(np.uint64(n)):
        m = fb[ub + i]
        e = buf[ua + i]
        big = m > _SQRT2
        m = 0.5 * m if big else m
        e = e + 1.0 if big else e
        z = (m - 1.0) / (m + 1.0)
        z2 = z * z
        q = 1.0 / 23.0
        q = q * z2 + 1.0 / 21.0
        q = q * z2 + 1.0 / 19.0
        q = q * z2 + 1.0 / 17.0
        q = q * z2 + 1.0 / 15.0
        q = q * z2 + 1.0 / 13.0
        q = q * z2 + 1.0 / 11.0
        q = q * z2 + 1.0 / 9.0
        q = q * z2 + 1.0 / 7.0
        q = q * z2 + 1.0 / 5.0
        q = q * z2 + 1.0 / 3.0
        q = q * z2 + 1.0
        buf[ua + i] = e * _LN2_HI + (2.0 * z * q + e * _LN2_LO)


@njit(**JIT_INLINE)
def _tree_sum_message(f, k, w, beta, etables, block_min, msg_v2f, out, work, bits):
    """Sum-product message of pairwise factor ``f`` to position ``k`` (finite beta); returns the shift.

    As :func:`.messages._pair_message` (exp space, ``exp(-beta (T - block_min))``
    times the source weights, exact log-domain rows where a sum underflows),
    with the exponentials and logarithms vectorised (:func:`_vexp`,
    :func:`_vlog`). ``work`` / ``bits``: a float64 work array (>= 2 x the
    largest state count) and its int64 view.
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
    qmin = INF
    for i in range(ks):
        qmin = min(qmin, msg_v2f[ms + i])
    if qmin == INF:
        for j in range(kt):
            out[mt + j] = INF
        return 0.0
    uks = np.uint64(ks)
    ums = np.uint64(ms)
    for i in range(uks):
        work[i] = -beta * (msg_v2f[ums + i] - qmin)
    _vexp(work, 0, ks, work, bits, ks)
    shift = block_min[b] + qmin
    n_low = 0
    for j in range(kt):
        ubase = np.uint64(t0 + j * ks)
        acc = 0.0
        for i in range(uks):
            acc += etables[ubase + i] * work[i]
        if not acc > TINY:
            n_low += 1
            acc = 1.0
        out[mt + j] = acc
    lo_w = max(ks, kt)
    _vlog(out, mt, kt, work, bits, lo_w)
    umt = np.uint64(mt)
    scale = -1.0 / beta
    for j in range(np.uint64(kt)):
        out[umt + j] *= scale
    if n_low > 0:
        # underflow: exact log-domain rows (min, then sum of shifted exponentials), scalar
        for j in range(kt):
            base = t0 + j * ks
            acc = 0.0
            for i in range(ks):
                acc += etables[base + i] * work[i]
            if acc > TINY:
                continue
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
    return _tree_normalize(out, mt, kt) + shift


@njit(**JIT_INLINE)
def _tree_factor_message(f, k, w, beta, etables, block_min, msg_v2f, out, scratch, bits):
    """Message of factor ``f`` to scope position ``k`` in a tree pass; returns the normalisation shift.

    ``scratch``: float64 work array (>= 2 x the largest state count), ``bits`` its int64 view.
    """
    arity = w.factor_edge_ptr[f + 1] - w.factor_edge_ptr[f]
    if arity == 2:
        if beta == INF:
            return _tree_min_message(f, k, w, msg_v2f, out)
        return _tree_sum_message(f, k, w, beta, etables, block_min, msg_v2f, out, scratch, bits)
    if arity == 1:     # its table, shifted to a minimum of 0 (any beta)
        e = w.factor_edge_ptr[f]
        kt = np.uint64(w.var_states[w.edge_var[e]])
        m = np.uint64(w.edge_state_ptr[e])
        t0 = np.uint64(w.block_ptr[w.factor_block[f]])
        for x in range(kt):
            out[m + x] = w.tables[t0 + x]
        return _tree_normalize(out, w.edge_state_ptr[e], w.var_states[w.edge_var[e]])
    return _factor_message(f, k, w, beta, etables, block_min, msg_v2f, out, scratch)


@njit(**JIT_LOOP)
def _tree_range(w, unary, beta, etables, block_min, order, parent_edge, lo, hi, passes, msg_f2v, msg_v2f, belief,
                inward, scratch, bits):
    """The ``passes`` (:data:`INWARD`, :data:`OUTWARD`, :data:`BOTH`) over ``order[lo:hi]``, a run of whole trees.

    ``inward[f]`` receives the constant removed from factor f's message to its
    parent: a tree's free energy is the sum of these plus the softmin of its
    root's belief. ``scratch``: float64 work array, length >= 2 x the largest state count, ``bits``
    its int64 view.
    """
    n_vars = len(w.var_states)
    n = hi - lo
    first = 0 if passes & INWARD else n
    last = 2 * n if passes & OUTWARD else n
    # one loop for both passes (steps 0 .. n-1 inward, n .. 2n-1 outward): each helper is inlined once
    for step in range(first, last):
        towards_root = step < n
        node = order[hi - 1 - step if towards_root else lo + step - n]
        if node < n_vars:
            if towards_root:
                _tree_var_inward(node, parent_edge[node], w, unary, msg_f2v, msg_v2f, belief)
            else:
                _var_messages(node, w, unary, msg_f2v, msg_v2f, belief)
            continue
        f = node - n_vars
        e0 = w.factor_edge_ptr[f]
        kp = parent_edge[node] - e0
        for k in range(w.factor_edge_ptr[f + 1] - e0):
            if (k == kp) == towards_root:
                shed = _tree_factor_message(f, k, w, beta, etables, block_min, msg_v2f, msg_f2v, scratch, bits)
                if towards_root:
                    inward[f] = shed


@njit(**JIT_PARALLEL)
def _tree_pass(w, unary, beta, etables, block_min, order, parent_edge, passes, n_threads, msg_f2v, msg_v2f, belief,
               inward):
    """The ``passes`` along ``order`` (:data:`BOTH`: exact on a forest), messages updated in place.

    ``order`` lists each tree (connected component) as one contiguous run that
    starts at its root, so runs of whole trees (a batch of sentences) are
    independent: threads take contiguous ranges of trees of about equal size.
    :data:`OUTWARD` continues from the messages of an :data:`INWARD` call.
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
    scratch = np.empty((n_chunks, 2 * np.max(w.var_states)))
    bits = scratch.view(np.int64)
    for c in prange(n_chunks):
        _tree_range(w, unary, beta, etables, block_min, order, parent_edge, bounds[c], bounds[c + 1], passes,
                    msg_f2v, msg_v2f, belief, inward, scratch[c], bits[c])


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
            # pairwise, one end decided: scan the free end's states only, along a contiguous row of
            # the copy whose rows are the decided end's states (C order, or the transposed copy)
            free = e0 if state[w.edge_var[e0]] < 0 else e0 + 1
            u = w.edge_var[free]
            s = state[w.edge_var[2 * e0 + 1 - free]]
            ku = w.var_states[u]
            row = np.uint64(t0 + s * ku + (0 if free == e0 + 1 else len(w.tables) // 2))
            m = np.uint64(w.edge_state_ptr[free])
            best = INF
            arg = -1
            for x in range(ku):
                c = w.tables[row + np.uint64(x)] + msg_v2f[m + np.uint64(x)]
                better = c < best
                best = c if better else best
                arg = x if better else arg
            if arg >= 0:
                state[u] = arg
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


@njit(**JIT_LOOP)
def _marginal_range(belief, ptr, beta, lo, hi, out, fb, ib):
    """Probabilities ``exp(-beta (b - min b)) / z`` of the variables ``lo .. hi - 1`` (finite beta).

    A variable whose belief is +inf everywhere gets zeros. ``fb`` / ``ib``: a
    float64 work array of the largest state count and its int64 view.
    """
    for v in range(lo, hi):
        a = ptr[v]
        k = ptr[v + 1] - a
        low = _min4(belief, a, k)
        ua = np.uint64(a)
        uk = np.uint64(k)
        if low == INF:
            for x in range(uk):
                out[ua + x] = 0.0
            continue
        for x in range(uk):
            out[ua + x] = -beta * (belief[ua + x] - low)
        _vexp(out, a, k, fb, ib, 0)
        z = 0.0
        for x in range(uk):
            z += out[ua + x]
        inv = 1.0 / z
        for x in range(uk):
            out[ua + x] *= inv


@njit(**JIT_PARALLEL)
def _tree_marginals(belief, ptr, beta, n_threads, out):
    """Variable marginals from the beliefs of a tree pass at finite beta, at ``out`` (contiguous chunks per thread).

    What ``inference.result.marginals_from_beliefs`` computes, with the exponentials vectorised.
    """
    n = len(ptr) - 1
    width = 1
    for v in range(n):
        width = max(width, ptr[v + 1] - ptr[v])
    n_chunks = max(1, min(n_threads, n))
    work = np.empty((n_chunks, width))
    bits = work.view(np.int64)
    for c in prange(n_chunks):
        _marginal_range(belief, ptr, beta, c * n // n_chunks, (c + 1) * n // n_chunks, out, work[c], bits[c])

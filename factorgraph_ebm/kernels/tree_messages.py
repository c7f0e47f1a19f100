"""Messages of the tree schedule (:mod:`.trees`): its own loops for pairwise factors, vectorised.

* min-sum (:func:`_tree_min_message`): the source-major table copy, four
  source states per pass, an element-wise min over the contiguous target
  states (no min reduction in the inner loop);
* sum-product (:func:`_tree_sum_message`): exp space as
  :func:`.messages._pair_message`, with the exponentials and logarithms
  vectorised (:func:`_vexp`, :func:`_vlog`: there is no SVML, and np.exp /
  np.log are scalar calls of about 5 ns, most of a pass otherwise);
* a variable's inward step writes only its message to its parent
  (:func:`_tree_var_inward`).

Other factors use the helpers of :mod:`.messages`.
"""

import numpy as np

from ._jit import JIT_INLINE, njit
from .messages import INF, TINY, _factor_message


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
        if w.block_potts[w.factor_block[f]]:     # O(K): a Potts table (see .messages._potts_message)
            return _factor_message(f, k, w, beta, etables, block_min, msg_v2f, out, scratch)
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

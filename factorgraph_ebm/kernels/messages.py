"""Messages of one factor or one variable: the inline helpers every BP schedule is built from.

Messages are energies: ``msg_f2v`` (factor to variable) and ``msg_v2f``
(variable to factor), flat float64 arrays indexed by ``w.edge_state_ptr``.
Factor-to-variable messages are normalised to a minimum of 0.

``softmin_beta(e) = -(1/beta) log sum exp(-beta e)``; ``beta = inf`` is ``min``.
The pairwise sum-product path multiplies in exp space against ``etables``
(``exp(-beta (T - block_min))`` per table block, from
:func:`factorgraph_ebm.kernels.bp._exp_tables`), costing one exponential per
source state instead of one per table entry; a column whose sum underflows is
recomputed exactly in the log domain, so ``+inf`` stays forbidden and no NaN
appears. :func:`_message_change` is the one measure of a message's change
that ``tol`` applies to, for every schedule.

The schedules (flooding and tree passes in :mod:`.bp`, sequential and residual
in :mod:`.schedules`) and the loopy decoder (:mod:`.decoding`) inline these
helpers; the disk cache follows every file of ``kernels/`` (see :mod:`._jit`),
so a change here recompiles them all.
"""

import numpy as np

from ._jit import JIT_INLINE, JIT_LOOP, njit
from .vmath import _exp_nonpos, _log_pos

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
    """Message of pairwise factor ``f`` to its scope position ``k`` (0 or 1), at its place in ``out``.

    Returns the constant removed by normalisation: the unnormalised message
    ``softmin_beta(T + msg_v2f)`` is ``out + constant``. See :func:`_pair_message_at`.
    """
    e0 = w.factor_edge_ptr[f]
    return _pair_message_at(f, k, w, beta, etables, block_min, msg_v2f, out, w.edge_state_ptr[e0 + k], scratch)


@njit(**JIT_INLINE)
def _pair_message_at(f, k, w, beta, etables, block_min, msg_v2f, out, mt, scratch):
    """:func:`_pair_message` written at ``out[mt:mt + target states]`` (``mt`` need not be the edge's place).

    Sum-product reads the table as a (target states x source states) matrix:
    the C-order copy for k = 0, the transposed copy (offset ``len(tables) // 2``)
    for k = 1; each target state is then a sum over contiguous source states,
    which LLVM vectorises. Min-sum reads the other copy, (source x target):
    from 16 targets it takes ``out[j] = min(out[j], T[i, j] + q_i)`` source by
    source with the target loop innermost and contiguous, an element-wise
    minimum that vectorises (a min reduction over sources would not); below,
    four targets' minima in registers per pass over the sources.
    (One array plus an offset rather than two arrays chosen by a branch, which
    would cost reference counting per call.) Sum-product first writes the
    source weights ``exp(-beta (q - min q))`` to ``scratch`` (length >= source
    states; ``out`` may be ``scratch`` when ``mt`` >= that), then the sums,
    then their logarithms, both with the vectorisable :mod:`.vmath` functions.

    Returns the constant removed by normalisation.
    """
    e0 = w.factor_edge_ptr[f]
    et = e0 + k
    es = e0 + 1 - k
    kt = w.var_states[w.edge_var[et]]
    ks = w.var_states[w.edge_var[es]]
    ms = w.edge_state_ptr[es]
    b = w.factor_block[f]
    t0 = w.block_ptr[b] + (0 if k == 0 else len(w.tables) // 2)
    mat = w.tables
    # unsigned offsets in the inner loops: no negative-index wraparound, so they vectorise
    uks = np.uint64(ks)
    ums = np.uint64(ms)
    if beta == INF:
        s0 = np.uint64(w.block_ptr[b] + (len(w.tables) // 2 if k == 0 else 0))   # source-major copy
        ukt = np.uint64(kt)
        if kt >= 16:
            # element-wise minimum across contiguous targets, source by source: vectorised (with
            # LLVM's run-time aliasing checks, which pay off from about 16 targets)
            umt = np.uint64(mt)
            for j in range(ukt):
                out[umt + j] = INF
            for i in range(uks):
                m = msg_v2f[ums + i]
                r = s0 + i * ukt
                for j in range(ukt):
                    v = mat[r + j] + m
                    o = out[umt + j]
                    out[umt + j] = v if v < o else o
            return _normalize(out, mt, kt)
        # few targets: four targets' minima in registers per pass over the sources (four
        # independent chains; LLVM does not vectorise a min reduction without nnan)
        j = 0
        while j + 4 <= kt:
            a0 = INF
            a1 = INF
            a2 = INF
            a3 = INF
            for i in range(uks):
                m = msg_v2f[ums + i]
                r = s0 + np.uint64(j) + i * ukt
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
                v0 = mat[s0 + np.uint64(j) + i * ukt] + msg_v2f[ums + i]
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
    for i in range(uks):
        scratch[i] = _exp_nonpos(-beta * (msg_v2f[ums + i] - qmin))
    shift = block_min[b] + qmin
    # the sums first (vectorised dot products), then one vectorised logarithm pass when none underflowed
    smin = INF
    for j in range(kt):
        ubase = np.uint64(t0 + j * ks)
        s = 0.0
        for i in range(uks):
            s += etables[ubase + i] * scratch[i]
        out[mt + j] = s
        smin = min(smin, s)
    umt = np.uint64(mt)
    if smin > TINY:
        for j in range(np.uint64(kt)):
            out[umt + j] = -_log_pos(out[umt + j]) / beta
        return _normalize(out, mt, kt) + shift
    for j in range(kt):
        base = t0 + j * ks
        s = out[mt + j]
        if s > TINY:
            out[mt + j] = -_log_pos(s) / beta
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
def _potts_message(f, k, w, beta, msg_v2f, out, scratch):
    """Message of a Potts factor (``w.block_potts``: ``T = d + g [x_i != x_j]``, ``g >= 0``) to position ``k``, in O(K).

    With ``q`` the source message and ``lo = min q``: min-sum
    ``out_j = min(q_j, g + min_{i != j} q_i) - lo`` (the two smallest sources
    suffice); sum-product ``out_j = -log(a_j + e^{-beta g} (s - a_j)) / beta``
    with ``a_i = exp(-beta (q_i - lo))`` and ``s = sum a_i``, exact in the
    log domain when that underflows. ``scratch``: length >= K. Returns the
    constant removed (the unnormalised message is ``out + constant``), as
    :func:`_pair_message` does.
    """
    return _potts_message_at(f, k, w, beta, msg_v2f, out, w.edge_state_ptr[w.factor_edge_ptr[f] + k], scratch)


@njit(**JIT_INLINE)
def _potts_message_at(f, k, w, beta, msg_v2f, out, mt, scratch):
    """:func:`_potts_message` written at ``out[mt:mt + K]``; ``scratch`` (>= K entries) must not overlap it."""
    e0 = w.factor_edge_ptr[f]
    kk = w.var_states[w.edge_var[e0 + k]]
    ms = w.edge_state_ptr[e0 + 1 - k]
    t0 = w.block_ptr[w.factor_block[f]]
    d = w.tables[t0]
    g = w.tables[t0 + 1] - d
    lo = INF
    lo2 = INF
    arg = 0
    for i in range(kk):
        q = msg_v2f[ms + i]
        if q < lo:
            lo2 = lo
            lo = q
            arg = i
        elif q < lo2:
            lo2 = q
    if lo == INF:
        for j in range(kk):
            out[mt + j] = INF
        return 0.0
    if beta == INF:
        for j in range(kk):
            c = (lo2 if j == arg else lo) + g
            q = msg_v2f[ms + j]
            out[mt + j] = (q if q < c else c) - lo
        return d + lo
    # weights, sums, then one logarithm pass: .vmath's exp / log, so each loop vectorises
    eg = _exp_nonpos(-beta * g)
    s = 0.0
    uk = np.uint64(kk)
    ums = np.uint64(ms)
    umt = np.uint64(mt)
    for i in range(uk):
        a = _exp_nonpos(-beta * (msg_v2f[ums + i] - lo))
        scratch[i] = a
        s += a
    vmin = INF
    for j in range(uk):
        a = scratch[j]
        v = a + eg * (s - a)
        out[umt + j] = v
        vmin = v if v < vmin else vmin
    if vmin > TINY:
        scale = -1.0 / beta
        for j in range(uk):
            out[umt + j] = scale * _log_pos(out[umt + j])
        return d + lo + _normalize(out, mt, kk)
    for j in range(kk):
        a = scratch[j]
        v = out[mt + j]
        if v > TINY:
            out[mt + j] = -np.log(v) / beta
            continue
        # underflow (j far above the minimum, g large): softmin of the two terms in the log domain
        x1 = msg_v2f[ms + j] - lo
        x2 = g - np.log(s - a) / beta      # j != arg here, so s - a >= 1
        hi = max(x1, x2)
        low = min(x1, x2)
        out[mt + j] = low - np.log1p(np.exp(-beta * (hi - low))) / beta if hi < INF else low
    return d + lo + _normalize(out, mt, kk)


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
        if w.block_potts[w.factor_block[f]]:
            return _potts_message(f, k, w, beta, msg_v2f, out, scratch)
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
    return _change_at(new, m, old, m, k, beta, floor, scratch)


@njit(**JIT_INLINE)
def _change_at(new, mn, old, mo, k, beta, floor, scratch):
    """:func:`_message_change` of ``new[mn:mn+k]`` against ``old[mo:mo+k]`` (the messages at different offsets)."""
    if beta == INF:
        d = 0.0
        for x in range(k):
            a = new[mn + x]
            b = old[mo + x]
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
        a = new[mn + x]
        b = old[mo + x]
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
        pa = 1.0 / (1.0 + np.exp(-beta * (new[mn + 1] - new[mn])))
        pb = 1.0 / (1.0 + np.exp(-beta * (old[mo + 1] - old[mo])))
        return abs(pa - pb)
    lo_b = INF
    for x in range(k):
        lo_b = min(lo_b, old[mo + x])
    za = 0.0
    zb = 0.0
    if not mixed and beta * (hi - lo) < SMALL_SPAN:
        # near a fixed point: p_new ∝ p_old exp(-t), t = beta (d - min d) in [0, span], to second order
        # (relative error < span^3 / 6): k exponentials instead of 2 k
        for x in range(k):
            # branch-free (vectorised): an old +inf (then new is +inf too) gives pb = 0, pa = 0
            finite = old[mo + x] < INF
            pb = _exp_nonpos(-beta * (old[mo + x] - lo_b))
            t = beta * (new[mn + x] - old[mo + x] - lo) if finite else 0.0
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
        lo_a = min(lo_a, new[mn + x])
    for x in range(k):
        # exp(-inf) = 0 for a +inf entry (an all-+inf message makes lo +inf: inf - inf is NaN, hence the selects)
        pa = _exp_nonpos(-beta * (new[mn + x] - lo_a)) if new[mn + x] < INF else 0.0
        pb = _exp_nonpos(-beta * (old[mo + x] - lo_b)) if old[mo + x] < INF else 0.0
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
    _damp(new, m, old, m, k, damping)
    return _message_change(new, old, m, k, beta, floor, scratch)


@njit(**JIT_INLINE)
def _damp(buf, bo, old, m, k, damping):
    """``buf[bo:bo+k] = (1 - damping) buf + damping old[m:m+k]`` where both are finite, renormalised (no-op at 0)."""
    if damping > 0.0:
        for x in range(k):
            a = buf[bo + x]
            b = old[m + x]
            if a < INF and b < INF:
                buf[bo + x] = (1.0 - damping) * a + damping * b
        _normalize(buf, bo, k)

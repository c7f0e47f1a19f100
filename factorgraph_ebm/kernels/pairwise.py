"""Flooding update of one pairwise factor, fused: both messages computed, damped, measured and stored.

:func:`_pair_flood` is what the flooding factor sweep :func:`_flood_factors` runs for
every two-variable factor. It gives the same messages and the same change measure
(:func:`.messages._message_change`, which ``tol`` applies to) as
:func:`.messages._pair_message` followed by :func:`.messages._settle` and a copy
into ``msg_f2v``, with fewer passes over memory: each fresh message is built in
a small work buffer (in L1) and written to ``msg_f2v`` once, in the same pass
that measures its change; damping work is skipped when ``damping == 0``.

Two binary variables take a closed form with the four table entries and the
four incoming energies in registers: min-sum is two minima per message;
sum-product needs one exponential (the source weight that is not 1) and one
logarithm (the state that is not the most probable one) per message instead of
two of each. An exp-space sum that may have underflowed (``<= TINY``) falls back
to the exact log-domain path of :func:`.messages._pair_message_at`, so ``+inf``
stays forbidden and no NaN appears. Potts tables (``w.block_potts``) with more
than two states take the O(K) message of :func:`.messages._potts_message_at`.
"""

import numpy as np

from ._jit import JIT_INLINE, JIT_LOOP, njit
from .messages import INF, TINY, _change_at, _damp, _general_message, _pair_message_at, _potts_message_at


@njit(**JIT_INLINE)
def _store(buf, bo, old, m, k, damping, beta, floor, scratch):
    """Settle the min-normalised message ``buf[bo:bo+k]`` into ``old[m:m+k]``; returns its change.

    As :func:`.messages._settle` then a copy: damped towards ``old`` where both
    are finite and renormalised when ``damping > 0``; the change is
    :func:`.messages._message_change` against the old message (``floor`` as
    there). ``scratch``: length >= ``2 k``, not overlapping ``buf[bo:bo+k]``.
    """
    _damp(buf, bo, old, m, k, damping)
    if beta == INF:
        # max |new - old|; a != b with one of them +inf gives +inf, both +inf give 0 (no -inf occurs)
        d = 0.0
        for x in range(k):
            a = buf[bo + x]
            b = old[m + x]
            c = abs(a - b) if a != b else 0.0
            d = c if c > d else d
            old[m + x] = a
        return d
    c = _change_at(buf, bo, old, m, k, beta, floor, scratch)
    for x in range(k):
        old[m + x] = buf[bo + x]
    return c


@njit(**JIT_INLINE)
def _min2(a, b):
    """``min(a, b)`` as a select (``b`` when ``a`` is not smaller)."""
    return a if a < b else b


@njit(**JIT_INLINE)
def _binary_sum(e00, e01, e10, e11, q0, q1, beta, buf, bo):
    """Sum-product message of a 2 x 2 factor to its target, min-normalised, at ``buf[bo:bo+2]``.

    ``e`` are the exp-space table entries as (target, source) and ``q`` the
    source's incoming energies. Returns False (nothing written) when a sum may
    have underflowed and the exact path must be taken.
    """
    if q0 == INF and q1 == INF:
        buf[bo] = INF
        buf[bo + 1] = INF
        return True
    if q0 <= q1:
        w0 = 1.0
        w1 = np.exp(-beta * (q1 - q0))
    else:
        w0 = np.exp(-beta * (q0 - q1))
        w1 = 1.0
    s0 = e00 * w0 + e01 * w1
    s1 = e10 * w0 + e11 * w1
    if not (s0 > TINY and s1 > TINY):
        return False
    # -log(s_j) / beta shifted to a minimum of 0: the most probable state is 0, one logarithm for the other
    if s0 >= s1:
        buf[bo] = 0.0
        buf[bo + 1] = -np.log(s1 / s0) / beta
    else:
        buf[bo] = -np.log(s0 / s1) / beta
        buf[bo + 1] = 0.0
    return True


@njit(**JIT_INLINE)
def _pair_flood(f, w, beta, etables, block_min, damping, floor, msg_v2f, msg_f2v, scratch, bo):
    """Both messages of pairwise factor ``f`` into ``msg_f2v``; returns their largest change.

    The change of each message is :func:`.messages._message_change` against
    its previous value, exact when above ``floor`` (the second message's floor
    is raised to the first one's change, as in :func:`_flood_factors`).
    ``scratch``: work array with the message buffer at ``scratch[bo:]``
    (``bo >= 2 x`` the largest state count, room for one message after it).
    Each message is built by one of the paths (binary closed form, Potts,
    table) and settled by one :func:`_store`: every helper is inlined once
    (compile time grows with each inlined copy).
    """
    e0 = w.factor_edge_ptr[f]
    m0 = w.edge_state_ptr[e0]
    m1 = w.edge_state_ptr[e0 + 1]
    k0 = w.var_states[w.edge_var[e0]]
    k1 = w.var_states[w.edge_var[e0 + 1]]
    t0 = w.block_ptr[w.factor_block[f]]
    binary = k0 == 2 and k1 == 2
    potts = w.block_potts[w.factor_block[f]]
    d = 0.0
    for k in range(2):
        m = m0 if k == 0 else m1
        general = True
        if binary and beta == INF:
            # to x0: min over x1 of T[x0, x1] + q1; to x1: min over x0 of T[x0, x1] + q0
            ms = m1 if k == 0 else m0
            q0 = msg_v2f[ms]
            q1 = msg_v2f[ms + 1]
            t01 = w.tables[t0 + (1 if k == 0 else 2)]
            t10 = w.tables[t0 + (2 if k == 0 else 1)]
            a0 = _min2(w.tables[t0] + q0, t01 + q1)
            a1 = _min2(t10 + q0, w.tables[t0 + 3] + q1)
            lo = _min2(a0, a1)
            if lo < INF:
                a0 -= lo
                a1 -= lo
            scratch[bo] = a0
            scratch[bo + 1] = a1
            general = False
        elif binary:
            ms = m1 if k == 0 else m0
            e01 = etables[t0 + (1 if k == 0 else 2)]
            e10 = etables[t0 + (2 if k == 0 else 1)]
            general = not _binary_sum(etables[t0], e01, e10, etables[t0 + 3], msg_v2f[ms], msg_v2f[ms + 1], beta,
                                      scratch, bo)
        elif potts:   # O(K); its work space scratch[:K] lies below the buffer at scratch[bo:]
            _potts_message_at(f, k, w, beta, msg_v2f, scratch, bo, scratch)
            general = False
        if general:
            _pair_message_at(f, k, w, beta, etables, block_min, msg_v2f, scratch, bo, scratch)
        c = _store(scratch, bo, msg_f2v, m, k0 if k == 0 else k1, damping, beta, floor, scratch)
        d = max(d, c)
        floor = max(floor, c)
    return d


@njit(**JIT_LOOP)
def _flood_factors(lo, hi, w, beta, etables, block_min, damping, tol, msg_v2f, msg_f2v, new, scratch):
    """Flooding update of the factors ``lo .. hi - 1`` (one-variable factors skipped), damped.

    Returns the largest message change (:func:`.messages._message_change`) when it
    exceeds ``tol``, else a value <= ``tol`` (changes whose cheap bound is
    <= tol are not computed exactly). Pairwise factors take the fused path
    (:func:`_pair_flood`, straight into ``msg_f2v``), others build
    their messages in ``new``. ``scratch``: length >= 3 x the largest state
    count (the fused path's message buffer is its last third).
    """
    d = 0.0
    bo = 2 * (len(scratch) // 3)
    for f in range(lo, hi):
        e0 = w.factor_edge_ptr[f]
        e1 = w.factor_edge_ptr[f + 1]
        if e1 - e0 == 1:
            continue
        if e1 - e0 == 2:
            c = _pair_flood(f, w, beta, etables, block_min, damping, max(d, tol), msg_v2f, msg_f2v, scratch, bo)
            if c > d:
                d = c
            continue
        for k in range(e1 - e0):    # three or more variables (no pairwise path inlined twice: compile time)
            _general_message(f, k, w, beta, msg_v2f, new, scratch)
        for e in range(e0, e1):
            m = w.edge_state_ptr[e]
            c = _store(new, m, msg_f2v, m, w.edge_state_ptr[e + 1] - m, damping, beta, max(d, tol), scratch)
            if c > d:
                d = c
    return d

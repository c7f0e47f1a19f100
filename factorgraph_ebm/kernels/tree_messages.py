"""Messages of the tree schedule (:mod:`.trees`): its own loops for pairwise factors, vectorised.

* min-sum (:func:`_tree_min_message`): the source-major table copy, four
  source states per pass, an element-wise min over the contiguous target
  states (no min reduction in the inner loop);
* sum-product and Potts tables: the messages of :mod:`.messages` (exp space
  with the vectorisable exp / log of :mod:`.vmath`; O(K) for Potts);
* a variable's inward step writes only its message to its parent
  (:func:`_tree_var_inward`).

Other factors use the helpers of :mod:`.messages`.
"""

import numpy as np

from ._jit import JIT_INLINE, njit
from .messages import INF, _factor_message


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


@njit(**JIT_INLINE)
def _tree_factor_message(f, k, w, beta, etables, block_min, msg_v2f, out, scratch):
    """Message of factor ``f`` to scope position ``k`` in a tree pass; returns the normalisation shift.

    ``scratch``: float64 work array (>= 2 x the largest state count).
    """
    arity = w.factor_edge_ptr[f + 1] - w.factor_edge_ptr[f]
    if arity == 2:
        if beta == INF and not w.block_potts[w.factor_block[f]]:
            return _tree_min_message(f, k, w, msg_v2f, out)
        # sum-product (vectorised exp / log, .vmath) and Potts tables (O(K)): the flooding messages
    if arity == 1:     # its table, shifted to a minimum of 0 (any beta)
        e = w.factor_edge_ptr[f]
        kt = np.uint64(w.var_states[w.edge_var[e]])
        m = np.uint64(w.edge_state_ptr[e])
        t0 = np.uint64(w.block_ptr[w.factor_block[f]])
        for x in range(kt):
            out[m + x] = w.tables[t0 + x]
        return _tree_normalize(out, w.edge_state_ptr[e], w.var_states[w.edge_var[e]])
    return _factor_message(f, k, w, beta, etables, block_min, msg_v2f, out, scratch)

"""Junction-tree kernels: node tables, the upward and downward passes, marginals, MAP.

Node tables are flat C-order arrays over the node's variables: its frontal
variables (eliminated in the node) first, then its separator (shared with
the parent), so entry = front_index * sep_size + sep_index. A table over a
subset of a node's variables is reached through one stride per node axis
(0 for the axes it does not have): mixed-radix index arithmetic, no lists.
"""

import numpy as np

from ._jit import JIT, njit
from .vmath import _exp_nonpos

INF = np.inf

@njit(**JIT)
def _reduce_factors(var_states, fixed, factor_edge_ptr, edge_var, edge_stride, factor_block, block_ptr,
                    red_ptr, red_index):
    """Full table index of every entry of each factor restricted to the evidence.

    ``fixed[v]`` is the clamped state of v or -1. Factor f's reduced table is
    over its free scope variables (scope order, C order) and has
    ``red_ptr[f + 1] - red_ptr[f]`` entries; ``red_index`` gets, for each, the
    index of the same configuration in ``tables``.
    """
    n_factors = len(factor_edge_ptr) - 1
    digit = np.zeros(64, dtype=np.int64)
    for f in range(n_factors):
        base = block_ptr[factor_block[f]]
        free_e = np.empty(factor_edge_ptr[f + 1] - factor_edge_ptr[f], dtype=np.int64)
        nf = 0
        for e in range(factor_edge_ptr[f], factor_edge_ptr[f + 1]):
            if fixed[edge_var[e]] >= 0:
                base += fixed[edge_var[e]] * edge_stride[e]
            else:
                free_e[nf] = e
                nf += 1
        if nf > len(digit):
            digit = np.zeros(nf, dtype=np.int64)
        digit[:nf] = 0
        t = base
        for r in range(red_ptr[f], red_ptr[f + 1]):
            red_index[r] = t
            d = nf - 1
            while d >= 0:
                e = free_e[d]
                digit[d] += 1
                t += edge_stride[e]
                if digit[d] < var_states[edge_var[e]]:
                    break
                t -= edge_stride[e] * digit[d]
                digit[d] = 0
                d -= 1


@njit(**JIT)
def _plan_nodes(order, clique_ptr, clique_vars):
    """Junction-tree nodes of an elimination: cliques contained in a child merged into it.

    Returns ``(node_ptr, node_var, n_front, parent, var_node)``, nodes in
    topological order (children before parents): node n's variables are
    ``node_var[node_ptr[n]:node_ptr[n + 1]]``, the first ``n_front[n]`` of them
    frontal; ``parent[n]`` is -1 for a root; ``var_node[v]`` is the node where
    v is frontal.
    """
    n = len(order)
    rank = np.empty(n, dtype=np.int64)
    for i in range(n):
        rank[order[i]] = i
    csize = np.diff(clique_ptr)
    pclique = np.full(n, -1, dtype=np.int64)
    merged_into = np.full(n, -1, dtype=np.int64)   # clique -> first clique of the node that absorbs it
    first = np.empty(n, dtype=np.int64)            # clique -> first clique of its node
    top = np.empty(n, dtype=np.int64)              # first clique -> last clique of its node
    for i in range(n):
        first[i] = merged_into[i] if merged_into[i] >= 0 else i
        top[first[i]] = i
        best = n
        for t in range(clique_ptr[i] + 1, clique_ptr[i + 1]):
            best = min(best, rank[clique_vars[t]])
        if best < n:
            pclique[i] = best
            if csize[i] - 1 == csize[best] and merged_into[best] < 0:
                merged_into[best] = first[i]
    # nodes ordered by their last clique: a parent's last clique comes after its children's
    node_of_first = np.full(n, -1, dtype=np.int64)
    n_nodes = 0
    for i in range(n):
        if first[i] == i:
            n_nodes += 1
    tops = np.empty(n_nodes, dtype=np.int64)
    m = 0
    for i in range(n):
        if first[top[first[i]]] == first[i] and top[first[i]] == i:
            tops[m] = i
            node_of_first[first[i]] = m
            m += 1
    node_ptr = np.zeros(n_nodes + 1, dtype=np.int64)
    n_front = np.zeros(n_nodes, dtype=np.int64)
    for m in range(n_nodes):
        node_ptr[m + 1] = node_ptr[m] + csize[first[tops[m]]]
    node_var = np.empty(node_ptr[n_nodes], dtype=np.int64)
    var_node = np.empty(n, dtype=np.int64)
    for i in range(n):
        m = node_of_first[first[i]]
        node_var[node_ptr[m] + n_front[m]] = order[i]
        n_front[m] += 1
        var_node[order[i]] = m
    parent = np.full(n_nodes, -1, dtype=np.int64)
    for m in range(n_nodes):
        t = tops[m]
        sep_start = node_ptr[m] + n_front[m]
        for q in range(clique_ptr[t] + 1, clique_ptr[t + 1]):
            node_var[sep_start + q - clique_ptr[t] - 1] = clique_vars[q]
        if pclique[t] >= 0:
            parent[m] = node_of_first[first[pclique[t]]]
    return node_ptr, node_var, n_front, parent, var_node


@njit(**JIT)
def _strides_onto(node_ptr, node_var, k, m, sub_vars, pos, strides):
    """``strides[d]``: stride of node m's axis d in a C-order table over ``sub_vars`` (0 if absent)."""
    s = 1
    for q in range(len(sub_vars) - 1, -1, -1):
        pos[sub_vars[q]] = s
        s *= k[sub_vars[q]]
    nd = node_ptr[m + 1] - node_ptr[m]
    for d in range(nd):
        v = node_var[node_ptr[m] + d]
        strides[d] = pos[v]
    for q in range(len(sub_vars)):
        pos[sub_vars[q]] = 0


@njit(**JIT)
def _add_into(dst, off, dims, nd, src, soff, strides, digit):
    """``dst[off + i] += src[soff + j(i)]`` over a table of axes ``dims[:nd]`` (``j`` by the strides)."""
    size = 1
    for d in range(nd):
        size *= dims[d]
    digit[:nd] = 0
    j = soff
    last = strides[nd - 1]
    kl = dims[nd - 1]
    for i0 in range(off, off + size, kl):
        for i in range(kl):
            dst[i0 + i] += src[j + i * last]
        d = nd - 2
        while d >= 0:
            digit[d] += 1
            j += strides[d]
            if digit[d] < dims[d]:
                break
            j -= strides[d] * digit[d]
            digit[d] = 0
            d -= 1


@njit(**JIT)
def _softmin_onto(src, off, dims, nd, out, strides, digit, acc, beta):
    """``out[j] = -(1/beta) log sum_{i -> j} exp(-beta src[off + i])`` (min at beta = inf; shifted by the min)."""
    size = 1
    for d in range(nd):
        size *= dims[d]
    n_out = 1
    for d in range(nd):
        if strides[d] > 0:
            n_out *= dims[d]
    out[:n_out] = INF
    acc[:n_out] = 0.0
    last = strides[nd - 1]
    kl = dims[nd - 1]
    for rep in range(1 if beta == INF else 2):
        digit[:nd] = 0
        j = 0
        for i0 in range(off, off + size, kl):
            if rep == 0:
                for i in range(kl):
                    x = src[i0 + i]
                    if x < out[j + i * last]:
                        out[j + i * last] = x
            else:
                for i in range(kl):
                    lo = out[j + i * last]
                    if lo < INF:
                        acc[j + i * last] += np.exp(-beta * (src[i0 + i] - lo))
            d = nd - 2
            while d >= 0:
                digit[d] += 1
                j += strides[d]
                if digit[d] < dims[d]:
                    break
                j -= strides[d] * digit[d]
                digit[d] = 0
                d -= 1
    if beta < INF:
        for j in range(n_out):
            if out[j] < INF:
                out[j] -= np.log(acc[j]) / beta


@njit(**JIT)
def _level(node_ptr, node_var, m, sub_vars, posn):
    """Last axis of node m that a table over ``sub_vars`` uses (``posn`` maps node m's variables to axes)."""
    lvl = -1
    for q in range(len(sub_vars)):
        lvl = max(lvl, posn[sub_vars[q]])
    return lvl


#: Axes with at least this many states get their terms in the same pass as the repeat
#: (:func:`_expand_add`); shorter axes one pass per term (:func:`_add_into`), faster there.
FUSE_MIN_STATES = 8


@njit(**JIT)
def _expand_add(belief, off, dims, d, src, n_terms, term_off, term_str, jt, digit):
    """Table over axes ``0..d`` = the one over axes ``0..d - 1`` repeated along axis d, plus ``n_terms`` terms.

    In place, from the end (entry i of the prefix table is read before the
    entries ``i * dims[d] + j`` are written). Term t is read from ``src`` at
    ``term_off[t]`` with strides ``term_str[t, :d + 1]``: one pass writes
    each entry once, however many terms it gets.
    """
    prefix = 1
    for q in range(d):
        prefix *= dims[q]
    kd = dims[d]
    for t in range(n_terms):
        jt[t] = term_off[t]
        for q in range(d):
            jt[t] += (dims[q] - 1) * term_str[t, q]
    for q in range(d):
        digit[q] = dims[q] - 1
    for i in range(prefix - 1, -1, -1):
        x = belief[off + i]
        base = off + i * kd
        for j in range(kd):
            belief[base + j] = x
        for t in range(n_terms):
            st = term_str[t, d]
            j0 = jt[t]
            for j in range(kd):
                belief[base + j] += src[j0 + j * st]
        q = d - 1
        while q >= 0:
            if digit[q] > 0:
                digit[q] -= 1
                for t in range(n_terms):
                    jt[t] -= term_str[t, q]
                break
            digit[q] = dims[q] - 1
            for t in range(n_terms):
                jt[t] += term_str[t, q] * (dims[q] - 1)
            q -= 1


@njit(**JIT)
def _build_node(m, node_ptr, node_var, n_front, k, belief, tab_ptr, fac_ptr, fac, scope_ptr, scope_var, src,
                table_ptr, unary_off, var_state_ptr, child_ptr, child, sep_ptr, pos, posn, strides, digit, dims,
                tmp, acc, beta, work2, term_off, term_str, jt):
    """Node m's table: its factors, the unaries of its frontal variables and its children's messages.

    ``src`` holds the factor tables, then (from ``unary_off``) the unaries,
    then room for one child message (at its end).
    A child's message (its table summed over its frontal variables) is
    computed here, when it is needed, into ``tmp``: messages are never stored.

    Built axis by axis: the table over the first d + 1 axes is the one over
    the first d axes repeated along axis d plus the factors and unaries whose
    last axis is d (one pass, :func:`_expand_add`), plus the children's
    messages whose last axis is d. A term is added over the prefix it needs,
    not over the whole table (node variables are ordered by how many factors use them).
    """
    nd = _node_dims(node_ptr, node_var, k, m, dims)
    off = tab_ptr[m]
    for d in range(nd):
        posn[node_var[node_ptr[m] + d]] = d
    belief[off] = 0.0
    prefix = 1
    for d in range(nd):
        n_terms = 0
        for t in range(fac_ptr[m], fac_ptr[m + 1]):
            f = fac[t]
            sv = scope_var[scope_ptr[f]:scope_ptr[f + 1]]
            if _level(node_ptr, node_var, m, sv, posn) == d:
                _strides_onto(node_ptr, node_var, k, m, sv, pos, strides)
                term_off[n_terms] = table_ptr[f]
                term_str[n_terms, :d + 1] = strides[:d + 1]
                n_terms += 1
        v = node_var[node_ptr[m] + d]
        if d < n_front[m] and k[v] > 1:
            sv = node_var[node_ptr[m] + d:node_ptr[m] + d + 1]
            _strides_onto(node_ptr, node_var, k, m, sv, pos, strides)
            term_off[n_terms] = unary_off + var_state_ptr[v]
            term_str[n_terms, :d + 1] = strides[:d + 1]
            n_terms += 1
        fused_child = -1
        if dims[d] >= FUSE_MIN_STATES:
            # the first child message of this level goes into the same pass, from the end of src
            for t in range(child_ptr[m], child_ptr[m + 1]):
                c = child[t]
                sv = node_var[node_ptr[c] + n_front[c]:node_ptr[c + 1]]
                if _level(node_ptr, node_var, m, sv, posn) == d:
                    msg_off = len(src) - (sep_ptr[c + 1] - sep_ptr[c])
                    _message(belief, tab_ptr, sep_ptr, c, src[msg_off:], acc, beta, work2)
                    _strides_onto(node_ptr, node_var, k, m, sv, pos, strides)
                    term_off[n_terms] = msg_off
                    term_str[n_terms, :d + 1] = strides[:d + 1]
                    n_terms += 1
                    fused_child = c
                    break
            _expand_add(belief, off, dims, d, src, n_terms, term_off, term_str, jt, digit)
        else:
            kd = dims[d]
            for i in range(prefix - 1, -1, -1):
                x = belief[off + i]
                for j in range(kd - 1, -1, -1):
                    belief[off + i * kd + j] = x
            for t in range(n_terms):
                _add_into(belief, off, dims, d + 1, src, term_off[t], term_str[t], digit)
        prefix *= dims[d]
        for t in range(child_ptr[m], child_ptr[m + 1]):
            c = child[t]
            sv = node_var[node_ptr[c] + n_front[c]:node_ptr[c + 1]]
            if c != fused_child and _level(node_ptr, node_var, m, sv, posn) == d:
                _message(belief, tab_ptr, sep_ptr, c, tmp, acc, beta, work2)
                _strides_onto(node_ptr, node_var, k, m, sv, pos, strides)
                _add_into(belief, off, dims, d + 1, tmp, 0, strides, digit)
    for d in range(nd):
        posn[node_var[node_ptr[m] + d]] = -1


#: Entries whose exponentials :func:`_exp_chunk` computes at once (vectorised).
EXP_CHUNK = 1024

@njit(**JIT)
def _exp_chunk(y, n):
    """``y[:n] = exp(y[:n])`` for ``y <= 0`` (``-inf`` allowed) with :func:`.vmath._exp_nonpos`, a loop that vectorises.

    Arguments below ``vmath.EXP_MIN`` give 0 (a relative change of less than
    1e-300 to a sum that holds a 1, as in :func:`_message`).
    """
    for i in range(n):
        y[i] = _exp_nonpos(y[i])


@njit(**JIT)
def _message(belief, tab_ptr, sep_ptr, m, out, acc, beta, work2):
    """Node m's table summed over its frontal variables (the table is (front size, separator size)).

    The minimum of each separator entry, then the sum of ``exp(-beta (e - min))``,
    whose exponentials are computed in chunks of :data:`EXP_CHUNK` by
    :func:`_exp_chunk` (loops that vectorise). With a large separator both are
    done block by block of separator entries, so the table is read once from memory.
    """
    s_size = sep_ptr[m + 1] - sep_ptr[m]
    f_size = (tab_ptr[m + 1] - tab_ptr[m]) // s_size
    off = tab_ptr[m]
    out[:s_size] = INF
    acc[:s_size] = 0.0
    if beta == INF or s_size < EXP_CHUNK:
        for f in range(f_size):
            row = off + f * s_size
            for s in range(s_size):
                x = belief[row + s]
                o = out[s]
                out[s] = x if x < o else o
    if beta == INF:
        return
    y = np.empty(EXP_CHUNK)
    if s_size >= EXP_CHUNK:
        # by blocks of separator entries: the block of each row is read again from the cache
        for s0 in range(0, s_size, EXP_CHUNK):
            n = min(EXP_CHUNK, s_size - s0)
            for f in range(f_size):
                row = off + f * s_size + s0
                for i in range(n):
                    x = belief[row + i]
                    o = out[s0 + i]
                    out[s0 + i] = x if x < o else o
            for f in range(f_size):
                row = off + f * s_size
                for i in range(n):
                    lo = out[s0 + i]
                    y[i] = -beta * (belief[row + s0 + i] - lo) if lo < INF else -INF
                _exp_chunk(y, n)
                for i in range(n):
                    acc[s0 + i] += y[i]
    else:
        rows = EXP_CHUNK // s_size
        for f0 in range(0, f_size, rows):
            nr = min(rows, f_size - f0)
            i = 0
            for f in range(f0, f0 + nr):
                row = off + f * s_size
                for s in range(s_size):
                    lo = out[s]
                    y[i] = -beta * (belief[row + s] - lo) if lo < INF else -INF
                    i += 1
            _exp_chunk(y, nr * s_size)
            i = 0
            for f in range(nr):
                for s in range(s_size):
                    acc[s] += y[i]
                    i += 1
    for s in range(s_size):
        if out[s] < INF:
            out[s] -= np.log(acc[s]) / beta


@njit(**JIT)
def _node_dims(node_ptr, node_var, k, m, dims):
    nd = node_ptr[m + 1] - node_ptr[m]
    for d in range(nd):
        dims[d] = k[node_var[node_ptr[m] + d]]
    return nd


@njit(**JIT)
def _passes(node_ptr, node_var, n_front, parent, k, belief, tab_ptr, sep_ptr, beta, upward, downward, root_value,
            fac_ptr, fac, scope_ptr, scope_var, tables, table_ptr, unary, var_state_ptr, child_ptr, child):
    """Upward pass (node tables with their children's messages, root values) and / or the downward pass.

    After the upward pass ``belief`` holds each node's table plus its
    children's messages; after the downward pass, every node's energy
    marginal (up to the free energy). The parent's message to a child is the
    parent's marginal on the separator minus the child's message (``inf`` where
    the child's message is ``inf``: those entries of the child are ``inf`` already).
    """
    n_nodes = len(parent)
    width = 2
    for m in range(n_nodes):
        width = max(width, node_ptr[m + 1] - node_ptr[m])
    strides = np.zeros(width, dtype=np.int64)
    digit = np.zeros(width, dtype=np.int64)
    dims = np.zeros(width, dtype=np.int64)
    work2 = np.zeros(6, dtype=np.int64)
    pos = np.zeros(len(k), dtype=np.int64)
    posn = np.full(len(k), -1, dtype=np.int64)
    max_sep = 1
    for m in range(n_nodes):
        max_sep = max(max_sep, sep_ptr[m + 1] - sep_ptr[m])
    tmp = np.empty(max_sep)
    up = np.empty(max_sep)
    acc = np.empty(max_sep)
    max_terms = 1
    for m in range(n_nodes):
        max_terms = max(max_terms, fac_ptr[m + 1] - fac_ptr[m] + 1)
    term_off = np.zeros(max_terms, dtype=np.int64)
    term_str = np.zeros((max_terms, width), dtype=np.int64)
    jt = np.zeros(max_terms, dtype=np.int64)
    src = np.empty(len(tables) + len(unary) + max_sep if upward else 0)   # factors, unaries, a child message
    if upward:
        src[:len(tables)] = tables
        src[len(tables):len(tables) + len(unary)] = unary
    for m in range(n_nodes if upward else 0):
        _build_node(m, node_ptr, node_var, n_front, k, belief, tab_ptr, fac_ptr, fac, scope_ptr, scope_var, src,
                    table_ptr, len(tables), var_state_ptr, child_ptr, child, sep_ptr, pos, posn, strides, digit, dims,
                    tmp, acc, beta, work2, term_off, term_str, jt)
        if parent[m] < 0:
            _message(belief, tab_ptr, sep_ptr, m, tmp, acc, beta, work2)
            root_value[m] = tmp[0]
    if not downward:
        return
    for m in range(n_nodes - 1, -1, -1):
        p = parent[m]
        if p < 0:
            continue
        s_size = sep_ptr[m + 1] - sep_ptr[m]
        _message(belief, tab_ptr, sep_ptr, m, up, acc, beta, work2)
        nd = _node_dims(node_ptr, node_var, k, p, dims)
        _strides_onto(node_ptr, node_var, k, p, node_var[node_ptr[m] + n_front[m]:node_ptr[m + 1]], pos, strides)
        _softmin_onto(belief, tab_ptr[p], dims, nd, tmp, strides, digit, acc, beta)
        for s in range(s_size):
            tmp[s] = INF if up[s] == INF else tmp[s] - up[s]
        t = tab_ptr[m]
        f_size = (tab_ptr[m + 1] - tab_ptr[m]) // s_size
        for f in range(f_size):
            for s in range(s_size):
                belief[t] += tmp[s]
                t += 1


@njit(**JIT)
def _sum_onto(src, off, dims, nd, out, ooff, strides, digit):
    """``out[ooff + j(i)] += src[off + i]`` over a table of axes ``dims[:nd]``."""
    size = 1
    for d in range(nd):
        size *= dims[d]
    digit[:nd] = 0
    j = ooff
    last = strides[nd - 1]
    kl = dims[nd - 1]
    for i0 in range(off, off + size, kl):
        for i in range(kl):
            out[j + i * last] += src[i0 + i]
        d = nd - 2
        while d >= 0:
            digit[d] += 1
            j += strides[d]
            if digit[d] < dims[d]:
                break
            j -= strides[d] * digit[d]
            digit[d] = 0
            d -= 1


@njit(**JIT)
def _node_marginals(node_ptr, node_var, k, belief, tab_ptr, beta, item_ptr, item_scope_ptr, item_scope, out, out_off):
    """Unnormalised marginals of scopes from their node's table (the table is overwritten).

    Node m's items are ``item_ptr[m] .. item_ptr[m + 1] - 1``; item i's scope
    is ``item_scope[item_scope_ptr[i]:item_scope_ptr[i + 1]]`` and its weights
    (C order) go to ``out[out_off[i]:]``. The table becomes weights once
    (``exp(-beta (e - min))``; at beta = inf 1 at the minima, else 0), then
    its sums over trailing axes (prefix tables): an item is summed from the
    smallest prefix table that holds its scope.
    """
    n_nodes = len(node_ptr) - 1
    width = 2
    scratch_size = 1
    for m in range(n_nodes):
        nd = node_ptr[m + 1] - node_ptr[m]
        width = max(width, nd)
        prefix = 1
        total = 0
        for d in range(nd - 1):
            prefix *= k[node_var[node_ptr[m] + d]]
            total += prefix
        scratch_size = max(scratch_size, total)
    scratch = np.empty(scratch_size)
    level_off = np.zeros(width + 1, dtype=np.int64)
    strides = np.zeros(width, dtype=np.int64)
    digit = np.zeros(width, dtype=np.int64)
    dims = np.zeros(width, dtype=np.int64)
    pos = np.zeros(len(k), dtype=np.int64)
    posn = np.full(len(k), -1, dtype=np.int64)
    for m in range(n_nodes):
        if item_ptr[m] == item_ptr[m + 1]:
            continue
        nd = _node_dims(node_ptr, node_var, k, m, dims)
        off = tab_ptr[m]
        size = tab_ptr[m + 1] - off
        lo = INF
        for i in range(off, off + size):
            lo = min(lo, belief[i])
        for i in range(off, off + size):
            if beta == INF:
                belief[i] = 1.0 if belief[i] == lo else 0.0
            else:
                belief[i] = np.exp(-beta * (belief[i] - lo))
        # prefix tables: level d (axes 0..d) at scratch[level_off[d]:], level nd - 1 is the table itself
        t = 0
        sizes = 1
        for d in range(nd - 1):
            sizes *= dims[d]
            level_off[d] = t
            t += sizes
        for d in range(nd - 2, -1, -1):
            kd = dims[d + 1]
            n_d = 1
            for q in range(d + 1):
                n_d *= dims[q]
            for i in range(n_d):
                acc = 0.0
                if d == nd - 2:
                    for j in range(kd):
                        acc += belief[off + i * kd + j]
                else:
                    for j in range(kd):
                        acc += scratch[level_off[d + 1] + i * kd + j]
                scratch[level_off[d] + i] = acc
        for d in range(nd):
            posn[node_var[node_ptr[m] + d]] = d
        for it in range(item_ptr[m], item_ptr[m + 1]):
            sv = item_scope[item_scope_ptr[it]:item_scope_ptr[it + 1]]
            lvl = max(_level(node_ptr, node_var, m, sv, posn), 0)
            _strides_onto(node_ptr, node_var, k, m, sv, pos, strides)
            if lvl == nd - 1:
                _sum_onto(belief, off, dims, nd, out, out_off[it], strides, digit)
            else:
                _sum_onto(scratch, level_off[lvl], dims, lvl + 1, out, out_off[it], strides, digit)
        for d in range(nd):
            posn[node_var[node_ptr[m] + d]] = -1


@njit(**JIT)
def _backtrack(node_ptr, node_var, n_front, parent, k, belief, tab_ptr, state):
    """MAP states, root first: each node's frontal states minimise its table given its separator's states."""
    for m in range(len(parent) - 1, -1, -1):
        nf = n_front[m]
        s_idx = 0
        s_size = 1
        for q in range(node_ptr[m + 1] - 1, node_ptr[m] + nf - 1, -1):
            s_idx += state[node_var[q]] * s_size
            s_size *= k[node_var[q]]
        f_size = (tab_ptr[m + 1] - tab_ptr[m]) // s_size
        best = INF
        arg = 0
        for f in range(f_size):
            x = belief[tab_ptr[m] + f * s_size + s_idx]
            if x < best:
                best = x
                arg = f
        for q in range(node_ptr[m] + nf - 1, node_ptr[m] - 1, -1):
            v = node_var[q]
            state[v] = arg % k[v]
            arg //= k[v]

"""MAP decoding on loopy graphs: sequential conditioning and local search.

``w`` is the :class:`~factorgraph_ebm.compile.Wiring` tuple.
Every loop here is serial and reads the wiring, so the kernels use
``JIT_LOOP`` (no reference counting, no allocation): callers pass the work
arrays (see :mod:`factorgraph_ebm.inference.decoding`).

Energies are compared *lexicographically*: first the number of +inf factor
entries, then the sum of the finite ones. A move that lowers this pair never
raises the energy, and a search that starts finite stays finite; on an
infeasible start it reduces the number of violated factors. States ruled out
by the unary (evidence) are never taken.
"""

import numpy as np

from ._jit import JIT_INLINE, JIT_LOOP, njit
from .messages import _normalize

INF = np.inf
#: A move must lower the finite energy by more than this (relative) to count,
#: so rounding cannot make a local search cycle.
REL_TOL = 1e-10


@njit(**JIT_INLINE)
def _better(n1, s1, n0, s0):
    """Whether (n1 inf entries, finite sum s1) is strictly better than (n0, s0)."""
    if n1 != n0:
        return n1 < n0
    return s1 < s0 - REL_TOL * max(1.0, abs(s0))


@njit(**JIT_INLINE)
def _entry(g, w, state):
    """Energy of factor ``g`` under ``state``."""
    off = 0
    for e in range(w.factor_edge_ptr[g], w.factor_edge_ptr[g + 1]):
        off += state[w.edge_var[e]] * w.edge_stride[e]
    return w.tables[w.block_ptr[w.factor_block[g]] + off]


# ---------------------------------------------------------------- sequential conditioning


@njit(**JIT_INLINE)
def _heap_before(ga, va, gb, vb):
    """Heap order: larger gap first, then lower variable id."""
    return ga > gb or (ga == gb and va < vb)


@njit(**JIT_LOOP)
def _heap_push(n, gap, var, stamp, h_gap, h_var, h_stamp):
    """Push (gap, var, stamp) onto the heap of size ``n``; returns the new size."""
    i = n
    while i > 0:
        parent = (i - 1) // 2
        if not _heap_before(gap, var, h_gap[parent], h_var[parent]):
            break
        h_gap[i] = h_gap[parent]
        h_var[i] = h_var[parent]
        h_stamp[i] = h_stamp[parent]
        i = parent
    h_gap[i] = gap
    h_var[i] = var
    h_stamp[i] = stamp
    return n + 1


@njit(**JIT_LOOP)
def _heap_pop(n, h_gap, h_var, h_stamp):
    """Remove the top of the heap of size ``n`` (read it before); returns the new size."""
    n -= 1
    gap = h_gap[n]
    var = h_var[n]
    stamp = h_stamp[n]
    i = 0
    while True:
        c = 2 * i + 1
        if c >= n:
            break
        if c + 1 < n and _heap_before(h_gap[c + 1], h_var[c + 1], h_gap[c], h_var[c]):
            c += 1
        if not _heap_before(h_gap[c], h_var[c], gap, var):
            break
        h_gap[i] = h_gap[c]
        h_var[i] = h_var[c]
        h_stamp[i] = h_stamp[c]
        i = c
    if n > 0:
        h_gap[i] = gap
        h_var[i] = var
        h_stamp[i] = stamp
    return n


@njit(**JIT_LOOP)
def _heap_compact(n, state, stamp, h_gap, h_var, h_stamp):
    """Drop the stale entries (fixed variable, or an older stamp) and rebuild the heap; returns its size.

    At most one entry per free variable is current, so afterwards the size is
    below the number of variables.
    """
    k = 0
    for i in range(n):
        v = h_var[i]
        if state[v] < 0 and h_stamp[i] == stamp[v]:
            h_gap[k] = h_gap[i]
            h_var[k] = v
            h_stamp[k] = h_stamp[i]
            k += 1
    m = 0
    for i in range(k):
        m = _heap_push(m, h_gap[i], h_var[i], h_stamp[i], h_gap, h_var, h_stamp)
    return m


@njit(**JIT_INLINE)
def _gap(v, w, cbel):
    """Best minus second-best conditioned belief of ``v``: +inf when one state is left, -inf when none."""
    s0 = w.var_state_ptr[v]
    lo = INF
    lo2 = INF
    for x in range(w.var_states[v]):
        b = cbel[s0 + x]
        if b < lo:
            lo2 = lo
            lo = b
        elif b < lo2:
            lo2 = b
    if lo == INF:
        return -INF
    if lo2 == INF:
        return INF
    return lo2 - lo


@njit(**JIT_INLINE)
def _var_belief(v, w, unary, cmsg, cbel):
    """``cbel[v] = unary_v + sum of the conditioned factor-to-variable messages``."""
    s0 = w.var_state_ptr[v]
    k = w.var_states[v]
    for x in range(k):
        cbel[s0 + x] = unary[s0 + x]
    for p in range(w.var_edge_ptr[v], w.var_edge_ptr[v + 1]):
        m = w.edge_state_ptr[w.var_edges[p]]
        for x in range(k):
            cbel[s0 + x] += cmsg[m + x]


@njit(**JIT_INLINE)
def _edge_v2f(e, w, unary, cmsg, cv2f):
    """Conditioned variable-to-factor message of edge ``e``: unary + the other edges' messages."""
    u = w.edge_var[e]
    s0 = w.var_state_ptr[u]
    k = w.var_states[u]
    m = w.edge_state_ptr[e]
    for x in range(k):
        cv2f[m + x] = unary[s0 + x]
    for p in range(w.var_edge_ptr[u], w.var_edge_ptr[u + 1]):
        e2 = w.var_edges[p]
        if e2 == e:
            continue
        m2 = w.edge_state_ptr[e2]
        for x in range(k):
            cv2f[m + x] += cmsg[m2 + x]


@njit(**JIT_LOOP)
def _condition_factor(f, w, unary, state, cmsg, cv2f):
    """Recompute factor ``f``'s messages to its free variables with the fixed ones clamped.

    ``cmsg[e][x] = min over the other free variables' states (table entries
    consistent with the fixed states) of T + their conditioned v2f``, shifted
    to minimum 0 when finite.
    """
    e0 = w.factor_edge_ptr[f]
    e1 = w.factor_edge_ptr[f + 1]
    t0 = w.block_ptr[w.factor_block[f]]
    size = w.block_ptr[w.factor_block[f] + 1] - t0
    if e1 - e0 == 2 and (state[w.edge_var[e0]] >= 0) != (state[w.edge_var[e0 + 1]] >= 0):
        # pairwise, one end fixed: the message is a row or column of the table (no division per entry)
        free = e0 if state[w.edge_var[e0]] < 0 else e0 + 1
        fixed = 2 * e0 + 1 - free
        base = t0 + state[w.edge_var[fixed]] * w.edge_stride[fixed]
        step = w.edge_stride[free]
        mo = w.edge_state_ptr[free]
        k = w.var_states[w.edge_var[free]]
        for x in range(k):
            cmsg[mo + x] = w.tables[base + x * step]
        _normalize(cmsg, mo, k)
        return
    for e in range(e0, e1):
        if state[w.edge_var[e]] < 0:
            _edge_v2f(e, w, unary, cmsg, cv2f)
    for eo in range(e0, e1):
        u = w.edge_var[eo]
        if state[u] >= 0:
            continue
        k = w.var_states[u]
        mo = w.edge_state_ptr[eo]
        for x in range(k):
            cmsg[mo + x] = INF
        for t in range(size):
            c = w.tables[t0 + t]
            if c == INF:
                continue
            ok = True
            for e in range(e0, e1):
                if e == eo:
                    continue
                v = w.edge_var[e]
                x = (t // w.edge_stride[e]) % w.var_states[v]
                s = state[v]
                if s >= 0:
                    if s != x:
                        ok = False
                        break
                else:
                    c += cv2f[w.edge_state_ptr[e] + x]
            if ok:
                xo = (t // w.edge_stride[eo]) % k
                if c < cmsg[mo + xo]:
                    cmsg[mo + xo] = c
        _normalize(cmsg, mo, k)


@njit(**JIT_LOOP)
def _fill_conditioned(w, unary, cmsg, cbel, cv2f, stamp, touched, h_gap, h_var, h_stamp, state):
    """Sequential conditioning into ``state`` (all -1 on entry).

    ``cmsg`` (M,) holds the final min-sum factor-to-variable messages on entry
    (overwritten); ``cbel`` (S,) work for the conditioned beliefs (which start
    as the min-sum beliefs, unary + incoming messages); ``cv2f`` (M,) work;
    ``stamp``, ``touched`` (V,) int64 work (stamp zeros); heap arrays of
    length >= 2 V (compacted when full).
    """
    n_vars = len(w.var_states)
    n = 0
    for v in range(n_vars):
        _var_belief(v, w, unary, cmsg, cbel)
        n = _heap_push(n, _gap(v, w, cbel), v, 0, h_gap, h_var, h_stamp)
    while n > 0:
        v = h_var[0]
        st = h_stamp[0]
        n = _heap_pop(n, h_gap, h_var, h_stamp)
        if state[v] >= 0 or st != stamp[v]:
            continue
        # fix v to its best conditioned state (first minimum), else its first state the evidence allows
        s0 = w.var_state_ptr[v]
        lo = INF
        best = -1
        for x in range(w.var_states[v]):
            if cbel[s0 + x] < lo:
                lo = cbel[s0 + x]
                best = x
        if best < 0:
            for x in range(w.var_states[v]):
                if unary[s0 + x] < INF:
                    best = x
                    break
        if best < 0:
            best = 0
        state[v] = best
        # condition v's factors, then refresh the beliefs and gaps of the free variables they reach
        n_touched = 0
        for p in range(w.var_edge_ptr[v], w.var_edge_ptr[v + 1]):
            f = w.edge_factor[w.var_edges[p]]
            has_free = False
            for e in range(w.factor_edge_ptr[f], w.factor_edge_ptr[f + 1]):
                u = w.edge_var[e]
                if state[u] < 0:
                    has_free = True
                    if stamp[u] >= 0:       # not yet listed for this step
                        stamp[u] = -stamp[u] - 1
                        touched[n_touched] = u
                        n_touched += 1
            if has_free:
                _condition_factor(f, w, unary, state, cmsg, cv2f)
        for i in range(n_touched):
            u = touched[i]
            stamp[u] = -stamp[u]            # = old stamp + 1: older heap entries of u are stale
            _var_belief(u, w, unary, cmsg, cbel)
            if n == len(h_gap):
                n = _heap_compact(n, state, stamp, h_gap, h_var, h_stamp)
            n = _heap_push(n, _gap(u, w, cbel), u, stamp[u], h_gap, h_var, h_stamp)


# ---------------------------------------------------------------- local search


@njit(**JIT_LOOP)
def _icm_var(v, w, unary, state):
    """Move ``v`` to its best state given all others; returns whether it moved."""
    s0 = w.var_state_ptr[v]
    k = w.var_states[v]
    cur = state[v]
    n_best = 0
    s_best = 0.0
    n_cur = 0
    s_cur = 0.0
    best = -1
    for x in range(k):
        if unary[s0 + x] == INF:
            continue
        n_inf = 0
        s = 0.0
        state[v] = x
        for p in range(w.var_edge_ptr[v], w.var_edge_ptr[v + 1]):
            c = _entry(w.edge_factor[w.var_edges[p]], w, state)
            if c == INF:
                n_inf += 1
            else:
                s += c
        if x == cur:
            n_cur = n_inf
            s_cur = s
        if best < 0 or n_inf < n_best or (n_inf == n_best and s < s_best):
            best = x
            n_best = n_inf
            s_best = s
    state[v] = cur
    if best < 0 or best == cur:
        return False
    if unary[s0 + cur] == INF or _better(n_best, s_best, n_cur, s_cur):
        state[v] = best
        return True
    return False


@njit(**JIT_LOOP)
def _blanket_changed(f, w, since, changed):
    """Whether a variable of ``f`` or of a factor sharing a variable with ``f`` changed after ``since``."""
    for e in range(w.factor_edge_ptr[f], w.factor_edge_ptr[f + 1]):
        u = w.edge_var[e]
        for p in range(w.var_edge_ptr[u], w.var_edge_ptr[u + 1]):
            g = w.edge_factor[w.var_edges[p]]
            for e2 in range(w.factor_edge_ptr[g], w.factor_edge_ptr[g + 1]):
                if changed[w.edge_var[e2]] > since:
                    return True
    return False


@njit(**JIT_LOOP)
def _var_blanket_changed(v, w, since, changed):
    """Whether a variable sharing a factor with ``v`` (or ``v``) changed after ``since``."""
    for p in range(w.var_edge_ptr[v], w.var_edge_ptr[v + 1]):
        g = w.edge_factor[w.var_edges[p]]
        for e in range(w.factor_edge_ptr[g], w.factor_edge_ptr[g + 1]):
            if changed[w.edge_var[e]] > since:
                return True
    return False


@njit(**JIT_INLINE)
def _block_cost(f, digits, n_shared, shared, w, state, pn, ps):
    """(inf count, finite sum) of the factors touching ``f``'s variables, set to ``digits`` (one per edge)."""
    n_inf = 0
    s = 0.0
    e0 = w.factor_edge_ptr[f]
    for e in range(e0, w.factor_edge_ptr[f + 1]):
        x = digits[e - e0]
        state[w.edge_var[e]] = x
        n_inf += pn[w.edge_state_ptr[e] + x]
        s += ps[w.edge_state_ptr[e] + x]
    for i in range(n_shared):
        c = _entry(shared[i], w, state)
        if c == INF:
            n_inf += 1
        else:
            s += c
    return n_inf, s


@njit(**JIT_LOOP)
def _icm_block(f, w, unary, state, mark, count, shared, pn, ps, digits, best):
    """Move the variables of factor ``f`` jointly to their best states; returns whether they moved.

    The factors that touch one variable of ``f`` only are summed per state of
    that variable first (``pn``, ``ps`` (M,) work), so a joint state costs its
    arity plus the factors touching two or more of ``f``'s variables
    (``shared``). ``mark``, ``count``, ``shared`` (F,) int64 work, ``mark``
    != f on entry; ``digits``, ``best`` (max arity,) int64 work.
    """
    e0 = w.factor_edge_ptr[f]
    e1 = w.factor_edge_ptr[f + 1]
    n_shared = 0
    t_cur = 0
    for e in range(e0, e1):
        u = w.edge_var[e]
        t_cur += state[u] * w.edge_stride[e]
        for p in range(w.var_edge_ptr[u], w.var_edge_ptr[u + 1]):
            g = w.edge_factor[w.var_edges[p]]
            if mark[g] != f:
                mark[g] = f
                count[g] = 1
            else:
                count[g] += 1
                if count[g] == 2:
                    shared[n_shared] = g
                    n_shared += 1
    for e in range(e0, e1):
        u = w.edge_var[e]
        cur = state[u]
        m = w.edge_state_ptr[e]
        for x in range(w.var_states[u]):
            state[u] = x
            n_inf = 0
            s = 0.0
            for p in range(w.var_edge_ptr[u], w.var_edge_ptr[u + 1]):
                g = w.edge_factor[w.var_edges[p]]
                if count[g] == 1:
                    c = _entry(g, w, state)
                    if c == INF:
                        n_inf += 1
                    else:
                        s += c
            pn[m + x] = n_inf
            ps[m + x] = s
        state[u] = cur
    for e in range(e0, e1):
        digits[e - e0] = state[w.edge_var[e]]
        best[e - e0] = digits[e - e0]
    n_best, s_best = _block_cost(f, digits, n_shared, shared, w, state, pn, ps)
    moved = False
    for e in range(e0, e1):
        digits[e - e0] = 0
    while True:                     # every joint state, as an odometer over the scope (no division)
        ok = True
        t = 0
        for e in range(e0, e1):
            x = digits[e - e0]
            t += x * w.edge_stride[e]
            if unary[w.var_state_ptr[w.edge_var[e]] + x] == INF:
                ok = False
                break
        if ok and t != t_cur:
            n_inf, s = _block_cost(f, digits, n_shared, shared, w, state, pn, ps)
            if _better(n_inf, s, n_best, s_best):
                n_best = n_inf
                s_best = s
                moved = True
                for i in range(e1 - e0):
                    best[i] = digits[i]
        i = e1 - e0 - 1
        while i >= 0:
            digits[i] += 1
            if digits[i] < w.var_states[w.edge_var[e0 + i]]:
                break
            digits[i] = 0
            i -= 1
        if i < 0:
            break
    for e in range(e0, e1):
        state[w.edge_var[e]] = best[e - e0]
    return moved


@njit(**JIT_LOOP)
def _local_search(w, unary, blocks, n_blocks, max_rounds, mark, count, shared, changed, evaluated, var_evaluated,
                  pn, ps, digits, best, state):
    """ICM over variables until no change, then one sweep over factor blocks; repeat while blocks move.

    ``blocks[:n_blocks]`` (int64) lists the factors searched as blocks (arity
    >= 2). A variable or block is skipped when nothing in its Markov blanket
    changed since its last search. ``state`` (V,) int64 is updated in place
    (every entry a valid state on entry). Work: ``mark``, ``count``,
    ``shared``, ``evaluated`` (F,) int64, ``changed``, ``var_evaluated`` (V,)
    int64 (any values), ``digits``, ``best`` (max arity,) int64, ``pn``
    (M,) int64, ``ps`` (M,) float64. Returns the number of rounds run; the
    result is a single-variable local minimum unless ``max_rounds`` ran out.
    """
    n_vars = len(w.var_states)
    n_factors = len(w.factor_edge_ptr) - 1
    for f in range(n_factors):
        mark[f] = -1
        evaluated[f] = -1
    for v in range(n_vars):
        changed[v] = 0
        var_evaluated[v] = -1
    clock = 1
    rounds = 0
    while rounds < max_rounds:
        rounds += 1
        moved = True
        sweeps = 0
        while moved and sweeps < max_rounds:
            moved = False
            sweeps += 1
            for v in range(n_vars):
                if var_evaluated[v] >= 0 and not _var_blanket_changed(v, w, var_evaluated[v], changed):
                    continue
                var_evaluated[v] = clock
                clock += 1
                if _icm_var(v, w, unary, state):
                    changed[v] = clock
                    clock += 1
                    moved = True
        if moved:
            continue
        block_moved = False
        for i in range(n_blocks):
            f = blocks[i]
            if evaluated[f] >= 0 and not _blanket_changed(f, w, evaluated[f], changed):
                continue
            evaluated[f] = clock
            clock += 1
            if _icm_block(f, w, unary, state, mark, count, shared, pn, ps, digits, best):
                for e in range(w.factor_edge_ptr[f], w.factor_edge_ptr[f + 1]):
                    changed[w.edge_var[e]] = clock
                clock += 1
                block_moved = True
            for e in range(w.factor_edge_ptr[f], w.factor_edge_ptr[f + 1]):
                u = w.edge_var[e]
                for p in range(w.var_edge_ptr[u], w.var_edge_ptr[u + 1]):
                    mark[w.edge_factor[w.var_edges[p]]] = -1
        if not block_moved:
            break
    return rounds



@njit(**JIT_INLINE)
def _find(parent, x):
    """Root of ``x`` in the union-find forest ``parent`` (path halving)."""
    while parent[x] != x:
        parent[x] = parent[parent[x]]
        x = parent[x]
    return x


@njit(**JIT_LOOP)
def _induced_forest(w, order, parent, mark, count, member):
    """A maximal set of variables, taken greedily in ``order``, on which the factors inside form a forest.

    ``member[v] = True`` for the variables taken (cleared first). A factor is
    *inside* when all its variables are taken; the set is grown so that those
    factors form a forest and every other factor has at most one variable in
    the set (conditioned on the rest it is a unary term): a variable joins when
    it shares no factor of arity >= 3 with the set and the pairwise factors it
    shares with the set lead to different trees (union-find over the variables
    and factors, ``parent`` and ``mark`` of length n_vars + n_factors, ``count``
    (n_factors,) work space). Returns the number taken.
    """
    n_vars = len(w.var_states)
    for i in range(len(parent)):
        parent[i] = i
        mark[i] = -1
    for f in range(len(count)):
        count[f] = 0
    for v in range(n_vars):
        member[v] = False
    taken = 0
    for i in range(len(order)):
        v = order[i]
        ok = True
        for p in range(w.var_edge_ptr[v], w.var_edge_ptr[v + 1]):
            f = w.edge_factor[w.var_edges[p]]
            arity = w.factor_edge_ptr[f + 1] - w.factor_edge_ptr[f]
            if arity < 2:
                continue
            if arity > 2 and count[f] > 0:
                ok = False
                break
            r = _find(parent, n_vars + f)
            if mark[r] == i:        # two of v's factors in one tree already: v would close a cycle
                ok = False
                break
            mark[r] = i
        if not ok:
            continue
        member[v] = True
        taken += 1
        for p in range(w.var_edge_ptr[v], w.var_edge_ptr[v + 1]):
            f = w.edge_factor[w.var_edges[p]]
            if w.factor_edge_ptr[f + 1] - w.factor_edge_ptr[f] >= 2:
                count[f] += 1
                parent[_find(parent, n_vars + f)] = _find(parent, v)
    return taken


@njit(**JIT_LOOP)
def _block_unary(w, unary, state, member, out):
    """Unary energies of the variables ``member`` given ``state`` elsewhere, into ``out`` (var_state_ptr layout).

    ``out[v, x] = unary[v, x] + sum`` over the factors of ``v`` not inside the
    block (see :func:`_induced_forest`) of their entry with ``v = x`` and the
    other variables at ``state``; 0 for the variables outside the block.
    ``state`` is restored on return.
    """
    for v in range(len(w.var_states)):
        s0 = w.var_state_ptr[v]
        k = w.var_states[v]
        if not member[v]:
            for x in range(k):
                out[s0 + x] = 0.0
            continue
        cur = state[v]
        for x in range(k):
            state[v] = x
            c = unary[s0 + x]
            for p in range(w.var_edge_ptr[v], w.var_edge_ptr[v + 1]):
                e = w.var_edges[p]
                f = w.edge_factor[e]
                e0 = w.factor_edge_ptr[f]
                if w.factor_edge_ptr[f + 1] - e0 == 2 and member[w.edge_var[2 * e0 + 1 - e]]:
                    continue
                c += _entry(f, w, state)
            out[s0 + x] = c
        state[v] = cur

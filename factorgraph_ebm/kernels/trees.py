"""Tree schedule: exact BP on forests by an inward and an outward pass, and decoding by backtracking.

The breadth-first order of :func:`_bfs_order` lists each tree (connected
component) as one contiguous run starting at its root; the inward pass walks
it backwards (leaves to root), the outward pass forwards. ``passes`` picks
:data:`INWARD`, :data:`OUTWARD` (from the messages of an earlier inward pass)
or :data:`BOTH`. After the inward pass alone, every variable's message to its
parent factor and each root's belief are final, which is all the free energy
(sum of the inward constants plus the root's softmin) and MAP backtracking
(:func:`_decode`) read; the outward pass is only needed for marginals.

The messages are the helpers of :mod:`.tree_messages` (pairwise factors: vectorised
min-sum and sum-product loops of their own) and :mod:`.messages` (the rest).
"""

import numpy as np
from numba import prange

from ._jit import JIT_LOOP, JIT_PARALLEL, njit
from .messages import INF, _var_messages
from .tree_messages import _min4, _tree_factor_message, _tree_var_inward
from .vmath import _exp_nonpos

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


def _tree_order(w, bfs=None):
    """Order of the tree schedule: each tree rooted at a central variable, its branches one after another.

    ``bfs``: the result of :func:`_bfs_order` when already computed. The
    root of each tree is the variable whose largest branch (the subtree
    behind one of its factors) is smallest, found by walking from the BFS
    root towards the heaviest subtree; each branch is listed by breadth-first
    search, one after another, so a long tree (one long chain) splits between
    threads at branch boundaries (:func:`_tree_pass`). Same return values as
    :func:`_bfs_order` (a graph with a cycle returns the BFS order unchanged).
    """
    order, parent_edge, is_forest = _bfs_order(w) if bfs is None else bfs
    if not is_forest:
        return order, parent_edge, is_forest
    n_nodes = len(order)
    new_order = np.empty(n_nodes, dtype=np.int64)
    new_parent = np.full(n_nodes, -1, dtype=np.int64)
    _fill_tree_order(w, order, parent_edge, new_order, new_parent, np.zeros(n_nodes, dtype=np.int64))
    return new_order, new_parent, True


@njit(**JIT_LOOP)
def _fill_tree_order(w, order, parent_edge, new_order, new_parent, size):
    """The loops of :func:`_tree_order` (``new_parent`` all -1, ``size`` all 0 on entry: work space)."""
    n_vars = len(w.var_states)
    n = len(order)
    for i in range(n - 1, -1, -1):     # subtree sizes (nodes) in the BFS rooting
        node = order[i]
        size[node] += 1
        pe = parent_edge[node]
        if pe >= 0:
            size[w.edge_var[pe] if node >= n_vars else n_vars + w.edge_factor[pe]] += size[node]
    tail = 0
    i = 0
    while i < n:
        c = order[i]
        total = size[c]
        while True:     # move towards the heaviest subtree while that shrinks the largest branch
            best_g = -1
            for p in range(w.var_edge_ptr[c], w.var_edge_ptr[c + 1]):
                e = w.var_edges[p]
                g = n_vars + w.edge_factor[e]
                if e != parent_edge[c] and (best_g < 0 or size[g] > size[best_g]):
                    best_g = g
            if best_g < 0:
                break
            f = best_g - n_vars
            best_u = -1
            for e in range(w.factor_edge_ptr[f], w.factor_edge_ptr[f + 1]):
                u = w.edge_var[e]
                if e != parent_edge[best_g] and (best_u < 0 or size[u] > size[best_u]):
                    best_u = u
            if best_u < 0 or total - size[best_u] >= size[best_g]:
                break
            c = best_u
        new_order[tail] = c
        tail += 1
        # each branch of c (the subtree behind one of its factors) by breadth-first search, in turn
        for p in range(w.var_edge_ptr[c], w.var_edge_ptr[c + 1]):
            e = w.var_edges[p]
            head = tail
            new_order[tail] = n_vars + w.edge_factor[e]
            new_parent[n_vars + w.edge_factor[e]] = e
            tail += 1
            while head < tail:
                node = new_order[head]
                head += 1
                if node < n_vars:
                    for q in range(w.var_edge_ptr[node], w.var_edge_ptr[node + 1]):
                        e2 = w.var_edges[q]
                        if e2 != new_parent[node]:
                            g = n_vars + w.edge_factor[e2]
                            new_parent[g] = e2
                            new_order[tail] = g
                            tail += 1
                else:
                    f = node - n_vars
                    for e2 in range(w.factor_edge_ptr[f], w.factor_edge_ptr[f + 1]):
                        if e2 != new_parent[node]:
                            u = w.edge_var[e2]
                            new_parent[u] = e2
                            new_order[tail] = u
                            tail += 1
        i += total


@njit(**JIT_LOOP)
def _tree_range(w, unary, beta, etables, block_min, order, parent_edge, lo, hi, passes, defer, msg_f2v, msg_v2f,
                belief, inward, scratch):
    """The ``passes`` (:data:`INWARD`, :data:`OUTWARD`, :data:`BOTH`) over ``order[lo:hi]``, a run of whole trees.

    ``inward[f]`` receives the constant removed from factor f's message to its
    parent: a tree's free energy is the sum of these plus the softmin of its
    root's belief. Positions ``p`` with ``defer[p]`` (roots of trees split
    between ranges) are skipped. ``scratch``: float64 work array, length >= 2
    x the largest state count.
    """
    n_vars = len(w.var_states)
    n = hi - lo
    first = 0 if passes & INWARD else n
    last = 2 * n if passes & OUTWARD else n
    # one loop for both passes (steps 0 .. n-1 inward, n .. 2n-1 outward): each helper is inlined once
    for step in range(first, last):
        towards_root = step < n
        pos = hi - 1 - step if towards_root else lo + step - n
        if defer[pos]:
            continue
        node = order[pos]
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
                shed = _tree_factor_message(f, k, w, beta, etables, block_min, msg_v2f, msg_f2v, scratch)
                if towards_root:
                    inward[f] = shed


@njit(**JIT_PARALLEL)
def _tree_pass(w, unary, beta, etables, block_min, order, parent_edge, passes, branches, n_threads, msg_f2v, msg_v2f,
               belief, inward):
    """The ``passes`` along ``order`` (:data:`BOTH`: exact on a forest), messages updated in place.

    ``order`` lists each tree (connected component) as one contiguous run that
    starts at its root, so runs of whole trees (a batch of sentences) are
    independent: threads take contiguous ranges of about equal size. With
    ``branches`` (the order of :func:`_tree_order`: each branch of a root
    contiguous; False for :func:`_bfs_order`) a range may also end at a
    branch boundary, so one long tree (a chain) is shared:
    the threads run the inward pass of their branches, the roots of split
    trees combine (serially), then the threads run the outward pass.
    :data:`OUTWARD` continues from the messages of an :data:`INWARD` call.
    """
    n_vars = len(w.var_states)
    n = len(order)
    is_cut = np.zeros(n + 1, dtype=np.bool_)
    is_root = np.zeros(n, dtype=np.bool_)
    for i in range(n):
        node = order[i]
        is_root[i] = node < n_vars and parent_edge[node] < 0
    for i in range(n):
        node = order[i]
        # a root, or (branches contiguous) a factor of a root: the first node of a branch
        is_cut[i] = is_root[i] or (branches and node >= n_vars and parent_edge[w.edge_var[parent_edge[node]]] < 0)
    is_cut[0] = True
    is_cut[n] = True
    cuts = np.flatnonzero(is_cut)
    n_chunks = max(1, min(n_threads, len(cuts) - 1))
    bounds = np.empty(n_chunks + 1, dtype=np.int64)
    for c in range(n_chunks):
        bounds[c] = cuts[np.searchsorted(cuts, c * n // n_chunks)]
    bounds[0] = 0
    bounds[n_chunks] = n
    defer = np.zeros(n, dtype=np.bool_)    # roots of trees that continue past the end of their range
    root_pos = np.flatnonzero(is_root)
    for c in range(1, n_chunks):
        b = bounds[c]
        if 0 < b < n and not is_root[b]:
            defer[root_pos[np.searchsorted(root_pos, b, side="right") - 1]] = True
    roots = np.flatnonzero(defer)
    scratch = np.empty((n_chunks, 2 * np.max(w.var_states)))
    if passes & INWARD:
        for c in prange(n_chunks):
            _tree_range(w, unary, beta, etables, block_min, order, parent_edge, bounds[c], bounds[c + 1], INWARD,
                        defer, msg_f2v, msg_v2f, belief, inward, scratch[c])
        for r in roots:
            _tree_var_inward(order[r], -1, w, unary, msg_f2v, msg_v2f, belief)
    if passes & OUTWARD:
        for r in roots:
            _var_messages(order[r], w, unary, msg_f2v, msg_v2f, belief)
        for c in prange(n_chunks):
            _tree_range(w, unary, beta, etables, block_min, order, parent_edge, bounds[c], bounds[c + 1], OUTWARD,
                        defer, msg_f2v, msg_v2f, belief, inward, scratch[c])


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
def _marginal_range(belief, ptr, beta, lo, hi, out):
    """Probabilities ``exp(-beta (b - min b)) / z`` of the variables ``lo .. hi - 1`` (finite beta).

    A variable whose belief is +inf everywhere gets zeros.
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
            out[ua + x] = _exp_nonpos(-beta * (belief[ua + x] - low))
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
    n_chunks = max(1, min(n_threads, n))
    for c in prange(n_chunks):
        _marginal_range(belief, ptr, beta, c * n // n_chunks, (c + 1) * n // n_chunks, out)

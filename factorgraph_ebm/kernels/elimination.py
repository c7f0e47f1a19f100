"""Greedy elimination orders over an interaction graph (min-fill, weighted min-fill, min-degree).

The graph is given as scopes (CSR: ``scope_ptr``, ``scope_var``); two variables
are adjacent when some scope holds both. :func:`_eliminate` removes variables
one at a time, each time the one of least score, joins its remaining
neighbours into a clique (fill edges) and records the clique: the variable
followed by those neighbours. Scores are kept in a binary heap with lazy
deletion; ties are broken by a random key (``np.random`` seeded in the kernel,
so a seed gives one order). A run stops as soon as the sum of its clique table
sizes exceeds ``stop_at``.
"""

import numpy as np

from ._jit import JIT, njit

#: Heuristic codes of :func:`_eliminate`.
MIN_FILL = 0
WEIGHTED_MIN_FILL = 1
MIN_DEGREE = 2
#: Static key: breadth-first distance from a pseudo-peripheral vertex (a frontal sweep).
SWEEP = 3


@njit(**JIT)
def _adjacency(n_vars, scope_ptr, scope_var):
    """Symmetric adjacency (CSR, no self loops, no duplicates) of the scopes."""
    n_pairs = 0
    for s in range(len(scope_ptr) - 1):
        a = scope_ptr[s + 1] - scope_ptr[s]
        n_pairs += a * (a - 1)
    codes = np.empty(n_pairs, dtype=np.int64)
    t = 0
    for s in range(len(scope_ptr) - 1):
        for i in range(scope_ptr[s], scope_ptr[s + 1]):
            for j in range(scope_ptr[s], scope_ptr[s + 1]):
                if scope_var[i] != scope_var[j]:
                    codes[t] = scope_var[i] * n_vars + scope_var[j]
                    t += 1
    codes = np.sort(codes[:t])
    ptr = np.zeros(n_vars + 1, dtype=np.int64)
    adj = np.empty(len(codes), dtype=np.int64)
    m = 0
    for i in range(len(codes)):
        if i > 0 and codes[i] == codes[i - 1]:
            continue
        u = codes[i] // n_vars
        adj[m] = codes[i] - u * n_vars
        ptr[u + 1] += 1
        m += 1
    for u in range(n_vars):
        ptr[u + 1] += ptr[u]
    return ptr, adj[:m].copy()


@njit(**JIT)
def _heap_push(hkey, htie, hnode, hver, size, key, tie, node, ver):
    """Push onto the heap (arrays of room >= size + 1); returns the new size."""
    i = size
    while i > 0:
        p = (i - 1) // 2
        if hkey[p] < key or (hkey[p] == key and htie[p] <= tie):
            break
        hkey[i] = hkey[p]
        htie[i] = htie[p]
        hnode[i] = hnode[p]
        hver[i] = hver[p]
        i = p
    hkey[i] = key
    htie[i] = tie
    hnode[i] = node
    hver[i] = ver
    return size + 1


@njit(**JIT)
def _heap_pop(hkey, htie, hnode, hver, size):
    """Remove the top; returns ``(node, version, new size)``."""
    node = hnode[0]
    ver = hver[0]
    size -= 1
    key = hkey[size]
    tie = htie[size]
    i = 0
    while True:
        c = 2 * i + 1
        if c >= size:
            break
        if c + 1 < size and (hkey[c + 1] < hkey[c] or (hkey[c + 1] == hkey[c] and htie[c + 1] < htie[c])):
            c += 1
        if key < hkey[c] or (key == hkey[c] and tie <= htie[c]):
            break
        hkey[i] = hkey[c]
        htie[i] = htie[c]
        hnode[i] = hnode[c]
        hver[i] = hver[c]
        i = c
    hkey[i] = key
    htie[i] = tie
    hnode[i] = hnode[size]
    hver[i] = hver[size]
    return node, ver, size


@njit(**JIT)
def _score(u, heuristic, k, logk, start, length, pool, mark, stamp):
    """Score of eliminating ``u`` now (lower is better); ``mark`` / ``stamp`` are scratch."""
    d = length[u]
    s = start[u]
    if heuristic == MIN_DEGREE:
        wt = 0.0
        for i in range(s, s + d):
            wt += logk[pool[i]]
        return wt
    for i in range(s, s + d):
        mark[pool[i]] = stamp
    if heuristic == MIN_FILL:
        present = 0.0
        for i in range(s, s + d):
            a = pool[i]
            for j in range(start[a], start[a] + length[a]):
                if mark[pool[j]] == stamp:
                    present += 1.0
        return d * (d - 1) / 2.0 - present / 2.0
    ksum = 0.0
    ksq = 0.0
    present = 0.0
    for i in range(s, s + d):
        a = pool[i]
        ksum += k[a]
        ksq += k[a] * k[a]
        for j in range(start[a], start[a] + length[a]):
            if mark[pool[j]] == stamp:
                present += k[a] * k[pool[j]]
    return (ksum * ksum - ksq) / 2.0 - present / 2.0


@njit(**JIT)
def _append(u, x, start, length, cap, pool, pool_end):
    """Append ``x`` to ``u``'s neighbour list (moving it to the end of the pool when full).

    Returns ``(pool, pool_end)``; the pool is reallocated when it runs out of room.
    """
    if length[u] == cap[u]:
        new_cap = max(4, 2 * cap[u])
        if pool_end + new_cap > len(pool):
            bigger = np.empty(max(2 * len(pool), pool_end + new_cap), dtype=np.int64)
            bigger[:pool_end] = pool[:pool_end]
            pool = bigger
        pool[pool_end:pool_end + length[u]] = pool[start[u]:start[u] + length[u]]
        start[u] = pool_end
        cap[u] = new_cap
        pool_end += new_cap
    pool[start[u] + length[u]] = x
    length[u] += 1
    return pool, pool_end


@njit(**JIT)
def _eliminate(k, adj_ptr, adj, heuristic, seed, stop_at):
    """Greedy elimination order.

    Fill scores are kept up to date incrementally: adding the edge (a, c) adds
    to a's score the pairs (c, y) with y a neighbour of a but not of c (and the
    other way round), and removes the pair (a, c) from the score of each common
    neighbour; removing the eliminated variable u (whose neighbours form a
    clique by then) removes from each neighbour a the pairs (u, y), y in N(a)
    outside N(u). Weighted scores count a pair (x, y) as ``k[x] * k[y]``.

    Parameters
    ----------
    k : (V,) float64 state counts.
    adj_ptr, adj : CSR adjacency from :func:`_adjacency`.
    heuristic : MIN_FILL, WEIGHTED_MIN_FILL, MIN_DEGREE or SWEEP.
    seed : int, seeds the random tie-breaking.
    stop_at : float, stop once the clique entries exceed it.

    Returns
    -------
    order (n,) int64 : the variables eliminated (n = V unless stopped early).
    clique_ptr (n+1,), clique_vars : clique i = order[i], then its neighbours then.
    stats (4,) float64 : total clique entries, largest clique entries,
        separator entries (sum of clique entries / k[order[i]]), largest clique size.
    """
    np.random.seed(seed)
    n = len(k)
    logk = np.log(k)
    kk = k.copy() if heuristic == WEIGHTED_MIN_FILL else np.ones(n)
    start = adj_ptr[:-1].copy()
    length = np.diff(adj_ptr)
    cap = length.copy()
    pool = np.empty(max(16, 2 * len(adj)), dtype=np.int64)
    pool[:len(adj)] = adj
    pool_end = len(adj)
    mark = np.full(n, -1, dtype=np.int64)
    mark2 = np.full(n, -1, dtype=np.int64)
    stamp = 0
    score = np.zeros(n)
    ksum = np.zeros(n)
    for u in range(n):
        for j in range(start[u], start[u] + length[u]):
            ksum[u] += kk[pool[j]]
        stamp += 1
        if heuristic != SWEEP:
            score[u] = _score(u, heuristic, kk, logk, start, length, pool, mark, stamp)
    if heuristic == SWEEP:
        score = _bfs_levels(adj_ptr, adj)
    room = max(16, 4 * n)
    hkey = np.empty(room)
    htie = np.empty(room)
    hnode = np.empty(room, dtype=np.int64)
    hver = np.empty(room, dtype=np.int64)
    version = np.zeros(n, dtype=np.int64)
    size = 0
    for u in range(n):
        size = _heap_push(hkey, htie, hnode, hver, size, score[u], np.random.random(), u, 0)
    done = np.zeros(n, dtype=np.bool_)
    order = np.empty(n, dtype=np.int64)
    clique_ptr = np.zeros(n + 1, dtype=np.int64)
    clique_vars = np.empty(max(16, 2 * n), dtype=np.int64)
    touched = np.empty(n, dtype=np.int64)
    stats = np.zeros(4)
    n_done = 0
    fill = heuristic == MIN_FILL or heuristic == WEIGHTED_MIN_FILL
    while size > 0:
        u, ver, size = _heap_pop(hkey, htie, hnode, hver, size)
        if done[u] or ver != version[u]:
            continue
        done[u] = True
        d = length[u]
        s = start[u]
        c0 = clique_ptr[n_done]
        if c0 + d + 1 > len(clique_vars):
            bigger = np.empty(2 * (c0 + d + 1), dtype=np.int64)
            bigger[:c0] = clique_vars[:c0]
            clique_vars = bigger
        clique_vars[c0] = u
        entries = k[u]
        for i in range(d):
            clique_vars[c0 + 1 + i] = pool[s + i]
            entries *= k[pool[s + i]]
        order[n_done] = u
        clique_ptr[n_done + 1] = c0 + d + 1
        n_done += 1
        stats[0] += entries
        stats[1] = max(stats[1], entries)
        stats[2] += entries / k[u]
        stats[3] = max(stats[3], d + 1.0)
        if stats[0] > stop_at:
            break
        stamp += 1
        tstamp = stamp
        n_touched = 0
        for i in range(d):
            a = clique_vars[c0 + 1 + i]
            mark2[a] = tstamp
            touched[n_touched] = a
            n_touched += 1
        # fill edges (a, c), a before c in the clique, while u is still present
        for i in range(d):
            a = clique_vars[c0 + 1 + i]
            stamp += 1
            sa = stamp
            for j in range(start[a], start[a] + length[a]):
                mark[pool[j]] = sa
            for jj in range(i + 1, d):
                c = clique_vars[c0 + 1 + jj]
                if mark[c] == sa:
                    continue
                if fill:
                    shared = 0.0
                    for j in range(start[c], start[c] + length[c]):
                        b = pool[j]
                        if mark[b] == sa:
                            shared += kk[b]
                            score[b] -= kk[a] * kk[c]
                            if mark2[b] != tstamp:
                                mark2[b] = tstamp
                                touched[n_touched] = b
                                n_touched += 1
                    score[a] += kk[c] * (ksum[a] - shared)
                    score[c] += kk[a] * (ksum[c] - shared)
                pool, pool_end = _append(a, c, start, length, cap, pool, pool_end)
                pool, pool_end = _append(c, a, start, length, cap, pool, pool_end)
                mark[c] = sa
                ksum[a] += kk[c]
                ksum[c] += kk[a]
        # remove u from its neighbours' lists
        for i in range(d):
            a = clique_vars[c0 + 1 + i]
            for j in range(start[a], start[a] + length[a]):
                if pool[j] == u:
                    pool[j] = pool[start[a] + length[a] - 1]
                    length[a] -= 1
                    break
            if fill:
                score[a] -= kk[u] * (ksum[a] - kk[u] - (ksum[u] - kk[a]))
            ksum[a] -= kk[u]
        if size + n_touched > len(hkey):
            grow = 2 * (size + n_touched)
            hkey2 = np.empty(grow)
            htie2 = np.empty(grow)
            hnode2 = np.empty(grow, dtype=np.int64)
            hver2 = np.empty(grow, dtype=np.int64)
            hkey2[:size] = hkey[:size]
            htie2[:size] = htie[:size]
            hnode2[:size] = hnode[:size]
            hver2[:size] = hver[:size]
            hkey, htie, hnode, hver = hkey2, htie2, hnode2, hver2
        if heuristic == SWEEP:
            n_touched = 0
        for i in range(n_touched):
            b = touched[i]
            if not fill:
                wt = 0.0
                for j in range(start[b], start[b] + length[b]):
                    wt += logk[pool[j]]
                score[b] = wt
            version[b] += 1
            size = _heap_push(hkey, htie, hnode, hver, size, score[b], np.random.random(), b, version[b])
    return order[:n_done].copy(), clique_ptr[:n_done + 1].copy(), clique_vars[:clique_ptr[n_done]].copy(), stats



@njit(**JIT)
def _bfs_from(adj_ptr, adj, roots, level, queue):
    """Breadth-first levels from ``roots`` (level -1 = not reached); returns the last vertex reached."""
    level[:] = -1
    head = 0
    tail = 0
    for r in roots:
        level[r] = 0
        queue[tail] = r
        tail += 1
    last = roots[0]
    while head < tail:
        u = queue[head]
        head += 1
        last = u
        for j in range(adj_ptr[u], adj_ptr[u + 1]):
            x = adj[j]
            if level[x] < 0:
                level[x] = level[u] + 1
                queue[tail] = x
                tail += 1
    return last


@njit(**JIT)
def _bfs_levels(adj_ptr, adj):
    """Distance of each vertex from a pseudo-peripheral vertex of its component (float64, a tie-break key)."""
    n = len(adj_ptr) - 1
    level = np.full(n, -1, dtype=np.int64)
    out = np.full(n, -1.0)
    queue = np.empty(n, dtype=np.int64)
    roots = np.empty(1, dtype=np.int64)
    for s in range(n):
        if out[s] >= 0:
            continue
        roots[0] = s
        far = _bfs_from(adj_ptr, adj, roots, level, queue)
        roots[0] = far
        _bfs_from(adj_ptr, adj, roots, level, queue)
        for u in range(n):
            if level[u] >= 0:
                out[u] = level[u]
    return out

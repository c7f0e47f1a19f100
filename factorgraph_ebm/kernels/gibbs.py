"""Single-site Gibbs sampling at a finite beta > 0: chromatic (colour classes in parallel) and sequential sweeps.

The conditional of a free variable ``v`` given the others is
``P(x_v = x | rest) ∝ exp(-beta e[x])`` with ``e[x]`` = the *field* of ``v``
(evidence terms, ``with_clamped`` offsets and the tables of its one-variable
factors, summed once per call into ``field``) plus, for every other factor of
``v``, the table entry at ``x`` and the other variables' current states.
A state is drawn by the inverse CDF of ``exp(-beta (e - min e))``; ``+inf``
entries get probability 0. Binary variables take a logistic with one
exponential (``x = 1`` iff ``u (1 + exp(beta (e1 - e0))) < 1``).

Wiring for sampling (:class:`GibbsPlan`, built once per structure by
:func:`factorgraph_ebm.sample.colouring.gibbs_plan`):

* pairwise factors are per-variable CSR lists ``(neighbour, offset)``: the
  offset points at the C-order copy of the table in which the *neighbour* is
  the row (``wiring.tables`` holds every pairwise table twice, the second
  copy transposed), so the ``k`` energies of ``v`` given the neighbour's state
  are contiguous, ``tables[off + k * x_nb + x]``, one cache line for
  ``k <= 8``;
* factors of arity >= 3 go through the generic loop over their edges
  (``edge_stride``).

Randomness: the draw of variable ``v`` of chain ``c`` in sweep ``t`` is
``_uniform(_sweep_key(seed, chain_ids[c], t), v)`` (:mod:`.rng`), whatever the
schedule, the thread count or the chunking; a colour class only reads
variables of other classes, so the chromatic sweep gives bitwise the same
chains on any number of threads.

A variable whose conditional has no finite state (only in a chain whose
state has +inf energy) takes the state with the fewest +inf terms
(:func:`_escape`), which moves the chain towards allowed states; such updates
in the last sweep are counted (``stuck``) and the caller diagnoses the chain
(a full sweep without one leaves every factor with a free variable finite).
"""

from typing import NamedTuple

import numpy as np
from numba import prange

from ._jit import JIT, JIT_INLINE, JIT_LOOP, JIT_PARALLEL, njit
from .rng import _sweep_key, _uniform
from .vmath import _exp_nonpos

INF = np.inf
#: ``mode`` of the sweep kernels: the generic update, the binary fast path, and the binary fast path in
#: blocks of BLOCK sites (sums first, then the draws: a loop that vectorises; chromatic sweeps only, where the
#: sites of a class do not depend on each other).
GENERIC, BINARY, BINARY_BLOCKED = 0, 1, 2
BLOCK = 64


class GibbsPlan(NamedTuple):
    """Sampling wiring by variable (structure only), from which :class:`SweepPlan` is gathered.

    ``P`` = pairwise entries (two per pairwise factor), ``H`` = edges of factors of arity >= 3.
    """

    pair_ptr: np.ndarray        #: (V+1,) int64 CSR pointer into the pair arrays
    pair_nb: np.ndarray         #: (P,) int32 neighbour variable
    pair_off: np.ndarray        #: (P,) int64 offset in ``tables`` of the copy in which the neighbour is the row
    high_ptr: np.ndarray        #: (V+1,) int64 CSR pointer into high_edges
    high_edges: np.ndarray      #: (H,) int64 edges of the variable in factors of arity >= 3


class SweepPlan(NamedTuple):
    """What a sweep reads, by *position* in the sweep (``n`` free sites), contiguous in the order of updates."""

    sites: np.ndarray           #: (n,) int64 variable updated at each position
    fptr: np.ndarray            #: (n+1,) int64 offsets of each site's states in the per-call field ``sfield``
    pptr: np.ndarray            #: (n+1,) int64 CSR pointer into the pair arrays
    pair_nb: np.ndarray         #: int32 neighbour variable
    pair_off: np.ndarray        #: int64 offset of the table copy in which the neighbour is the row
    hptr: np.ndarray            #: (n+1,) int64 CSR pointer into high_edges
    high_edges: np.ndarray      #: int64 edges of the site in factors of arity >= 3
    factor_edge_ptr: np.ndarray  #: (F+1,) int64 (wiring)
    edge_var: np.ndarray        #: (E,) int64 (wiring)
    edge_factor: np.ndarray     #: (E,) int64 (wiring)
    edge_stride: np.ndarray     #: (E,) int64 (wiring)
    factor_block: np.ndarray    #: (F,) int64 (wiring)
    block_ptr: np.ndarray       #: (B+1,) int64 (wiring)
    #: binary fast path (every free site binary, pairwise only, every entry it reads finite), else empty:
    pair_doff: np.ndarray       #: int32 offset of the pair's energy differences in ``delta``


@njit(**JIT_INLINE)
def _high_base(e, st, sb, p):
    """Offset in ``tables`` of the entry of edge ``e``'s factor at the other variables' current states, state 0."""
    f = p.edge_factor[e]
    base = p.block_ptr[p.factor_block[f]]
    for e2 in range(p.factor_edge_ptr[f], p.factor_edge_ptr[f + 1]):
        if e2 != e:
            base += st[sb + p.edge_var[e2]] * p.edge_stride[e2]
    return base


@njit(**JIT_INLINE)
def _logistic(z, beta, u):
    """1 with probability ``1 / (1 + exp(beta z))`` (``z = e1 - e0``, +-inf allowed) given the uniform ``u``, else 0.

    One branch-free exponential of a non-positive argument: with ``t = exp(-beta |z|)``,
    ``P(1) = t / (1 + t)`` for ``z >= 0`` and ``1 / (1 + t)`` for ``z < 0``.
    """
    t = _exp_nonpos(-beta * abs(z))
    return 1 if u * (1.0 + t) < (t if z >= 0 else 1.0) else 0


@njit(**JIT_INLINE)
def _update(j, st, sb, p, tables, sfield, beta, u, buf, ibuf):
    """New state of the site at position ``j`` of the chain at ``st[sb:sb + V]``, uniform ``u``; -1 if none allowed.

    ``buf``: float work array of at least the site's state count, ``ibuf``: int64 work array of at least its
    number of pairwise neighbours (neither is used for binary sites). The table rows of the neighbours are
    located first (``ibuf``), then each state's energy is summed in a register, and the exponentials run in
    a loop of their own (which vectorises).
    """
    s0 = p.fptr[j]
    k = p.fptr[j + 1] - s0
    q0 = p.pptr[j]
    q1 = p.pptr[j + 1]
    h0 = p.hptr[j]
    h1 = p.hptr[j + 1]
    if k == 2:
        e0 = sfield[s0]
        e1 = sfield[s0 + 1]
        for q in range(q0, q1):
            o = p.pair_off[q] + 2 * st[sb + p.pair_nb[q]]
            e0 += tables[o]
            e1 += tables[o + 1]
        for h in range(h0, h1):
            e = p.high_edges[h]
            base = _high_base(e, st, sb, p)
            e0 += tables[base]
            e1 += tables[base + p.edge_stride[e]]
        if e0 == INF and e1 == INF:
            return -1
        return _logistic(e1 - e0, beta, u)
    nq = q1 - q0
    for q in range(nq):
        ibuf[q] = p.pair_off[q0 + q] + k * st[sb + p.pair_nb[q0 + q]]
    for x in range(k):
        e = sfield[s0 + x]
        for q in range(nq):
            e += tables[ibuf[q] + x]
        buf[x] = e
    for h in range(h0, h1):
        e = p.high_edges[h]
        base = _high_base(e, st, sb, p)
        sv = p.edge_stride[e]
        for x in range(k):
            buf[x] += tables[base + x * sv]
    lo = INF
    for x in range(k):
        lo = buf[x] if buf[x] < lo else lo
    if lo == INF:
        return -1
    for x in range(k):
        buf[x] = _exp_nonpos(-beta * (buf[x] - lo))
    total = 0.0
    for x in range(k):
        total += buf[x]
        buf[x] = total
    target = u * total
    for x in range(k - 1):
        if buf[x] > target:
            return x
    # the last state, unless its weight is 0 (round-off put the target past the last allowed state)
    x = k - 1
    while x > 0 and buf[x] == buf[x - 1]:
        x -= 1
    return x


@njit(**JIT_INLINE)
def _update_binary(j, st, sb, p, d, delta, beta, u):
    """Binary fast path: ``z = e1 - e0 = d[j] + sum of the pairs' differences``, ``x = 1`` w.p. ``1 / (1 + e^(beta z))``."""
    z = d[j]
    for q in range(p.pptr[j], p.pptr[j + 1]):
        z += delta[p.pair_doff[q] + st[sb + p.pair_nb[q]]]
    return _logistic(z, beta, u)


@njit(**JIT_LOOP)
def _escape(j, st, sb, p, tables, sfield, u, buf):
    """State of the site at ``j`` when its conditional has no finite state: the fewest +inf terms, ties by ``u``.

    Only a chain in a state of probability zero gets here; the rule moves it
    towards allowed states (a constraint violated whatever the site does
    does not decide).
    """
    s0 = p.fptr[j]
    k = p.fptr[j + 1] - s0
    for x in range(k):
        buf[x] = 1.0 if sfield[s0 + x] == INF else 0.0
    for q in range(p.pptr[j], p.pptr[j + 1]):
        o = p.pair_off[q] + k * st[sb + p.pair_nb[q]]
        for x in range(k):
            if tables[o + x] == INF:
                buf[x] += 1.0
    for h in range(p.hptr[j], p.hptr[j + 1]):
        e = p.high_edges[h]
        base = _high_base(e, st, sb, p)
        sv = p.edge_stride[e]
        for x in range(k):
            if tables[base + x * sv] == INF:
                buf[x] += 1.0
    lo = buf[0]
    for x in range(k):
        lo = buf[x] if buf[x] < lo else lo
    ties = 0
    for x in range(k):
        if buf[x] == lo:
            ties += 1
    pick = min(int(u * ties), ties - 1)
    for x in range(k):
        if buf[x] == lo:
            if pick == 0:
                return x
            pick -= 1
    return 0


@njit(**JIT)
def _max_degree(p):
    """Largest number of pairwise neighbours of a site (at least 1)."""
    m = 1
    for j in range(len(p.sites)):
        m = max(m, p.pptr[j + 1] - p.pptr[j])
    return m


@njit(**JIT_LOOP)
def _positions(a, lo, hi, n_sites, chain_ids, seed, sweep, p, tables, sfield, d, delta, mode, beta, st, n_vars,
               last, buf, ibuf):
    """Update the (chain, position) pairs ``lo .. hi - 1`` of the positions ``a .. a + n_sites - 1`` (chain-major).

    Returns the updates of the last sweep that found no allowed state.
    """
    if lo >= hi:
        return 0
    c = lo // n_sites
    j = lo - c * n_sites
    key = _sweep_key(seed, chain_ids[c], sweep)
    sb = c * n_vars
    stuck = 0
    n_chains = len(chain_ids)
    if mode == BINARY_BLOCKED:
        i = lo
        while i < hi:
            m = min(BLOCK, n_sites - j, hi - i)
            for b in range(m):
                jj = a + j + b
                z = d[jj]
                for q in range(p.pptr[jj], p.pptr[jj + 1]):
                    z += delta[p.pair_doff[q] + st[sb + p.pair_nb[q]]]
                buf[b] = z
            for b in range(m):
                v = p.sites[a + j + b]
                st[sb + v] = _logistic(buf[b], beta, _uniform(key, v))
            i += m
            j += m
            if j == n_sites:
                j = 0
                c += 1
                if c < n_chains:
                    key = _sweep_key(seed, chain_ids[c], sweep)
                sb = c * n_vars
        return 0
    if mode == BINARY:
        for _ in range(lo, hi):
            v = p.sites[a + j]
            st[sb + v] = _update_binary(a + j, st, sb, p, d, delta, beta, _uniform(key, v))
            j += 1
            if j == n_sites:
                j = 0
                c += 1
                if c < n_chains:
                    key = _sweep_key(seed, chain_ids[c], sweep)
                sb = c * n_vars
        return 0
    for _ in range(lo, hi):
        v = p.sites[a + j]
        u = _uniform(key, v)
        x = _update(a + j, st, sb, p, tables, sfield, beta, u, buf, ibuf)
        if x < 0:
            x = _escape(a + j, st, sb, p, tables, sfield, u, buf)
            if last:
                stuck += 1
        st[sb + v] = x
        j += 1
        if j == n_sites:
            j = 0
            c += 1
            if c < n_chains:
                key = _sweep_key(seed, chain_ids[c], sweep)
            sb = c * n_vars
    return stuck


@njit(**JIT_PARALLEL)
def _class_sweep(n_chunks, a, b, chain_ids, seed, sweep, p, tables, sfield, d, delta, mode, beta, st, n_vars, last,
                 buf, ibuf, chunk_stuck):
    """One colour class (positions ``a .. b - 1``) of every chain: chunks of (chain, site) pairs in parallel."""
    n_sites = b - a
    n = n_sites * len(chain_ids)
    for c in prange(n_chunks):
        chunk_stuck[c] += _positions(a, c * n // n_chunks, (c + 1) * n // n_chunks, n_sites, chain_ids, seed, sweep,
                                     p, tables, sfield, d, delta, mode, beta, st, n_vars, last, buf[c], ibuf[c])


@njit(**JIT)
def _chromatic(class_ptr, chain_ids, seed, first_sweep, n_sweeps, record_every, p, tables, sfield, d, delta, mode,
               beta, states, n_chunks, kmax, out):
    """``n_sweeps`` chromatic sweeps of ``states`` (n_chains, V) in place; returns the stuck updates of the last.

    Sweep ``t`` updates the colour classes (positions ``class_ptr[i] .. class_ptr[i + 1] - 1`` of ``p``) in
    turn. With ``record_every = r > 0`` the states after sweeps ``r, 2r, ...`` go to ``out[:, i]``.
    """
    n_chains, n_vars = states.shape
    st = states.reshape(n_chains * n_vars)
    buf = np.empty((n_chunks, max(kmax, BLOCK)))
    ibuf = np.empty((n_chunks, _max_degree(p)), dtype=np.int64)
    chunk_stuck = np.zeros(n_chunks, dtype=np.int64)
    if mode == BINARY:
        mode = BINARY_BLOCKED
    rec = 0
    for t in range(n_sweeps):
        last = t == n_sweeps - 1
        for i in range(len(class_ptr) - 1):
            if class_ptr[i + 1] > class_ptr[i]:
                _class_sweep(n_chunks, class_ptr[i], class_ptr[i + 1], chain_ids, seed, first_sweep + t, p, tables,
                             sfield, d, delta, mode, beta, st, n_vars, last, buf, ibuf, chunk_stuck)
        if record_every > 0 and (t + 1) % record_every == 0:
            out[:, rec, :] = states
            rec += 1
    return chunk_stuck.sum()


@njit(**JIT_LOOP)
def _chain_run(c, chain_ids, seed, first_sweep, n_sweeps, record_every, p, tables, sfield, d, delta, mode, beta, st,
               n_vars, out, buf, ibuf):
    """Every sweep of chain ``c``, positions in order; returns the stuck updates of the last sweep."""
    n = len(p.sites)
    stuck = 0
    rec = 0
    for t in range(n_sweeps):
        stuck += _positions(0, c * n, (c + 1) * n, n, chain_ids, seed, first_sweep + t, p, tables, sfield, d, delta,
                            mode, beta, st, n_vars, t == n_sweeps - 1, buf, ibuf)
        if record_every > 0 and (t + 1) % record_every == 0:
            sb = c * n_vars
            for v in range(n_vars):
                out[c, rec, v] = st[sb + v]
            rec += 1
    return stuck


@njit(**JIT_PARALLEL)
def _sequential(chain_ids, seed, first_sweep, n_sweeps, record_every, p, tables, sfield, d, delta, mode, beta,
                states, kmax, out):
    """``n_sweeps`` sequential sweeps (positions in order) of every chain, chains in parallel; returns stuck updates."""
    n_chains, n_vars = states.shape
    st = states.reshape(n_chains * n_vars)
    buf = np.empty((n_chains, kmax))
    ibuf = np.empty((n_chains, _max_degree(p)), dtype=np.int64)
    stuck = np.zeros(n_chains, dtype=np.int64)
    for c in prange(n_chains):
        stuck[c] = _chain_run(c, chain_ids, seed, first_sweep, n_sweeps, record_every, p, tables, sfield, d, delta,
                              mode, beta, st, n_vars, out, buf[c], ibuf[c])
    return stuck.sum()


@njit(**JIT)
def _no_allowed_state(p, tables, sfield, states, chain, kmax):
    """Variable of the first position whose conditional in ``chain`` of ``states`` has no finite state, or -1."""
    n_vars = states.shape[1]
    st = states.reshape(states.size)
    buf = np.empty(kmax)
    ibuf = np.empty(_max_degree(p), dtype=np.int64)
    for j in range(len(p.sites)):
        if _update(j, st, chain * n_vars, p, tables, sfield, 1.0, 0.5, buf, ibuf) < 0:
            return p.sites[j]
    return -1


@njit(**JIT)
def _greedy_colouring(adj_ptr, adj):
    """Greedy colouring of a graph in CSR form, vertices in order: each takes the smallest colour its earlier
    neighbours do not use. Returns (V,) int64 colours (at most max degree + 1 of them)."""
    n = len(adj_ptr) - 1
    colour = np.full(n, -1, dtype=np.int64)
    maxdeg = 0
    for v in range(n):
        maxdeg = max(maxdeg, adj_ptr[v + 1] - adj_ptr[v])
    mark = np.full(maxdeg + 2, -1, dtype=np.int64)
    for v in range(n):
        for q in range(adj_ptr[v], adj_ptr[v + 1]):
            cu = colour[adj[q]]
            if cu >= 0:
                mark[cu] = v
        c = 0
        while mark[c] == v:
            c += 1
        colour[v] = c
    return colour


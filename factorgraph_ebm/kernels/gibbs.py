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

* pairwise factors are per-variable CSR lists ``(neighbour, neighbour states,
  row offset)``: the row offset points at the C-order copy of the table in
  which ``v`` is the row (``wiring.tables`` holds every pairwise table twice,
  the second copy transposed), so the entry is
  ``tables[off + x * k_nb + x_nb]``;
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

INF = np.inf


class GibbsPlan(NamedTuple):
    """Sampling wiring (structure only; the tables are passed apart). ``P`` = pairwise entries, ``H`` = high edges."""

    var_states: np.ndarray      #: (V,) int64 states
    var_state_ptr: np.ndarray   #: (V+1,) int64 offsets into ``field``
    pair_ptr: np.ndarray        #: (V+1,) int64 CSR pointer into the pair arrays
    pair_nb: np.ndarray         #: (P,) int32 neighbour variable
    pair_k: np.ndarray          #: (P,) int32 neighbour's states (row length of the table)
    pair_off: np.ndarray        #: (P,) int64 offset in ``tables`` of the copy where this variable is the row
    high_ptr: np.ndarray        #: (V+1,) int64 CSR pointer into high_edges
    high_edges: np.ndarray      #: (H,) int64 edges of the variable in factors of arity >= 3
    factor_edge_ptr: np.ndarray  #: (F+1,) int64 (wiring)
    edge_var: np.ndarray        #: (E,) int64 (wiring)
    edge_factor: np.ndarray     #: (E,) int64 (wiring)
    edge_stride: np.ndarray     #: (E,) int64 (wiring)
    factor_block: np.ndarray    #: (F,) int64 (wiring)
    block_ptr: np.ndarray       #: (B+1,) int64 (wiring)


@njit(**JIT_INLINE)
def _update(v, st, sb, p, tables, field, beta, u, buf):
    """New state of variable ``v`` of the chain at ``st[sb:sb + V]`` given uniform ``u``; -1 when none is allowed.

    ``buf``: work array of at least ``var_states[v]`` floats (not used for binary variables).
    """
    k = p.var_states[v]
    s0 = p.var_state_ptr[v]
    q0 = p.pair_ptr[v]
    q1 = p.pair_ptr[v + 1]
    h0 = p.high_ptr[v]
    h1 = p.high_ptr[v + 1]
    if k == 2:
        e0 = field[s0]
        e1 = field[s0 + 1]
        for q in range(q0, q1):
            o = p.pair_off[q] + st[sb + p.pair_nb[q]]
            e0 += tables[o]
            e1 += tables[o + p.pair_k[q]]
        for h in range(h0, h1):
            e = p.high_edges[h]
            f = p.edge_factor[e]
            base = p.block_ptr[p.factor_block[f]]
            for e2 in range(p.factor_edge_ptr[f], p.factor_edge_ptr[f + 1]):
                if e2 != e:
                    base += st[sb + p.edge_var[e2]] * p.edge_stride[e2]
            e0 += tables[base]
            e1 += tables[base + p.edge_stride[e]]
        if e0 == INF and e1 == INF:
            return -1
        # P(x = 1) = 1 / (1 + exp(beta (e1 - e0))); e0 = inf gives exp(-inf) = 0, e1 = inf gives +inf
        return 1 if u * (1.0 + np.exp(beta * (e1 - e0))) < 1.0 else 0
    for x in range(k):
        buf[x] = field[s0 + x]
    for q in range(q0, q1):
        o = p.pair_off[q] + st[sb + p.pair_nb[q]]
        kn = p.pair_k[q]
        for x in range(k):
            buf[x] += tables[o + x * kn]
    for h in range(h0, h1):
        e = p.high_edges[h]
        f = p.edge_factor[e]
        base = p.block_ptr[p.factor_block[f]]
        for e2 in range(p.factor_edge_ptr[f], p.factor_edge_ptr[f + 1]):
            if e2 != e:
                base += st[sb + p.edge_var[e2]] * p.edge_stride[e2]
        sv = p.edge_stride[e]
        for x in range(k):
            buf[x] += tables[base + x * sv]
    lo = INF
    for x in range(k):
        lo = buf[x] if buf[x] < lo else lo
    if lo == INF:
        return -1
    total = 0.0
    for x in range(k):
        total += np.exp(-beta * (buf[x] - lo))
        buf[x] = total
    target = u * total
    for x in range(k - 1):
        if buf[x] > target:
            return x
    # the last state: unless its weight is 0 (round-off put the target past the last allowed state)
    x = k - 1
    while x > 0 and buf[x] == buf[x - 1]:
        x -= 1
    return x


@njit(**JIT_LOOP)
def _escape(v, st, sb, p, tables, field, u, buf):
    """State of ``v`` when its conditional has no finite state: the fewest +inf terms, ties by ``u``.

    Only a chain in a state of probability zero gets here; the rule moves it
    towards allowed states (the tables of a constraint that is violated
    whatever ``v`` does do not decide).
    """
    k = p.var_states[v]
    s0 = p.var_state_ptr[v]
    for x in range(k):
        buf[x] = 1.0 if field[s0 + x] == INF else 0.0
    for q in range(p.pair_ptr[v], p.pair_ptr[v + 1]):
        o = p.pair_off[q] + st[sb + p.pair_nb[q]]
        kn = p.pair_k[q]
        for x in range(k):
            if tables[o + x * kn] == INF:
                buf[x] += 1.0
    for h in range(p.high_ptr[v], p.high_ptr[v + 1]):
        e = p.high_edges[h]
        f = p.edge_factor[e]
        base = p.block_ptr[p.factor_block[f]]
        for e2 in range(p.factor_edge_ptr[f], p.factor_edge_ptr[f + 1]):
            if e2 != e:
                base += st[sb + p.edge_var[e2]] * p.edge_stride[e2]
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


@njit(**JIT_LOOP)
def _class_range(lo, hi, sites, n_sites, chain_ids, seed, sweep, p, tables, field, beta, st, n_vars, last,
                 buf):
    """Update the (chain, site) pairs ``lo .. hi - 1`` of one colour class (chain-major); returns stuck updates."""
    if lo >= hi:
        return 0
    c = lo // n_sites
    j = lo - c * n_sites
    key = _sweep_key(seed, chain_ids[c], sweep)
    sb = c * n_vars
    stuck = 0
    for _ in range(lo, hi):
        v = sites[j]
        u = _uniform(key, v)
        x = _update(v, st, sb, p, tables, field, beta, u, buf)
        if x < 0:
            x = _escape(v, st, sb, p, tables, field, u, buf)
            if last:
                stuck += 1
        st[sb + v] = x
        j += 1
        if j == n_sites:
            j = 0
            c += 1
            if c < len(chain_ids):
                key = _sweep_key(seed, chain_ids[c], sweep)
            sb = c * n_vars
    return stuck


@njit(**JIT_PARALLEL)
def _class_sweep(n_chunks, sites, chain_ids, seed, sweep, p, tables, field, beta, st, n_vars, last, buf,
                 chunk_stuck):
    """One colour class of every chain, ``n_chunks`` contiguous chunks of (chain, site) pairs in parallel."""
    n_sites = len(sites)
    n = n_sites * len(chain_ids)
    for c in prange(n_chunks):
        chunk_stuck[c] += _class_range(c * n // n_chunks, (c + 1) * n // n_chunks, sites, n_sites, chain_ids, seed,
                                       sweep, p, tables, field, beta, st, n_vars, last, buf[c])


@njit(**JIT)
def _chromatic(class_ptr, sites, chain_ids, seed, first_sweep, n_sweeps, record_every, p, tables, field, beta,
               states, n_chunks, out):
    """``n_sweeps`` chromatic sweeps of ``states`` (n_chains, V) in place; returns the stuck updates of the last.

    Sweep ``t`` updates the colour classes ``sites[class_ptr[i]:class_ptr[i + 1]]`` in turn. With
    ``record_every = r > 0`` the states after sweeps ``r, 2r, ...`` go to ``out[:, i]``.
    """
    n_chains, n_vars = states.shape
    st = states.reshape(n_chains * n_vars)
    kmax = 2
    for v in range(n_vars):
        kmax = max(kmax, p.var_states[v])
    buf = np.empty((n_chunks, kmax))
    chunk_stuck = np.zeros(n_chunks, dtype=np.int64)
    rec = 0
    for t in range(n_sweeps):
        last = t == n_sweeps - 1
        for i in range(len(class_ptr) - 1):
            cls = sites[class_ptr[i]:class_ptr[i + 1]]
            if len(cls):
                _class_sweep(n_chunks, cls, chain_ids, seed, first_sweep + t, p, tables, field, beta, st, n_vars,
                             last, buf, chunk_stuck)
        if record_every > 0 and (t + 1) % record_every == 0:
            out[:, rec, :] = states
            rec += 1
    return chunk_stuck.sum()


@njit(**JIT_LOOP)
def _chain_run(c, sites, chain_ids, seed, first_sweep, n_sweeps, record_every, p, tables, field, beta, st, n_vars,
               out, buf):
    """Every sweep of chain ``c``, sites in order; returns the stuck updates of the last sweep."""
    sb = c * n_vars
    stuck = 0
    rec = 0
    for t in range(n_sweeps):
        key = _sweep_key(seed, chain_ids[c], first_sweep + t)
        last = t == n_sweeps - 1
        for j in range(len(sites)):
            v = sites[j]
            u = _uniform(key, v)
            x = _update(v, st, sb, p, tables, field, beta, u, buf)
            if x < 0:
                x = _escape(v, st, sb, p, tables, field, u, buf)
                if last:
                    stuck += 1
            st[sb + v] = x
        if record_every > 0 and (t + 1) % record_every == 0:
            for v in range(n_vars):
                out[c, rec, v] = st[sb + v]
            rec += 1
    return stuck


@njit(**JIT_PARALLEL)
def _sequential(sites, chain_ids, seed, first_sweep, n_sweeps, record_every, p, tables, field, beta, states, out):
    """``n_sweeps`` sequential sweeps (sites in order) of every chain, chains in parallel; returns stuck updates."""
    n_chains, n_vars = states.shape
    st = states.reshape(n_chains * n_vars)
    kmax = 2
    for v in range(n_vars):
        kmax = max(kmax, p.var_states[v])
    buf = np.empty((n_chains, kmax))
    stuck = np.zeros(n_chains, dtype=np.int64)
    for c in prange(n_chains):
        stuck[c] = _chain_run(c, sites, chain_ids, seed, first_sweep, n_sweeps, record_every, p, tables, field, beta,
                              st, n_vars, out, buf[c])
    return stuck.sum()


@njit(**JIT)
def _no_allowed_state(p, tables, field, states, chain, sites):
    """First of ``sites`` whose conditional in ``chain`` (of ``states``) has no finite state, or -1."""
    n_vars = states.shape[1]
    st = states.reshape(states.size)
    kmax = 2
    for v in range(n_vars):
        kmax = max(kmax, p.var_states[v])
    buf = np.empty(kmax)
    for j in range(len(sites)):
        if _update(sites[j], st, chain * n_vars, p, tables, field, 1.0, 0.5, buf) < 0:
            return sites[j]
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

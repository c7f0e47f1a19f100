"""Sequential, random-order and residual schedules of loopy BP.

Same messages, damping and change measure as flooding (:mod:`.bp`): the
message helpers are imported from there, so a change to them must clear this
module's disk cache too (see the package notes on Numba's cache).

* Sequential: the factors in a fixed order (ids ascending); each factor's
  messages are computed from its variables' current incoming messages and
  written at once, so later factors of the same sweep see them.
* Random: the same with a fresh order each sweep (Fisher-Yates shuffle driven by
  a splitmix64 state passed in, so a seed reproduces the run).
* Residual (Elidan, McGraw and Koller 2006): the factor-to-variable message
  whose candidate new value differs most (:func:`.messages._message_change`) from the
  current one is written next; the candidates of the messages it affects (of
  every other factor of its variable, towards their other variables) are then
  recomputed. An indexed binary max-heap keeps the residuals.

One-variable factors send their constant message once, first. Every driver
ends with a pass over the variables, so ``msg_v2f`` and ``belief`` match the
final ``msg_f2v``.
"""

import numpy as np

from ._jit import JIT, JIT_INLINE, JIT_LOOP, njit
from .messages import INF, _factor_message, _factor_messages, _settle, _unary_message, _var_messages


@njit(**JIT_LOOP)
def _start(w, unary, msg_f2v, msg_v2f, belief):
    """Messages of the one-variable factors, then every variable's messages and belief."""
    for f in range(len(w.factor_edge_ptr) - 1):
        if w.factor_edge_ptr[f + 1] - w.factor_edge_ptr[f] == 1:
            _unary_message(f, w, msg_f2v)
    for v in range(len(w.var_states)):
        _var_messages(v, w, unary, msg_f2v, msg_v2f, belief)


@njit(**JIT_LOOP)
def _finish(w, unary, msg_f2v, msg_v2f, belief):
    """Every variable's messages and belief from the final ``msg_f2v``."""
    for v in range(len(w.var_states)):
        _var_messages(v, w, unary, msg_f2v, msg_v2f, belief)


@njit(**JIT_INLINE)
def _v2f_from_belief(e, w, unary, msg_f2v, msg_v2f, belief):
    """``msg_v2f[e] = belief_v - msg_f2v[e]`` (v = the edge's variable): O(states), not O(degree x states).

    Where ``belief_v`` is +inf the entry is summed afresh from ``unary_v`` and
    the other edges' messages (a subtraction would give NaN).
    """
    v = w.edge_var[e]
    k = w.var_states[v]
    s0 = w.var_state_ptr[v]
    m = w.edge_state_ptr[e]
    for x in range(k):
        b = belief[s0 + x]
        if b < INF:
            msg_v2f[m + x] = b - msg_f2v[m + x]
            continue
        u = unary[s0 + x]
        for p in range(w.var_edge_ptr[v], w.var_edge_ptr[v + 1]):
            e2 = w.var_edges[p]
            if e2 != e:
                u += msg_f2v[w.edge_state_ptr[e2] + x]
        msg_v2f[m + x] = u


@njit(**JIT_INLINE)
def _write_f2v(e, w, unary, new, msg_f2v, belief):
    """``msg_f2v[e] = new[e]``, keeping ``belief`` of the edge's variable equal to unary + its incoming messages.

    Adds ``new - old`` where everything is finite; an entry that involves
    +inf is summed afresh.
    """
    v = w.edge_var[e]
    k = w.var_states[v]
    s0 = w.var_state_ptr[v]
    m = w.edge_state_ptr[e]
    for x in range(k):
        old = msg_f2v[m + x]
        val = new[m + x]
        msg_f2v[m + x] = val
        if old < INF and val < INF and belief[s0 + x] < INF:
            belief[s0 + x] += val - old
            continue
        u = unary[s0 + x]
        for p in range(w.var_edge_ptr[v], w.var_edge_ptr[v + 1]):
            u += msg_f2v[w.edge_state_ptr[w.var_edges[p]] + x]
        belief[s0 + x] = u


@njit(**JIT_INLINE)
def _next_random(state):
    """splitmix64: advance ``state[0]`` and return 64 random bits."""
    state[0] += np.uint64(0x9E3779B97F4A7C15)
    z = state[0]
    z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return z ^ (z >> np.uint64(31))


@njit(**JIT_LOOP)
def _shuffle(order, state):
    """Fisher-Yates shuffle of ``order`` in place, from the splitmix64 ``state`` (1,) uint64."""
    for i in range(len(order) - 1, 0, -1):
        j = np.int64(_next_random(state) % np.uint64(i + 1))
        t = order[i]
        order[i] = order[j]
        order[j] = t


@njit(**JIT_LOOP)
def _sequential_sweep(order, w, unary, beta, etables, block_min, damping, tol, msg_f2v, msg_v2f, belief, new,
                      scratch):
    """One sweep over the factors ``order`` (none of them one-variable); returns the largest change.

    (Exact when it exceeds ``tol``, else some value <= ``tol``: see :func:`.pairwise._flood_factors`.)

    ``belief`` must be ``unary + sum of msg_f2v`` on entry and is kept so
    (incrementally: the rounding drift is reset by the caller's full variable
    pass before each sweep); a variable's message to a factor is its belief
    minus that factor's message, so a sweep costs O(edges x states) besides the
    factor messages, whatever the variable degrees.

    ``new``: work array shaped like the messages; ``scratch``: length >= 2 x the largest state count.
    """
    d = 0.0
    for i in range(len(order)):
        f = order[i]
        e0 = w.factor_edge_ptr[f]
        e1 = w.factor_edge_ptr[f + 1]
        for e in range(e0, e1):
            _v2f_from_belief(e, w, unary, msg_f2v, msg_v2f, belief)
        _factor_messages(f, w, beta, etables, block_min, msg_v2f, new, scratch)
        for e in range(e0, e1):
            m = w.edge_state_ptr[e]
            c = _settle(new, msg_f2v, m, w.edge_state_ptr[e + 1] - m, damping, beta, max(d, tol), scratch)
            if c > d:
                d = c
            _write_f2v(e, w, unary, new, msg_f2v, belief)
    return d


@njit(**JIT)
def _sequential(w, unary, beta, etables, block_min, damping, tol, max_iter, shuffle, state, msg_f2v, msg_v2f,
                belief):
    """Sequential (``shuffle`` False) or random-order (True) BP from the messages given, in place.

    ``state`` (1,) uint64: splitmix64 state of the shuffles (advanced). Stops
    when a sweep's largest change is <= ``tol`` or after ``max_iter`` sweeps.
    Returns ``(n_iter, delta)``.
    """
    arity = w.factor_edge_ptr[1:] - w.factor_edge_ptr[:-1]
    order = np.flatnonzero(arity > 1)
    new = np.empty_like(msg_f2v)
    scratch = np.empty(2 * np.max(w.var_states))
    _start(w, unary, msg_f2v, msg_v2f, belief)
    it = 0
    delta = 0.0 if len(order) == 0 else INF
    while it < max_iter and len(order) > 0:
        if shuffle:
            _shuffle(order, state)
        if it > 0:
            _finish(w, unary, msg_f2v, msg_v2f, belief)     # exact beliefs again (no drift across sweeps)
        delta = _sequential_sweep(order, w, unary, beta, etables, block_min, damping, tol, msg_f2v, msg_v2f,
                                  belief, new, scratch)
        it += 1
        if delta <= tol:
            break
    _finish(w, unary, msg_f2v, msg_v2f, belief)
    return it, delta


@njit(**JIT_INLINE)
def _heap_up(i, heap, pos, key):
    """Move heap slot ``i`` up while its key beats its parent's."""
    e = heap[i]
    while i > 0:
        p = (i - 1) >> 1
        if key[heap[p]] >= key[e]:
            break
        heap[i] = heap[p]
        pos[heap[i]] = i
        i = p
    heap[i] = e
    pos[e] = i


@njit(**JIT_INLINE)
def _heap_down(i, n, heap, pos, key):
    """Move heap slot ``i`` down (heap of ``n`` slots) while a child's key beats it."""
    e = heap[i]
    while True:
        c = 2 * i + 1
        if c >= n:
            break
        if c + 1 < n and key[heap[c + 1]] > key[heap[c]]:
            c += 1
        if key[heap[c]] <= key[e]:
            break
        heap[i] = heap[c]
        pos[heap[i]] = i
        i = c
    heap[i] = e
    pos[e] = i


@njit(**JIT_INLINE)
def _heap_set(e, r, n, heap, pos, key):
    """Set edge ``e``'s residual to ``r`` and restore the heap order."""
    old = key[e]
    key[e] = r
    if r > old:
        _heap_up(pos[e], heap, pos, key)
    elif r < old:
        _heap_down(pos[e], n, heap, pos, key)


@njit(**JIT_LOOP)
def _residual_loop(w, unary, beta, etables, block_min, damping, tol, max_updates, msg_f2v, msg_v2f, belief, cand,
                   key, heap, pos, scratch, counts):
    """Residual BP from consistent ``msg_f2v`` / ``msg_v2f``; returns the largest residual left.

    Residuals whose cheap bound is <= ``tol`` count as 0 (they are never
    written anyway), which saves their exponentials.

    ``heap`` (n,) int64 lists the n edges of the factors with two or more
    variables; ``cand`` (shaped like the messages), ``key`` (E,) float64 and
    ``pos`` (E,) int64 are work arrays; ``counts[0]`` receives the number of
    messages written (at most ``max_updates``).
    """
    n = len(heap)
    # candidates and residuals of every message, then heapify
    for i in range(n):
        e = heap[i]
        f = w.edge_factor[e]
        e0 = w.factor_edge_ptr[f]
        _factor_message(f, e - e0, w, beta, etables, block_min, msg_v2f, cand, scratch)
        m = w.edge_state_ptr[e]
        key[e] = _settle(cand, msg_f2v, m, w.edge_state_ptr[e + 1] - m, damping, beta, tol, scratch)
        pos[e] = i
    for i in range(n // 2 - 1, -1, -1):
        _heap_down(i, n, heap, pos, key)
    updates = 0
    while updates < max_updates and n > 0:
        e = heap[0]
        if key[e] <= tol:
            break
        m = w.edge_state_ptr[e]
        for x in range(w.edge_state_ptr[e + 1] - m):
            msg_f2v[m + x] = cand[m + x]
        v = w.edge_var[e]
        f = w.edge_factor[e]
        r = 0.0
        if damping > 0.0:   # the damped message moved only part of the way: its next step, same inputs
            _factor_message(f, e - w.factor_edge_ptr[f], w, beta, etables, block_min, msg_v2f, cand, scratch)
            r = _settle(cand, msg_f2v, m, w.edge_state_ptr[e + 1] - m, damping, beta, tol, scratch)
        _heap_set(e, r, n, heap, pos, key)
        updates += 1
        _var_messages(v, w, unary, msg_f2v, msg_v2f, belief)
        for p in range(w.var_edge_ptr[v], w.var_edge_ptr[v + 1]):
            e2 = w.var_edges[p]
            g = w.edge_factor[e2]
            if g == f:
                continue
            g0 = w.factor_edge_ptr[g]
            g1 = w.factor_edge_ptr[g + 1]
            if g1 - g0 == 1:
                continue
            for e3 in range(g0, g1):
                if e3 == e2:
                    continue
                _factor_message(g, e3 - g0, w, beta, etables, block_min, msg_v2f, cand, scratch)
                m3 = w.edge_state_ptr[e3]
                r = _settle(cand, msg_f2v, m3, w.edge_state_ptr[e3 + 1] - m3, damping, beta, tol, scratch)
                _heap_set(e3, r, n, heap, pos, key)
    counts[0] = updates
    return key[heap[0]] if n > 0 else 0.0


@njit(**JIT)
def _residual(w, unary, beta, etables, block_min, damping, tol, max_iter, msg_f2v, msg_v2f, belief):
    """Residual BP from the messages given (updated in place).

    ``max_iter`` counts sweeps: at most ``max_iter x`` (number of messages of
    factors with two or more variables) messages are written. Returns
    ``(n_iter, delta)``: message updates / messages, rounded up, and the
    largest residual left (converged when <= ``tol``).
    """
    n_edges = len(w.edge_var)
    arity = w.factor_edge_ptr[1:] - w.factor_edge_ptr[:-1]
    heap = np.flatnonzero(arity[w.edge_factor] > 1)
    n = len(heap)
    cand = np.empty_like(msg_f2v)
    key = np.zeros(n_edges)
    pos = np.zeros(n_edges, dtype=np.int64)
    scratch = np.empty(2 * np.max(w.var_states))
    counts = np.zeros(1, dtype=np.int64)
    _start(w, unary, msg_f2v, msg_v2f, belief)
    delta = _residual_loop(w, unary, beta, etables, block_min, damping, tol, max(1, n) * max_iter, msg_f2v,
                           msg_v2f, belief, cand, key, heap, pos, scratch, counts)
    _finish(w, unary, msg_f2v, msg_v2f, belief)
    n_iter = (counts[0] + n - 1) // n if n > 0 else 0
    return n_iter, delta

"""Brute-force enumeration: the oracle for small models.

Walks every assignment of the variables over their allowed states (those with a
finite unary / evidence energy). Independent of the BP kernels on purpose.
"""

import numpy as np
from numba import njit

from ._jit import JIT

INF = np.inf


@njit(**JIT)
def _assignment_energy(w, unary, state):
    """Total energy of one full assignment (unary + every factor)."""
    total = 0.0
    for v in range(len(w.var_states)):
        total += unary[w.var_state_ptr[v] + state[v]]
    for f in range(len(w.factor_edge_ptr) - 1):
        t = w.block_ptr[w.factor_block[f]]
        for e in range(w.factor_edge_ptr[f], w.factor_edge_ptr[f + 1]):
            t += state[w.edge_var[e]] * w.edge_stride[e]
        total += w.tables[t]
    return total


@njit(**JIT)
def _next_assignment(state, allowed, allowed_ptr, pos):
    """Advance the odometer (last variable fastest); False when it wraps around."""
    n = len(state)
    for v in range(n - 1, -1, -1):
        pos[v] += 1
        if pos[v] < allowed_ptr[v + 1] - allowed_ptr[v]:
            state[v] = allowed[allowed_ptr[v] + pos[v]]
            return True
        pos[v] = 0
        state[v] = allowed[allowed_ptr[v]]
    return False


@njit(**JIT)
def _enumerate(w, unary, beta, allowed, allowed_ptr, factor_out_ptr):
    """Exact energies, marginals and MAP by enumeration.

    Returns ``(e_min, map_state, log_sum, var_marg, factor_marg)`` where
    ``log_sum = log sum exp(-beta (E - e_min))`` (beta finite) or the number of
    minimisers (beta = inf); marginals are probabilities (beta = inf: uniform
    over the minimisers). ``map_state`` is the first minimiser in odometer order.
    """
    n_vars = len(w.var_states)
    n_factors = len(w.factor_edge_ptr) - 1
    state = np.empty(n_vars, dtype=np.int64)
    pos = np.zeros(n_vars, dtype=np.int64)
    for v in range(n_vars):
        state[v] = allowed[allowed_ptr[v]]
    e_min = INF
    map_state = state.copy()
    while True:
        e = _assignment_energy(w, unary, state)
        if e < e_min:
            e_min = e
            map_state[:] = state
        if not _next_assignment(state, allowed, allowed_ptr, pos):
            break
    var_marg = np.zeros(w.var_state_ptr[n_vars])
    factor_marg = np.zeros(factor_out_ptr[n_factors])
    if e_min == INF:
        return e_min, map_state, 0.0, var_marg, factor_marg
    total = 0.0
    pos[:] = 0
    for v in range(n_vars):
        state[v] = allowed[allowed_ptr[v]]
    while True:
        e = _assignment_energy(w, unary, state)
        if beta == INF:
            wt = 1.0 if e == e_min else 0.0
        else:
            wt = np.exp(-beta * (e - e_min))
        if wt > 0.0:
            total += wt
            for v in range(n_vars):
                var_marg[w.var_state_ptr[v] + state[v]] += wt
            for f in range(n_factors):
                t = factor_out_ptr[f]
                for ed in range(w.factor_edge_ptr[f], w.factor_edge_ptr[f + 1]):
                    t += state[w.edge_var[ed]] * w.edge_stride[ed]
                factor_marg[t] += wt
        if not _next_assignment(state, allowed, allowed_ptr, pos):
            break
    var_marg /= total
    factor_marg /= total
    log_sum = np.log(total) if beta < INF else total
    return e_min, map_state, log_sum, var_marg, factor_marg

"""Exact chain inference in plain NumPy (forward-backward and Viterbi), for benchmarks.

Standalone peer implementation; it does not depend on ``factorgraph_ebm``.
A chain of ``T`` variables with ``K`` states has energy
``E(y) = sum_t unary[t, y_t] + sum_t pair[y_t, y_{t+1}]``. The loop over ``t``
is Python; each step is one vectorized ``(K, K)`` operation, which is how a
NumPy user would write it.
"""

import numpy as np

__all__ = ["numpy_chain_marginals", "numpy_chain_viterbi"]


def _soft_min(x, axis, beta):
    m = np.min(x, axis=axis)
    return m - np.log(np.sum(np.exp(-beta * (x - np.expand_dims(m, axis))), axis=axis)) / beta


def numpy_chain_marginals(unary, pair, beta):
    """Exact marginals ``(T, K)`` and log partition of the chain at inverse temperature beta."""
    t_len, _ = unary.shape
    fwd = np.zeros_like(unary)  # energy-domain message arriving at t from the left
    bwd = np.zeros_like(unary)  # from the right
    for t in range(1, t_len):
        fwd[t] = _soft_min((unary[t - 1] + fwd[t - 1])[:, None] + pair, 0, beta)
    for t in range(t_len - 2, -1, -1):
        bwd[t] = _soft_min((unary[t + 1] + bwd[t + 1])[None, :] + pair, 1, beta)
    b = unary + fwd + bwd
    lo = b.min(axis=1, keepdims=True)
    p = np.exp(-beta * (b - lo))
    z = p.sum(axis=1, keepdims=True)
    log_z = float(-beta * lo[0, 0] + np.log(z[0, 0]))
    return p / z, log_z


def numpy_chain_viterbi(unary, pair):
    """MAP assignment ``(T,)`` and its energy (min-sum forward pass, backtrack)."""
    t_len, k = unary.shape
    cost = unary[0].copy()
    back = np.empty((t_len, k), dtype=np.int64)
    for t in range(1, t_len):
        c = cost[:, None] + pair
        back[t] = np.argmin(c, axis=0)
        cost = c[back[t], np.arange(k)] + unary[t]
    y = np.empty(t_len, dtype=np.int64)
    y[-1] = int(np.argmin(cost))
    for t in range(t_len - 1, 0, -1):
        y[t - 1] = back[t, y[t]]
    return y, float(cost[y[-1]])

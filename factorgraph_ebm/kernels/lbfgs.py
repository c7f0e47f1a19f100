"""The L-BFGS two-loop recursion over long parameter vectors, in a few fused passes.

``direction = -H g`` with the inverse-Hessian approximation of the last
``m`` correction pairs ``(s_i, y_i)`` (rows of ``S`` and ``Y``, a ring
buffer) and the initial scaling ``gamma = s.y / y.y`` of the newest pair.
Each step of the first loop subtracts ``a_i y_i`` and takes the next dot
product in the same pass over the vector, and likewise in the second loop,
so a direction costs about ``2 m`` passes (a million weights: a few ms).
"""

import numpy as np

from ._jit import JIT, njit


@njit(**JIT)
def lbfgs_direction(S, Y, rho, order, gamma, g, out, alpha):
    """``out = -H g``; ``order`` lists the rows of ``S``/``Y`` in use, oldest first; ``alpha`` is (m,) work."""
    n = len(g)
    k = len(order)
    for j in range(n):
        out[j] = g[j]
    if k == 0:
        for j in range(n):
            out[j] = -out[j]
        return
    # first loop, newest to oldest: a_i = rho_i s_i.q, q -= a_i y_i (fused with the next s.q)
    i = order[k - 1]
    dot = 0.0
    for j in range(n):
        dot += S[i, j] * out[j]
    for c in range(k - 1, -1, -1):
        i = order[c]
        a = rho[i] * dot
        alpha[i] = a
        dot = 0.0
        if c > 0:
            nxt = order[c - 1]
            for j in range(n):
                out[j] -= a * Y[i, j]
                dot += S[nxt, j] * out[j]
        else:
            # last step of the first loop: also scale by gamma and take the first y.q of the second loop
            first = order[0]
            for j in range(n):
                v = (out[j] - a * Y[i, j]) * gamma
                out[j] = v
                dot += Y[first, j] * v
    # second loop, oldest to newest: b = rho_i y_i.r, r += (a_i - b) s_i (fused with the next y.r)
    for c in range(k):
        i = order[c]
        coef = alpha[i] - rho[i] * dot
        dot = 0.0
        if c < k - 1:
            nxt = order[c + 1]
            for j in range(n):
                out[j] += coef * S[i, j]
                dot += Y[nxt, j] * out[j]
        else:
            for j in range(n):
                out[j] = -(out[j] + coef * S[i, j])


@njit(**JIT)
def lbfgs_push(S, Y, slot, x_new, x_old, g_new, g_old):
    """Store ``s = x_new - x_old`` and ``y = g_new - g_old`` in row ``slot``; returns ``(s.y, y.y)``."""
    sy = 0.0
    yy = 0.0
    for j in range(len(x_new)):
        s = x_new[j] - x_old[j]
        y = g_new[j] - g_old[j]
        S[slot, j] = s
        Y[slot, j] = y
        sy += s * y
        yy += y * y
    return sy, yy

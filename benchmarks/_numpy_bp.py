"""Reference loopy belief propagation on N x N pairwise grids, in plain NumPy.

This is a standalone peer implementation used as a baseline in benchmarks. It
does not depend on ``factorgraph_ebm``.

Problem definition (energy domain, lower is better)
---------------------------------------------------
* Variables form an ``N x N`` grid with ``K`` states each; the row-major flat
  index of variable ``(i, j)`` is ``i * N + j``.
* ``unary`` has shape ``(N, N, K)``: ``unary[i, j, x]`` is the energy of
  variable ``(i, j)`` taking state ``x``.
* There is one pairwise factor per horizontal edge ``((i, j), (i, j+1))`` and
  per vertical edge ``((i, j), (i+1, j))``. Every factor uses the same
  ``K x K`` energy table ``pair``, indexed ``pair[x_first, x_second]`` where the
  first variable is the left (horizontal) or top (vertical) one. For a Potts
  model ``pair`` is 0 on the diagonal and ``coupling`` elsewhere, but any table
  works here (the factor update is the generic O(K^2) one).
* Sum-product at inverse temperature ``beta`` targets ``p(x) ~ exp(-beta E(x))``;
  ``beta = np.inf`` gives min-sum.

Schedule
--------
Flooding (parallel): at every iteration all variable-to-factor messages are
computed from the previous iteration's factor-to-variable messages, then every
factor-to-variable message is recomputed at once. Optional damping in the energy
domain: ``m = (1 - d) * m_new + d * m_old``. Messages start at zero energy.
After each update every message is shifted so that its minimum is 0 (this does
not change beliefs up to a per-variable constant, hence not the marginals).

Message layout
--------------
Factor-to-variable messages (energies), one array per direction:

* ``h_left[i, j]``  (N, N-1, K): horizontal factor (i,j)-(i,j+1) -> (i, j)
* ``h_right[i, j]`` (N, N-1, K): horizontal factor (i,j)-(i,j+1) -> (i, j+1)
* ``v_top[i, j]``   (N-1, N, K): vertical factor (i,j)-(i+1,j) -> (i, j)
* ``v_bottom[i, j]``(N-1, N, K): vertical factor (i,j)-(i+1,j) -> (i+1, j)

Beliefs are ``b_v = unary_v + sum of incoming factor-to-variable messages`` and
the (approximate) marginals are ``softmax(-beta * b_v)``.

Memory note: the factor update materializes ``(rows, N-1, K, K)`` temporaries,
processed in blocks of rows of at most 128 MB (a whole 1000 x 1000, K = 32 grid
would need 8 GB per temporary).
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

__all__ = [
    "GridMessages",
    "init_messages",
    "grid_beliefs",
    "numpy_bp_step",
    "numpy_bp_run",
]


class GridMessages(NamedTuple):
    """Factor-to-variable messages of a grid (energy domain).

    Attributes:
        h_left: (N, N-1, K) messages from horizontal factors to their left var.
        h_right: (N, N-1, K) messages from horizontal factors to their right var.
        v_top: (N-1, N, K) messages from vertical factors to their top var.
        v_bottom: (N-1, N, K) messages from vertical factors to their bottom var.
    """

    h_left: np.ndarray
    h_right: np.ndarray
    v_top: np.ndarray
    v_bottom: np.ndarray


def init_messages(n: int, k: int, dtype=np.float64) -> GridMessages:
    """Return all-zero (uniform) factor-to-variable messages for an n x n grid."""
    return GridMessages(
        h_left=np.zeros((n, n - 1, k), dtype=dtype),
        h_right=np.zeros((n, n - 1, k), dtype=dtype),
        v_top=np.zeros((n - 1, n, k), dtype=dtype),
        v_bottom=np.zeros((n - 1, n, k), dtype=dtype),
    )


def grid_beliefs(unary: np.ndarray, msgs: GridMessages) -> np.ndarray:
    """Return energy beliefs ``unary + sum of incoming messages``, shape (N, N, K)."""
    b = np.array(unary, dtype=np.float64, copy=True)
    b[:, :-1] += msgs.h_left
    b[:, 1:] += msgs.h_right
    b[:-1, :] += msgs.v_top
    b[1:, :] += msgs.v_bottom
    return b


def _soft_min(x: np.ndarray, axis: int, beta: float) -> np.ndarray:
    """Stable ``-1/beta * log(sum(exp(-beta * x), axis))``; plain min for beta=inf."""
    m = np.min(x, axis=axis)
    if np.isinf(beta):
        return m
    z = np.exp(-beta * (x - np.expand_dims(m, axis)))
    return m - np.log(np.sum(z, axis=axis)) / beta


def _pair_update(u, pair, axis, beta, max_bytes=1 << 27):
    """Soft-min over ``axis`` of ``u[..., :, None] + pair`` (axis -2) or ``u[..., None, :] + pair`` (axis -1).

    Processed in blocks of grid rows so that the ``(rows, cols, K, K)``
    temporary stays under ``max_bytes`` (large grids would not fit otherwise).
    """
    rows, cols, k = u.shape
    step = max(1, max_bytes // (8 * cols * k * k))
    out = np.empty_like(u)
    for r in range(0, rows, step):
        block = u[r:r + step]
        block = block[..., :, None] if axis == -2 else block[..., None, :]
        out[r:r + step] = _soft_min(block + pair, axis=axis, beta=beta)
    return out


def _normalize(msg: np.ndarray) -> np.ndarray:
    """Shift each message (last axis) so that its minimum is 0."""
    return msg - msg.min(axis=-1, keepdims=True)


def numpy_bp_step(
    unary: np.ndarray,
    pair: np.ndarray,
    beta: float,
    msgs: GridMessages,
    damping: float = 0.0,
) -> GridMessages:
    """Perform one flooding iteration of loopy BP and return the new messages.

    All variable-to-factor messages are computed from ``msgs`` (the previous
    iteration's factor-to-variable messages), then all factor-to-variable
    messages are recomputed, damped against ``msgs`` and min-normalized.

    Args:
        unary: (N, N, K) unary energies.
        pair: (K, K) pairwise energy table, indexed [first (left/top), second].
        beta: inverse temperature (> 0); ``np.inf`` for min-sum.
        msgs: current factor-to-variable messages.
        damping: d in ``new = (1 - d) * new + d * old`` (energy domain).

    Returns:
        The updated ``GridMessages``.
    """
    b = grid_beliefs(unary, msgs)

    # Variable-to-factor messages: belief minus the message coming back from
    # the receiving factor.
    u_left = b[:, :-1] - msgs.h_left  # left var -> horizontal factor
    u_right = b[:, 1:] - msgs.h_right  # right var -> horizontal factor
    u_top = b[:-1, :] - msgs.v_top  # top var -> vertical factor
    u_bottom = b[1:, :] - msgs.v_bottom  # bottom var -> vertical factor

    # Factor-to-variable: soft-min over the other variable's state of
    # pair[x1, x2] + incoming message. Axis -2 indexes x1, axis -1 indexes x2.
    new_h_right = _pair_update(u_left, pair, -2, beta)
    new_h_left = _pair_update(u_right, pair, -1, beta)
    new_v_bottom = _pair_update(u_top, pair, -2, beta)
    new_v_top = _pair_update(u_bottom, pair, -1, beta)

    new = (new_h_left, new_h_right, new_v_top, new_v_bottom)
    if damping:
        new = tuple((1.0 - damping) * m_new + damping * m_old for m_new, m_old in zip(new, msgs))
    return GridMessages(*(_normalize(m) for m in new))


def numpy_bp_run(
    unary: np.ndarray,
    pair: np.ndarray,
    beta: float,
    n_iters: int,
    damping: float = 0.0,
    msgs: GridMessages | None = None,
) -> GridMessages:
    """Run ``n_iters`` flooding iterations starting from ``msgs`` (zeros if None)."""
    unary = np.asarray(unary, dtype=np.float64)
    pair = np.asarray(pair, dtype=np.float64)
    n, n2, k = unary.shape
    if n != n2 or pair.shape != (k, k):
        raise ValueError(f"bad shapes: unary {unary.shape}, pair {pair.shape}")
    if msgs is None:
        msgs = init_messages(n, k)
    for _ in range(n_iters):
        msgs = numpy_bp_step(unary, pair, beta, msgs, damping)
    return msgs

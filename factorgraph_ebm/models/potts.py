"""Potts grids and chains, declared in bulk with factor groups."""

import numpy as np

from ..graph.factor_graph import FactorGraph

__all__ = ["grid_edges", "potts_grid", "chain_graph"]


def grid_edges(ids):
    """Horizontal and vertical neighbour pairs of a 2-D id array, as two ``(n, 2)`` scope matrices.

    Examples
    --------
    >>> h, v = grid_edges(np.arange(6).reshape(2, 3))
    >>> h.tolist(), v.tolist()
    ([[0, 1], [1, 2], [3, 4], [4, 5]], [[0, 3], [1, 4], [2, 5]])
    """
    ids = np.asarray(ids)
    h = np.stack([ids[:, :-1].ravel(), ids[:, 1:].ravel()], axis=1)
    v = np.stack([ids[:-1, :].ravel(), ids[1:, :].ravel()], axis=1)
    return h, v


def potts_grid(unary, coupling, name="x", role="output"):
    """An H x W Potts model: ``E(x) = sum_i unary[i, x_i] + coupling * sum_<ij> [x_i != x_j]``.

    Parameters
    ----------
    unary : array (H, W, K)
        Unary energies.
    coupling : float or array (K, K)
        Potts strength, or a full pairwise energy table shared by every edge.

    Returns
    -------
    FactorGraph with variable array ``name`` and factor groups ``"unary"``,
    ``"horizontal"`` and ``"vertical"``.

    Examples
    --------
    >>> fg = potts_grid(np.zeros((100, 100, 3)), 0.5)
    >>> fg.n_vars, fg.n_factors
    (10000, 29800)
    """
    unary = np.asarray(unary, dtype=np.float64)
    h_, w_, k = unary.shape
    pair = np.asarray(coupling, dtype=np.float64)
    if pair.ndim == 0:
        pair = float(pair) * (1.0 - np.eye(k))
    fg = FactorGraph()
    x = fg.add_variables(name, shape=(h_, w_), states=k, role=role)
    fg.add_factor_group(x.ids.reshape(-1, 1), unary.reshape(-1, k), name="unary")
    h, v = grid_edges(x.ids)
    if len(h):
        fg.add_factor_group(h, pair, name="horizontal")
    if len(v):
        fg.add_factor_group(v, pair, name="vertical")
    return fg


def chain_graph(unary, transition, name="y", role="output"):
    """A chain ``E(y) = sum_t unary[t, y_t] + sum_t transition[y_t, y_t+1]`` (an HMM / linear-chain CRF).

    Examples
    --------
    >>> fg = chain_graph(np.zeros((4, 2)), np.eye(2))
    >>> fg.n_factors
    7
    """
    unary = np.asarray(unary, dtype=np.float64)
    t, k = unary.shape
    fg = FactorGraph()
    y = fg.add_variables(name, shape=t, states=k, role=role)
    fg.add_factor_group(y.ids[:, None], unary, name="unary")
    if t > 1:
        fg.add_factor_group(np.stack([y.ids[:-1], y.ids[1:]], 1), transition, name="transition")
    return fg

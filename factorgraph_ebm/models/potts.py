"""Potts grids and chains, declared in bulk with factor groups."""

import numpy as np

from ..exceptions import DeclarationError, DeclarationTypeError
from ..graph.energies import Energy
from ..graph.factor_graph import FactorGraph
from ..utils.validation import as_float_array, check_energy_table

__all__ = ["grid_edges", "potts_grid", "chain_graph"]


def grid_edges(ids):
    """Horizontal and vertical neighbour pairs of a 2-D id array, as two ``(n, 2)`` scope matrices.

    Examples
    --------
    >>> h, v = grid_edges(np.arange(6).reshape(2, 3))
    >>> h.tolist(), v.tolist()
    ([[0, 1], [1, 2], [3, 4], [4, 5]], [[0, 3], [1, 4], [2, 5]])
    """
    ids = np.asarray(ids) if ids is not None else None
    if ids is None or ids.ndim != 2 or not np.issubdtype(ids.dtype, np.integer):
        got = "None" if ids is None else f"{ids.dtype} array of shape {ids.shape}"
        raise DeclarationTypeError(f"grid_edges: ids must be a 2-D int array of variable ids, got {got}")
    h = np.stack([ids[:, :-1].ravel(), ids[:, 1:].ravel()], axis=1)
    v = np.stack([ids[:-1, :].ravel(), ids[1:, :].ravel()], axis=1)
    return h, v


def _unary(unary, axes, func):
    """``unary`` as a float64 array shaped ``axes`` (names of the axes), every size >= 1, no NaN / -inf."""
    arr = as_float_array(unary, f"{func}: unary", copy=False)
    want = f"({', '.join(axes)})"
    if arr.ndim != len(axes):
        raise DeclarationError(f"{func}: unary must have shape {want}, got shape {arr.shape}")
    if 0 in arr.shape:
        raise DeclarationError(f"{func}: unary must have shape {want} with every size >= 1, got shape {arr.shape}")
    return check_energy_table(arr, arr.shape, f"{func}: unary")


def _pair_table(table, k, what, stack=None, expected="an array of numbers"):
    """A (k, k) pairwise table (or a ``(stack, k, k)`` one per edge), checked and named ``what``."""
    arr = as_float_array(table, what, expected, copy=False)
    shapes = [(k, k)] + ([] if stack is None else [(stack, k, k)])
    if arr.shape not in shapes:
        want = " or ".join(map(str, shapes))
        raise DeclarationError(f"{what} must have shape {want} for {k} states, got shape {arr.shape}")
    return check_energy_table(arr, arr.shape, what)


def potts_grid(unary, coupling, name="x", role="output"):
    """An H x W Potts model: ``E(x) = sum_i unary[i, x_i] + coupling * sum_<ij> [x_i != x_j]``.

    Parameters
    ----------
    unary : array (H, W, K)
        Unary energies (rows, cols, states).
    coupling : float or array (K, K)
        Potts strength (``+inf`` forces neighbours to agree), or a full
        pairwise energy table shared by every edge.

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
    unary = _unary(unary, ("rows", "cols", "states"), "potts_grid")
    h_, w_, k = unary.shape
    pair = as_float_array(coupling, "potts_grid: coupling", "a number or a (states, states) array", copy=False)
    if pair.ndim == 0:
        pair = np.where(np.eye(k, dtype=bool), 0.0, float(pair))   # +inf stays +inf off the diagonal only
    pair = _pair_table(pair, k, "potts_grid: coupling")
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

    Parameters
    ----------
    unary : array (T, K)
        Unary energies (positions, states).
    transition : array (K, K), array (T - 1, K, K) or Energy
        One transition table shared by every position, one per position, or
        an energy (e.g. ``LinearEnergy("T")``) evaluated at compile time.

    Examples
    --------
    >>> fg = chain_graph(np.zeros((4, 2)), np.eye(2))
    >>> fg.n_factors
    7
    """
    unary = _unary(unary, ("positions", "states"), "chain_graph")
    t, k = unary.shape
    if not isinstance(transition, Energy):
        transition = _pair_table(transition, k, "chain_graph: transition", stack=t - 1,
                                 expected="an array of numbers or an Energy")
    fg = FactorGraph()
    y = fg.add_variables(name, shape=t, states=k, role=role)
    fg.add_factor_group(y.ids[:, None], unary, name="unary")
    if t > 1:
        fg.add_factor_group(np.stack([y.ids[:-1], y.ids[1:]], 1), transition, name="transition")
    return fg

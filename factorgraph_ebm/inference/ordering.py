"""Elimination orders: which variable exact inference sums out next.

The cost of variable elimination (and the size of a junction tree) is the sum
of the table sizes of the cliques an order creates: clique i is the variable
``order[i]`` with its neighbours in the interaction graph at the moment it is
eliminated. :func:`elimination_order` runs greedy heuristics with random
tie-breaking (seeded) and keeps the cheapest order.
"""

from dataclasses import dataclass

import numpy as np

from ..exceptions import InferenceError
from ..utils.lazy import lazy_module

_kernels = lazy_module("factorgraph_ebm.kernels.elimination")

__all__ = ["HEURISTICS", "EliminationOrder", "elimination_order"]

#: Heuristics :func:`elimination_order` knows; "auto" tries each of the others.
HEURISTICS = ("auto", "min-fill", "weighted-min-fill", "min-degree")
_CODES = {"min-fill": 0, "weighted-min-fill": 1, "min-degree": 2, "sweep": 3}
#: ``restarts="auto"``: 2 extra randomised runs of each heuristic below the first size
#: (variables), 1 below the second, none above.
RESTART_MAX_VARS = (2_000, 20_000)


@dataclass(frozen=True)
class EliminationOrder:
    """An elimination order and the cliques it creates.

    Attributes
    ----------
    order : ndarray (n,) int64
        Variables in elimination order (``n = V`` unless ``complete`` is False).
    clique_ptr, clique_vars : ndarray int64
        CSR cliques: clique i is ``clique_vars[clique_ptr[i]:clique_ptr[i + 1]]``,
        ``order[i]`` first, then its neighbours when it was eliminated.
    width : int
        Largest clique size - 1 (an upper bound on the treewidth).
    total_entries : float
        Sum of the clique table sizes (products of state counts).
    largest_entries : float
        Size of the largest clique table.
    separator_entries : float
        Sum of the separator table sizes (clique minus its variable).
    heuristic : str
        Heuristic that produced the order.
    complete : bool
        False when every run stopped early because its cost passed
        ``max_entries``: the totals are then lower bounds of the order found.
    """

    order: np.ndarray
    clique_ptr: np.ndarray
    clique_vars: np.ndarray
    width: int
    total_entries: float
    largest_entries: float
    separator_entries: float
    heuristic: str
    complete: bool = True

    @property
    def cliques(self):
        """List of tuples: ``order[i]`` followed by its (sorted) neighbours when eliminated."""
        ptr, cv = self.clique_ptr, self.clique_vars
        return [(int(cv[ptr[i]]),) + tuple(sorted(cv[ptr[i] + 1:ptr[i + 1]].tolist())) for i in range(len(ptr) - 1)]

    def __repr__(self):
        done = "" if self.complete else ", incomplete"
        return (f"EliminationOrder(heuristic={self.heuristic!r}, width={self.width}, "
                f"total_entries={self.total_entries:.3g}, largest_entries={self.largest_entries:.3g}{done})")


def _scopes_csr(scopes):
    """``(scope_ptr, scope_var)`` of a 2-D int array, a CSR pair or a sequence of sequences."""
    if isinstance(scopes, tuple) and len(scopes) == 2 and isinstance(scopes[0], np.ndarray):
        return np.ascontiguousarray(scopes[0], dtype=np.int64), np.ascontiguousarray(scopes[1], dtype=np.int64)
    if isinstance(scopes, np.ndarray) and scopes.ndim == 2:
        n, a = scopes.shape
        return np.arange(0, n * a + 1, a, dtype=np.int64), np.ascontiguousarray(scopes.ravel(), dtype=np.int64)
    lists = [np.asarray(s, dtype=np.int64).ravel() for s in scopes]
    ptr = np.zeros(len(lists) + 1, dtype=np.int64)
    np.cumsum([len(s) for s in lists], out=ptr[1:])
    return ptr, (np.concatenate(lists) if lists else np.zeros(0, dtype=np.int64))


def _better(a, b):
    """Whether order ``a`` beats ``b`` (complete first, then total entries, then largest clique)."""
    if b is None:
        return True
    return (not a.complete, a.total_entries, a.largest_entries) < (not b.complete, b.total_entries, b.largest_entries)


def elimination_order(n_states, scopes, *, heuristic="auto", restarts="auto", random_state=0, max_entries=None):
    """Greedy elimination order of least predicted cost.

    Parameters
    ----------
    n_states : sequence of int
        States per variable.
    scopes : sequence of sequences of int, 2-D int array, or ``(scope_ptr, scope_var)``
        Variable ids of each factor (CSR pair: factor s is ``scope_var[scope_ptr[s]:scope_ptr[s + 1]]``).
    heuristic : {"auto", "min-fill", "weighted-min-fill", "min-degree"}
        Score of a candidate variable: the number of fill edges its elimination
        adds, the same weighted by the product of the two state counts, or the
        size of its neighbours' joint table (min-weight; min-degree when all state
        counts are equal). ``"auto"`` runs each (weighted min-fill only when the
        state counts differ).
    restarts : int or "auto"
        Extra runs of each heuristic with other random tie-breaking; ``"auto"``:
        2 below 2,000 variables, 1 below 20,000, else 0 (``RESTART_MAX_VARS``).
    random_state : int
        Seed of the tie-breaking (same seed, same order).
    max_entries : float, optional
        A run stops once its clique entries exceed this (or the best total so
        far); if every run stops, the result has ``complete=False``.

    Returns
    -------
    EliminationOrder
        The complete order of least total clique entries (then least largest clique).

    Examples
    --------
    >>> eo = elimination_order([2, 2, 2, 2], [(0, 1), (1, 2), (2, 3), (3, 0)])   # a 4-cycle
    >>> eo.width, eo.total_entries, len(eo.order)
    (2, 22.0, 4)
    """
    if heuristic not in HEURISTICS:
        raise InferenceError(f"heuristic must be one of {HEURISTICS}, got {heuristic!r}")
    k = np.ascontiguousarray(n_states, dtype=np.float64).ravel()
    if (k < 1).any():
        raise InferenceError(f"n_states must be >= 1, got {k.min():g} for variable {int(np.argmin(k))}")
    n = len(k)
    ptr, var = _scopes_csr(scopes)
    if len(var) and (var.min() < 0 or var.max() >= n):
        raise InferenceError(f"scopes name variable ids outside [0, {n}): {int(var.min())} .. {int(var.max())}")
    if restarts == "auto":
        restarts = 2 if n < RESTART_MAX_VARS[0] else 1 if n < RESTART_MAX_VARS[1] else 0
    if heuristic == "auto":
        names = ["min-fill", "min-degree"]
        if n and k.min() != k.max():
            names.insert(1, "weighted-min-fill")
    else:
        names = [heuristic]
    sweep = heuristic == "auto"
    adj_ptr, adj = _kernels._adjacency(n, ptr, var)
    limit = np.inf if max_entries is None else float(max_entries)
    best = None
    rng = np.random.default_rng(random_state)
    for run in range(int(restarts) + 1):
        for name in names + (["sweep"] if sweep and run == 0 else []):
            stop = min(limit, best.total_entries) if best is not None and best.complete else limit
            seed = int(rng.integers(2**31))
            order, cptr, cvars, stats = _kernels._eliminate(k, adj_ptr, adj, _CODES[name], seed, stop)
            cand = EliminationOrder(order, cptr, cvars, int(stats[3]) - 1 if n else -1, float(stats[0]),
                                    float(stats[1]), float(stats[2]), name, len(order) == n)
            if _better(cand, best):
                best = cand
    return best

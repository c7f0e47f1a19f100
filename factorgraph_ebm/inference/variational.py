"""Naive mean field: a fully factorised ``q(x) = prod_v q_v(x_v)`` and a proven lower bound on log Z.

Coordinate ascent updates one variable at a time (in id order, each update
seeing the ones before it), to the exact minimiser over ``q_v`` of the
mean-field free energy

``F_MF(q) = E_q[E] - (1/beta) sum_v H(q_v) >= F = -(1/beta) log Z``,

so ``F_MF`` never increases, and ``-beta F_MF(q)`` bounds ``log Z`` from below
for *every* ``q``, converged or not (Gibbs' inequality: ``log Z - (-beta
F_MF(q)) = KL(q || p) >= 0``). The returned bound is ``F_MF`` evaluated exactly
(up to rounding) on the final ``q``, not a running estimate, with ``0 * inf =
0``: states of probability exactly 0 contribute nothing, a +inf entry of
positive probability gives ``F_MF = +inf`` (bound ``-inf``, still valid).
States the evidence or the expected energies forbid get probability exactly 0.

Three starts, per graph the one of lowest final ``F_MF`` kept:

1. ``q_v ∝ exp(-beta (unary_v + the tables of v's one-variable factors))``:
   uniform over the allowed states when there are no such factors;
2. a point mass on the argmax of start 1's ``q`` improved by
   :func:`~factorgraph_ebm.inference.decoding.local_search`;
3. a point mass on a greedy constraint-propagating decode
   (:func:`~factorgraph_ebm.inference.decoding.conditioned_decode` with zero
   messages) improved by local search.

Starts 2 and 3 run in the graphs where their assignment has finite energy.
A point mass has ``F_MF = E(assignment)`` and the sweeps never raise it, so
the bound is at least ``-beta`` times the lowest energy of those assignments:
finite whenever one of them is feasible, even on models of hard constraints
where start 1 stays at ``F_MF = +inf``.
"""

import logging
import warnings

import numpy as np

from ..compile.compiled import CompiledGraph, sum_ranges
from ..exceptions import ConvergenceWarning, InferenceError
from ..utils.lazy import lazy_module
from ..utils.validation import check_type
from .decoding import argmax_states, conditioned_decode, lexicographic_energies, local_search
from .options import check_options
from .result import InferenceResult, check_zero_partition, factor_entry_slice, probabilities_from_costs

__all__ = ["mean_field", "mean_field_free_energies"]

logger = logging.getLogger(__name__)
_kernels = lazy_module("factorgraph_ebm.kernels.mean_field")
_jit = lazy_module("factorgraph_ebm.kernels._jit")


def _readonly(a):
    a = np.ascontiguousarray(a, dtype=np.int64).view()
    a.flags.writeable = False   # one compiled signature for the wiring's read-only arrays and ours
    return a


def mean_field_free_energies(compiled, beta, q):
    """``F_MF(q)`` of every graph of the batch for the flat factorised distribution ``q`` (``var_state_ptr`` layout).

    ``E_q[E] - (1/beta) sum_v H(q_v)`` with ``0 * inf = 0``; ``-beta`` times it
    is a lower bound on each graph's log Z for any ``q`` (of probability
    vectors).

    Examples
    --------
    >>> from factorgraph_ebm import FactorGraph, compile_graph
    >>> fg = FactorGraph()
    >>> _ = fg.add_variable("a", 2)
    >>> _ = fg.add_factor(["a"], [0.0, np.inf])
    >>> mean_field_free_energies(compile_graph(fg), 1.0, np.array([1.0, 0.0]))
    array([0.])
    >>> mean_field_free_energies(compile_graph(fg), 1.0, np.array([0.5, 0.5]))
    array([inf])
    """
    w = compiled.wiring
    q = np.ascontiguousarray(q, dtype=np.float64)
    if q.shape != (int(w.var_state_ptr[-1]),):
        raise InferenceError(f"q: expected shape ({int(w.var_state_ptr[-1])},), got {q.shape}")
    fterm = np.empty(compiled.n_factors)
    vterm = np.empty(compiled.n_vars)
    with _jit.threads_for(int(compiled.factor_entry_ptr[-1]) + len(q)):
        _kernels._free_energy_terms(w, compiled.unary, float(beta), q, fterm, vterm)
    with np.errstate(invalid="ignore"):
        return sum_ranges(fterm, compiled.graph_factor_ptr) + sum_ranges(vterm, compiled.graph_var_ptr)


def _run(compiled, beta, q, tol, max_iter):
    """Sweeps from ``q`` (in place); returns ``(n_iter, delta)`` per graph."""
    n_iter = np.zeros(compiled.n_graphs, dtype=np.int64)
    delta = np.zeros(compiled.n_graphs)
    with _jit.threads_for(compiled.pairwise_work() if compiled.n_graphs > 1 else 0):
        _kernels._sweeps(compiled.wiring, compiled.unary, float(beta), float(tol), int(max_iter),
                         _readonly(compiled.graph_var_ptr), q, n_iter, delta)
    return n_iter, delta


def _point_starts(compiled, q):
    """The assignments the point-mass starts sit on: the argmax of ``q`` and a greedy decode, each after local search.

    The greedy decode is :func:`~factorgraph_ebm.inference.decoding.conditioned_decode`
    with zero messages: fix the most certain variable, propagate what its
    factors then forbid, repeat; on models with many +inf entries (pedigrees)
    it finds feasible assignments the argmax of ``q`` misses.
    """
    if not compiled.n_vars:
        return []
    return [local_search(compiled, argmax_states(compiled, q)),
            local_search(compiled, conditioned_decode(compiled, np.zeros(compiled.n_messages)))]


class _MeanFieldAnswers:
    """What a mean-field result answers on demand (a module-level class, so results pickle)."""

    def __init__(self, compiled, q):
        self.compiled = compiled
        self.q = q

    def map_state(self):
        """The argmax-``q`` assignment improved by local search."""
        return local_search(self.compiled, argmax_states(self.compiled, self.q))

    def factor_probabilities(self, first, count):
        """``prod_{v in scope} q_v(x_v)`` for the factors ``first .. first + count - 1``, flat (factor-entry layout)."""
        w = self.compiled.wiring
        factors, ptr = factor_entry_slice(w, first, count)
        out = np.empty(int(ptr[-1]))
        with _jit.threads_for(len(out)):
            _kernels._factor_products(w, self.q, factors, ptr, out)
        return out


def mean_field(compiled, beta, *, tol=1e-9, max_iter=1000):
    """Naive mean-field inference: factorised marginals and a proven lower bound on log Z.

    Parameters
    ----------
    compiled : CompiledGraph
        One graph or a batch (the graphs run in parallel, each to its own convergence).
    beta : float
        Finite inverse temperature > 0 (``beta = inf`` is refused: MAP answers come from ``method="bp"`` or ``"exact"``).
    tol : float >= 0
        Converged when the largest change ``max_x |q_new(x) - q_old(x)|`` of a sweep is <= tol.
    max_iter : int >= 1
        Sweep cap (of each start, see the module docstring).

    Returns
    -------
    InferenceResult
        ``method="mean-field"``; ``marginal_array`` is ``q``; ``free_energies`` and
        ``free_energy_upper`` are ``F_MF(q)`` per graph, so
        ``result.log_partition_lower_bound = -beta F_MF(q) <= log Z`` (proven,
        converged or not); factor marginals are the products of the ``q_v``
        over each scope; ``map_state`` is the argmax of ``q`` improved by local
        search. Warns with a ConvergenceWarning when a graph did not converge.

    Raises
    ------
    InferenceError
        A bad option (``beta = inf`` among them).
    ZeroPartitionError
        A variable with no state allowed by the evidence and its one-variable factors.

    Examples
    --------
    >>> from factorgraph_ebm import FactorGraph, compile_graph, infer
    >>> fg = FactorGraph()
    >>> _ = fg.add_variable("a", 2); _ = fg.add_variable("b", 2)
    >>> _ = fg.add_factor(["a", "b"], [[0.0, 1.0], [1.0, 0.0]])
    >>> res = mean_field(compile_graph(fg), 1.0)
    >>> res.method, res.converged
    ('mean-field', True)
    >>> exact = infer(fg, method="enumerate").log_partition
    >>> bool(res.log_partition_lower_bound <= exact), round(exact - res.log_partition_lower_bound, 3)
    (True, 0.12)
    """
    check_type(compiled, CompiledGraph, "mean_field: compiled", "a CompiledGraph (from compile_graph)")
    opts = check_options(method="mean-field", beta=beta, tol=tol, max_iter=max_iter)
    beta, tol, max_iter = opts.beta, opts.tol, opts.max_iter
    w = compiled.wiring
    field = np.empty(int(w.var_state_ptr[-1]))
    _kernels._unary_field(w, compiled.unary, field)
    check_zero_partition(compiled, field)
    q = probabilities_from_costs(field, w.var_state_ptr, beta).copy()
    n_iter, delta = _run(compiled, beta, q, tol, max_iter)
    free = mean_field_free_energies(compiled, beta, q)

    # more starts: point masses on decoded assignments, in the graphs where they are feasible
    for start in _point_starts(compiled, q):
        n_inf, _ = lexicographic_energies(compiled, start)
        if not (n_inf == 0).any():
            continue
        q2 = np.zeros_like(q)
        q2[w.var_state_ptr[:-1] + start] = 1.0
        n2, d2 = _run(compiled, beta, q2, tol, max_iter)
        free2 = mean_field_free_energies(compiled, beta, q2)
        take = (n_inf == 0) & (free2 < free)
        if take.any():
            per_state = np.repeat(np.repeat(take, np.diff(compiled.graph_var_ptr)), np.diff(w.var_state_ptr))
            q = np.where(per_state, q2, q)
            free = np.where(take, free2, free)
            n_iter = np.where(take, n2, n_iter)
            delta = np.where(take, d2, delta)
    it = int(n_iter.max(initial=1))
    last = float(delta.max(initial=0.0))
    converged = bool(last <= tol)
    logger.info("mean field at beta=%g: %s after %d sweeps, last change %.3g", beta,
                "converged" if converged else "NOT converged", it, last)
    if not converged:
        warnings.warn(
            f"mean field did not converge in {it} sweeps (last change of q {last:.3g} > tol {tol:g}); the lower "
            "bound on log Z still holds, but may be loose: try a larger max_iter",
            ConvergenceWarning,
            stacklevel=3,
        )
    q.setflags(write=False)
    answers = _MeanFieldAnswers(compiled, q)
    result = InferenceResult(compiled, "mean-field", beta, q, free, it, last, converged, answers.map_state,
                             answers.factor_probabilities, table_adder=None)
    result.free_energy_upper = free
    return result

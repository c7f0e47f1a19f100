"""Belief propagation: validate, call the kernels, wrap the result.

``schedule="tree"`` runs one inward and one outward pass (exact on forests:
Viterbi / forward-backward on chains); ``schedule="flood"`` runs loopy BP with a
flooding schedule, damping, tolerance and an iteration cap.
"""

import logging
import warnings

import numpy as np
from numba import get_num_threads

from ..exceptions import ConvergenceWarning, InferenceError
from ..kernels._jit import threads_for
from ..kernels.bp import (
    _add_factor_marginals, _bethe_terms, _bfs_order, _decode, _exp_tables, _flood, _gather_costs, _tree_pass,
)
from ..compile.compiled import sum_ranges
from ..utils.validation import check_scalar
from .result import InferenceResult, check_zero_partition, marginals_from_beliefs, probabilities_from_costs

__all__ = ["belief_propagation", "SCHEDULES"]

SCHEDULES = ("auto", "tree", "flood")
logger = logging.getLogger(__name__)


class _Messages:
    """Message and belief arrays of one BP run."""

    def __init__(self, compiled, etables, block_min):
        self.etables = etables
        self.block_min = block_min
        m = compiled.n_messages
        self.f2v = np.zeros(m)
        self.v2f = np.zeros(m)
        self.belief = np.zeros(int(compiled.wiring.var_state_ptr[-1]))
        self.inward = np.zeros(compiled.n_factors)   # tree schedule: constants of the inward messages


def _run(compiled, beta, schedule, damping, tol, max_iter, order):
    w = compiled.wiring
    etables, block_min = _exp_tables(w, beta)
    msgs = _Messages(compiled, etables, block_min)
    with threads_for(compiled.n_messages):
        if schedule == "tree":
            _tree_pass(w, compiled.unary, beta, etables, block_min, order[0], order[1], get_num_threads(),
                       msgs.f2v, msgs.v2f, msgs.belief, msgs.inward)
            return msgs, 1, 0.0, True
        n_iter, delta = _flood(w, compiled.unary, beta, etables, block_min, damping, tol, max_iter,
                               get_num_threads(), msgs.f2v, msgs.v2f, msgs.belief)
    converged = bool(delta <= tol)
    logger.info("loopy BP: %d iterations, last message change %.3g", n_iter, delta)
    if not converged:
        warnings.warn(
            f"loopy BP did not converge in {n_iter} iterations (last message change {delta:.3g} > tol {tol:g}); "
            "try damping=0.5 or more iterations",
            ConvergenceWarning,
            stacklevel=4,
        )
    return msgs, n_iter, float(delta), converged


def _tree_free_energies(compiled, msgs, order, beta):
    """Exact free energy of every graph of a forest after a tree pass at finite beta.

    Each tree's ``-(1/beta) log Z`` is the sum of the constants its inward
    messages shed when normalised plus the softmin of its root's belief, so no
    pass over the table entries is needed (unlike the Bethe terms).
    """
    nodes, parent_edge = order[0], order[1]
    roots = nodes[nodes < compiled.n_vars]
    roots = roots[parent_edge[roots] < 0]
    ptr = compiled.wiring.var_state_ptr
    k = ptr[roots + 1] - ptr[roots]
    seg = np.concatenate([[0], np.cumsum(k)])
    idx = np.repeat(ptr[roots] - seg[:-1], k) + np.arange(int(seg[-1]))
    b = msgs.belief[idx]
    lo = np.minimum.reduceat(b, seg[:-1]) if len(b) else np.zeros(0)
    with np.errstate(invalid="ignore", over="ignore", divide="ignore"):
        z = np.add.reduceat(np.exp(-beta * (b - np.repeat(lo, k))), seg[:-1]) if len(b) else np.zeros(0)
        soft = np.where(np.isinf(lo), np.inf, lo - np.log(z) / beta)
    graph = np.searchsorted(compiled.graph_var_ptr, roots, side="right") - 1
    per_graph = np.bincount(graph, weights=soft, minlength=compiled.n_graphs)
    return sum_ranges(msgs.inward, compiled.graph_factor_ptr) + per_graph


def belief_propagation(compiled, beta, *, schedule="auto", damping=0.0, tol=1e-9, max_iter=1000):
    """Run BP on a :class:`CompiledGraph` and return an :class:`InferenceResult`.

    Parameters
    ----------
    compiled : CompiledGraph
    beta : float
        Inverse temperature, ``np.inf`` for min-sum (already validated).
    schedule : {"auto", "tree", "flood"}
        ``auto`` = tree on forests, flooding otherwise.
    damping : float in [0, 1)
        ``new = (1 - damping) new + damping old`` (flooding only).
    tol : float >= 0
        Stop when the largest message change is <= tol.
    max_iter : int >= 1
        Iteration cap of the flooding schedule.

    Examples
    --------
    >>> from factorgraph_ebm import FactorGraph, compile_graph
    >>> fg = FactorGraph()
    >>> _ = fg.add_variable("a", 2); _ = fg.add_variable("b", 2)
    >>> _ = fg.add_factor(["a", "b"], [[0.0, 1.0], [1.0, 0.0]])
    >>> res = belief_propagation(compile_graph(fg), beta=np.inf)
    >>> res.method, res.map_energy
    ('tree-bp', 0.0)
    """
    if schedule not in SCHEDULES:
        raise InferenceError(f"schedule must be one of {SCHEDULES}, got {schedule!r}")
    damping = check_scalar(damping, "damping", float, low=0.0, high=1.0, include_high=False)
    tol = check_scalar(tol, "tol", float, low=0.0)
    max_iter = check_scalar(max_iter, "max_iter", int, low=1)
    order = _bfs_order(compiled.wiring)
    is_forest = bool(order[2])
    if schedule == "auto":
        schedule = "tree" if is_forest else "flood"
    elif schedule == "tree" and not is_forest:
        raise InferenceError("schedule='tree' needs a forest, but the factor graph has a cycle; use 'flood'")
    method = "tree-bp" if schedule == "tree" else "loopy-bp"

    msgs, n_iter, delta, converged = _run(compiled, beta, schedule, damping, tol, max_iter, order)
    check_zero_partition(compiled, msgs.belief)
    w = compiled.wiring

    def decode(m):
        return _decode(w, m.belief, m.v2f, order[0], order[1])

    def map_solver():
        if beta == np.inf:
            return decode(msgs)
        return decode(_run(compiled, np.inf, schedule, damping, tol, max_iter, order)[0])

    def factor_solver(first, count):
        factors = np.arange(first, first + count, dtype=np.int64)
        sizes = np.diff(w.block_ptr)[w.factor_block[factors]]
        ptr = np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64)
        costs = np.empty(int(ptr[-1]))
        with threads_for(len(costs)):
            _gather_costs(w, factors, msgs.v2f, costs, ptr)
        return probabilities_from_costs(costs, ptr, beta)

    def table_adder(out, factor_weight):
        with threads_for(int(compiled.factor_entry_ptr[-1])):
            _add_factor_marginals(w, beta, msgs.etables, msgs.block_min, msgs.v2f, factor_weight, get_num_threads(), out)

    map_state = None
    if beta == np.inf:
        map_state = decode(msgs)
        free = sum_ranges(compiled.factor_energies(map_state), compiled.graph_factor_ptr)
    elif schedule == "tree":
        free = _tree_free_energies(compiled, msgs, order, beta)
    else:
        fterm = np.empty(compiled.n_factors)
        vterm = np.empty(compiled.n_vars)
        with threads_for(compiled.n_messages):
            _bethe_terms(w, compiled.unary, beta, msgs.etables, msgs.block_min, msgs.v2f, msgs.belief,
                         get_num_threads(), fterm, vterm)
        free = sum_ranges(fterm, compiled.graph_factor_ptr) + sum_ranges(vterm, compiled.graph_var_ptr)
    return InferenceResult(
        compiled, method, beta, marginals_from_beliefs(msgs.belief, w.var_state_ptr, beta), free,
        n_iter, delta, converged, map_solver, factor_solver, map_state=map_state, table_adder=table_adder,
    )

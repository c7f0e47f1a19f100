"""Belief propagation: validate, call the kernels, wrap the result.

``schedule="tree"`` runs one inward and one outward pass (exact on forests:
Viterbi / forward-backward on chains); ``schedule="flood"`` runs loopy BP with a
flooding schedule, damping, tolerance and an iteration cap.

``damping="auto"`` (the default) runs flooding undamped for up to
:data:`AUTO_UNDAMPED_ITERATIONS` iterations, which converges fastest where BP
converges at all, and continues from the messages it reached with damping
:data:`AUTO_DAMPING` when it has not converged by then (undamped min-sum on
grids oscillates, typically without end). The result says which damping ran.
"""

import logging
import warnings

import numpy as np

from ..compile.compiled import sum_ranges
from ..exceptions import ConvergenceWarning, InferenceError
from ..utils.lazy import lazy_module
from ..utils.validation import check_scalar
from .result import InferenceResult, check_zero_partition, marginals_from_beliefs, probabilities_from_costs

__all__ = ["belief_propagation", "SCHEDULES", "AUTO_DAMPING", "AUTO_UNDAMPED_ITERATIONS"]

SCHEDULES = ("auto", "tree", "flood")
#: ``damping="auto"``: undamped flooding iterations tried before damping is switched on ...
AUTO_UNDAMPED_ITERATIONS = 100
#: ... and the damping it then continues with.
AUTO_DAMPING = 0.5
logger = logging.getLogger(__name__)
_kernels = lazy_module("factorgraph_ebm.kernels.bp")
_jit = lazy_module("factorgraph_ebm.kernels._jit")


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


def check_damping(damping):
    """``"auto"`` or a float in [0, 1).

    Examples
    --------
    >>> check_damping("auto"), check_damping(0.5)
    ('auto', 0.5)
    """
    if isinstance(damping, str):
        if damping != "auto":
            raise InferenceError(f"damping must be 'auto' or a number in [0, 1), got {damping!r}")
        return damping
    return check_scalar(damping, "damping", float, low=0.0, high=1.0, include_high=False)


def _flood(compiled, beta, msgs, damping, tol, max_iter):
    """Flooding BP from ``msgs`` (updated in place); returns ``(n_iter, delta, damping used)``."""
    w = compiled.wiring

    def sweeps(d, n):
        return _kernels._flood(w, compiled.unary, beta, msgs.etables, msgs.block_min, d, tol, n,
                               _jit.num_threads(), msgs.f2v, msgs.v2f, msgs.belief)

    if damping != "auto":
        n_iter, delta = sweeps(damping, max_iter)
        return n_iter, delta, damping
    n_iter, delta = sweeps(0.0, min(max_iter, AUTO_UNDAMPED_ITERATIONS))
    if delta <= tol or n_iter >= max_iter:
        return n_iter, delta, 0.0
    logger.info("loopy BP: not converged after %d undamped iterations (last message change %.3g); "
                "continuing with damping %g", n_iter, delta, AUTO_DAMPING)
    more, delta = sweeps(AUTO_DAMPING, max_iter - n_iter)
    return n_iter + more, delta, AUTO_DAMPING


def _run(compiled, beta, schedule, damping, tol, max_iter, order):
    """One BP run: ``(messages, n_iter, delta, converged, damping used)``; warns when flooding did not converge."""
    w = compiled.wiring
    etables, block_min = _kernels._exp_tables(w, beta)
    msgs = _Messages(compiled, etables, block_min)
    with _jit.threads_for(compiled.n_messages):
        if schedule == "tree":
            _kernels._tree_pass(w, compiled.unary, beta, etables, block_min, order[0], order[1],
                                _jit.num_threads(), msgs.f2v, msgs.v2f, msgs.belief, msgs.inward)
            return msgs, 1, 0.0, True, 0.0
        n_iter, delta, used = _flood(compiled, beta, msgs, damping, tol, max_iter)
    converged = bool(delta <= tol)
    logger.info("loopy BP (%s, damping %g): %s after %d iterations, last message change %.3g",
                "min-sum" if beta == np.inf else f"sum-product at beta={beta:g}", used,
                "converged" if converged else "NOT converged", n_iter, delta)
    if not converged:
        hint = ("try damping=0.8 or a larger max_iter" if used > 0 else
                "try damping='auto' (the default) or 0.5, or a larger max_iter")
        warnings.warn(
            f"loopy BP did not converge in {n_iter} iterations with damping {used:g} (last message change "
            f"{delta:.3g} > tol {tol:g}); the answer is approximate: {hint}",
            ConvergenceWarning,
            stacklevel=4,
        )
    return msgs, n_iter, float(delta), converged, used


class _Answers:
    """What a BP run answers on demand: MAP decoding, factor marginals, their weighted sums.

    A module-level class rather than closures, so an :class:`InferenceResult`
    pickles (results come back from joblib or multiprocessing workers).
    """

    def __init__(self, compiled, beta, msgs, order, options):
        self.compiled = compiled
        self.beta = beta
        self.msgs = msgs
        self.order = order
        self.options = options  # schedule, damping, tol, max_iter of the run

    def decode(self, msgs):
        """The assignment decoded from the min-sum messages ``msgs``.

        On a forest, backtracking along the BFS order (exact). On a loopy graph
        that spanning-tree decode ignores the factors closing loops, so
        :func:`~factorgraph_ebm.inference.decoding.decode_map` also decodes by
        sequential conditioning, improves both by local search and keeps the
        better per graph (never worse than the spanning-tree decode).
        """
        tree = _kernels._decode(self.compiled.wiring, msgs.belief, msgs.v2f, self.order[0], self.order[1])
        if self.order[2]:
            return tree
        from .decoding import decode_map  # local: keeps this edit to the one method

        return decode_map(self.compiled, msgs.f2v, tree)

    def map_state(self):
        """Min-sum decoding: of this run at beta = inf, else of a min-sum run with the same options."""
        if self.beta == np.inf:
            return self.decode(self.msgs)
        schedule, damping, tol, max_iter = self.options
        return self.decode(_run(self.compiled, np.inf, schedule, damping, tol, max_iter, self.order)[0])

    def factor_probabilities(self, first, count):
        """Marginals of the factors ``first .. first + count - 1``, flat (factor-entry layout)."""
        w = self.compiled.wiring
        factors = np.arange(first, first + count, dtype=np.int64)
        sizes = np.diff(w.block_ptr)[w.factor_block[factors]]
        ptr = np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64)
        costs = np.empty(int(ptr[-1]))
        with _jit.threads_for(len(costs)):
            _kernels._gather_costs(w, factors, self.msgs.v2f, costs, ptr)
        return probabilities_from_costs(costs, ptr, self.beta)

    def add_factor_marginals(self, out, factor_weight):
        """``out[table entry] += factor_weight[f] * P_f(entry)`` (see InferenceResult.add_factor_marginals)."""
        m = self.msgs
        with _jit.threads_for(int(self.compiled.factor_entry_ptr[-1])):
            _kernels._add_factor_marginals(self.compiled.wiring, self.beta, m.etables, m.block_min, m.v2f,
                                           factor_weight, _jit.num_threads(), out)


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


def belief_propagation(compiled, beta, *, schedule="auto", damping="auto", tol=1e-9, max_iter=1000):
    """Run BP on a :class:`CompiledGraph` and return an :class:`InferenceResult`.

    Parameters
    ----------
    compiled : CompiledGraph
    beta : float
        Inverse temperature, ``np.inf`` for min-sum (already validated).
    schedule : {"auto", "tree", "flood"}
        ``auto`` = tree on forests, flooding otherwise.
    damping : "auto" or float in [0, 1)
        ``new = (1 - damping) new + damping old`` (flooding only). ``"auto"``:
        undamped for up to :data:`AUTO_UNDAMPED_ITERATIONS` iterations, then
        :data:`AUTO_DAMPING` from the messages reached if not converged.
        ``result.damping`` is the damping the run ended with.
    tol : float >= 0
        Stop when the largest message change is <= tol.
    max_iter : int >= 1
        Iteration cap of the flooding schedule (all phases together).

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
    damping = check_damping(damping)
    tol = check_scalar(tol, "tol", float, low=0.0)
    max_iter = check_scalar(max_iter, "max_iter", int, low=1)
    order = _kernels._bfs_order(compiled.wiring)
    is_forest = bool(order[2])
    if schedule == "auto":
        schedule = "tree" if is_forest else "flood"
    elif schedule == "tree" and not is_forest:
        raise InferenceError("schedule='tree' needs a forest, but the factor graph has a cycle; use 'flood'")
    method = "tree-bp" if schedule == "tree" else "loopy-bp"

    msgs, n_iter, delta, converged, used = _run(compiled, beta, schedule, damping, tol, max_iter, order)
    check_zero_partition(compiled, msgs.belief)
    w = compiled.wiring
    answers = _Answers(compiled, beta, msgs, order, (schedule, damping, tol, max_iter))
    map_state = None
    if beta == np.inf:
        map_state = answers.decode(msgs)
        free = sum_ranges(compiled.factor_energies(map_state), compiled.graph_factor_ptr)
    elif schedule == "tree":
        free = _tree_free_energies(compiled, msgs, order, beta)
    else:
        fterm = np.empty(compiled.n_factors)
        vterm = np.empty(compiled.n_vars)
        with _jit.threads_for(compiled.n_messages):
            _kernels._bethe_terms(w, compiled.unary, beta, msgs.etables, msgs.block_min, msgs.v2f, msgs.belief,
                                  _jit.num_threads(), fterm, vterm)
        free = sum_ranges(fterm, compiled.graph_factor_ptr) + sum_ranges(vterm, compiled.graph_var_ptr)
    return InferenceResult(
        compiled, method, beta, marginals_from_beliefs(msgs.belief, w.var_state_ptr, beta), free,
        n_iter, delta, converged, answers.map_state, answers.factor_probabilities, map_state=map_state,
        table_adder=answers.add_factor_marginals, schedule=schedule, damping=used,
    )

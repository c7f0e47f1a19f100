"""Belief propagation: validate, call the kernels, wrap the result.

``schedule="tree"`` runs one inward and one outward pass (exact on forests:
Viterbi / forward-backward on chains). The inward pass alone gives the free
energy and the MAP backtracking, so the outward pass runs only when marginals
(variable or factor, or ``add_factor_marginals``) are first read.

Loopy schedules: ``"flood"`` (every variable, then every factor sends),
``"sequential"`` (factors one at a time in id order, each seeing the messages
written before it), ``"random"`` (the same in a fresh seeded order each sweep)
and ``"residual"`` (residual BP: the message that would change most is written
next). All share damping, the stopping rule and the fixed points;
``max_iter`` counts sweeps (residual: message updates / messages).

Convergence: a sweep's largest message change is <= ``tol``. The change of a
message is ``max_x |p_new(x) - p_old(x)|`` of the two messages read as
probability vectors at finite beta (independent of the state count and of
constants; states of negligible probability do not count), and the largest
change of the min-normalised energies at beta = inf (see
``kernels.messages._message_change``).

``damping="auto"`` (the default) runs a schedule undamped for up to
:data:`AUTO_UNDAMPED_ITERATIONS` sweeps, which converges fastest where BP
converges at all, and continues from the messages it reached with damping
:data:`AUTO_DAMPING` when it has not converged by then (undamped min-sum on
grids oscillates, typically without end). The result says which damping ran.

``schedule="auto"``: the tree pass on forests. On loopy graphs: residual BP for
as many sweeps as :data:`AUTO_RESIDUAL_WORK` flooding sweeps of work buy
(skipped below :data:`AUTO_RESIDUAL_MIN_SWEEPS`: on variables of very high
degree a residual update is expensive), then sequential BP for ``max_iter``
sweeps, then, only if neither converged, flooding for ``max_iter`` sweeps, each
with the ``damping`` asked for. Among the converged runs whose beliefs leave
every variable a state, it keeps the one with the highest Bethe log partition
(libDAI's practice; at beta = inf, the lowest energy of the decoded
assignment); when none converged, the one with the smallest last change.
``result.schedule`` names the run returned.
"""

import logging
import warnings

import numpy as np

from ..compile.compiled import CompiledGraph, sum_ranges
from ..exceptions import ConvergenceWarning, InferenceError
from ..utils.lazy import lazy_module
from ..utils.validation import check_scalar, check_type
from .decoding import better_per_graph, decode_beliefs, decode_map
from .options import LOOPY_SCHEDULES, SCHEDULES, check_options
from .result import (InferenceResult, LazyMarginalsResult, check_zero_partition, marginals_from_beliefs,
                     factor_entry_slice, probabilities_from_costs)

__all__ = ["belief_propagation", "min_sum_from", "residual_cost", "SCHEDULES", "LOOPY_SCHEDULES", "AUTO_DAMPING",
           "AUTO_UNDAMPED_ITERATIONS", "AUTO_RESIDUAL_WORK", "AUTO_RESIDUAL_MIN_SWEEPS", "DEFAULT_SEED",
           "ROUNDING_CHUNK", "ROUNDING_PATIENCE"]

#: Seed of the ``random`` schedule's orders when ``random_state`` is None.
DEFAULT_SEED = 0
#: :func:`min_sum_from`: sweeps between two decodes ...
ROUNDING_CHUNK = 30
#: ... and the chunks in a row without a better decode after which it stops.
ROUNDING_PATIENCE = 2
#: ``schedule="auto"``: the residual run's budget, in flooding sweeps of work (see :func:`residual_cost`).
AUTO_RESIDUAL_WORK = 200
#: ... and the fewest sweeps worth running it for (below, on very high-degree variables, it is skipped).
AUTO_RESIDUAL_MIN_SWEEPS = 10
#: ``damping="auto"``: undamped flooding iterations tried before damping is switched on ...
AUTO_UNDAMPED_ITERATIONS = 100
#: ... and the damping it then continues with.
AUTO_DAMPING = 0.5
logger = logging.getLogger(__name__)
_kernels = lazy_module("factorgraph_ebm.kernels.bp")
_trees = lazy_module("factorgraph_ebm.kernels.trees")
_schedules = lazy_module("factorgraph_ebm.kernels.schedules")
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
        self.free = None    # Bethe free energies per graph, when schedule="auto" computed them to choose
        self.map_state = None   # min-sum decoding, when schedule="auto" computed it to choose
        self.outward_pending = False    # tree schedule: only the inward pass has run (see _Answers.outward)


def _seed_state(random_state):
    """splitmix64 state (1,) uint64 of the ``random`` schedule from an int seed or a Generator."""
    if random_state is None:
        random_state = DEFAULT_SEED
    if isinstance(random_state, np.random.Generator):
        seed = int(random_state.integers(0, 2 ** 63))
    else:
        seed = check_scalar(random_state, "random_state", int, low=0)
    return np.array([seed % (1 << 64)], dtype=np.uint64)


def _sweeps(compiled, beta, msgs, schedule, damping, tol, max_iter, state):
    """``max_iter`` sweeps of one loopy schedule from ``msgs`` (in place); returns ``(n_iter, delta)``."""
    w = compiled.wiring
    if schedule == "flood":
        return _kernels._flood(w, compiled.unary, beta, msgs.etables, msgs.block_min, damping, tol, max_iter,
                               _jit.num_threads(), msgs.f2v, msgs.v2f, msgs.belief)
    if schedule == "residual":
        return _schedules._residual(w, compiled.unary, beta, msgs.etables, msgs.block_min, damping, tol, max_iter,
                                    msgs.f2v, msgs.v2f, msgs.belief)
    return _schedules._sequential(w, compiled.unary, beta, msgs.etables, msgs.block_min, damping, tol, max_iter,
                                  schedule == "random", state, msgs.f2v, msgs.v2f, msgs.belief)


def _loopy(compiled, beta, msgs, schedule, damping, tol, max_iter, state):
    """One loopy schedule from ``msgs`` (updated in place); returns ``(n_iter, delta, damping used)``."""
    if damping != "auto":
        n_iter, delta = _sweeps(compiled, beta, msgs, schedule, damping, tol, max_iter, state)
        return n_iter, delta, damping
    n_iter, delta = _sweeps(compiled, beta, msgs, schedule, 0.0, tol, min(max_iter, AUTO_UNDAMPED_ITERATIONS), state)
    if delta <= tol or n_iter >= max_iter:
        return n_iter, delta, 0.0
    logger.info("loopy BP (%s): not converged after %d undamped iterations (last message change %.3g); "
                "continuing with damping %g", schedule, n_iter, delta, AUTO_DAMPING)
    more, delta = _sweeps(compiled, beta, msgs, schedule, AUTO_DAMPING, tol, max_iter - n_iter, state)
    return n_iter + more, delta, AUTO_DAMPING


def min_sum_from(compiled, msg_f2v, max_sweeps, *, chunk=ROUNDING_CHUNK, patience=ROUNDING_PATIENCE, tol=1e-9):
    """Sequential undamped min-sum started from the messages ``msg_f2v``: the best assignment it decodes.

    A rounding for message-passing methods whose messages are not BP's (TRW-S
    hands over its reweighted messages ``rho_f m_{f->v}``): BP from a
    reparametrisation near the LP optimum often decodes a lower energy than
    either method alone. Every ``chunk`` sweeps the messages are decoded
    (:func:`~.decoding.decode_beliefs`) and the best assignment per graph is kept
    (lexicographically: +inf factors, then energy). Stops when a sweep changes
    no message by more than ``tol``, after ``max_sweeps`` sweeps, or when
    ``patience`` chunks in a row improved no graph's best. Returns (V,) int64.

    Examples
    --------
    >>> from factorgraph_ebm import FactorGraph, compile_graph
    >>> fg = FactorGraph()
    >>> for name in "abc":
    ...     _ = fg.add_variable(name, 2)
    >>> for pair in ("ab", "bc", "ac"):
    ...     _ = fg.add_factor(list(pair), [[0.0, 1.0], [1.0, 0.0]])
    >>> _ = fg.add_factor(["a"], [0.0, 0.5])
    >>> cg = compile_graph(fg)
    >>> min_sum_from(cg, np.zeros(cg.n_messages), 30).tolist()
    [0, 0, 0]
    """
    w = compiled.wiring
    etables, block_min = _kernels._exp_tables(w, np.inf)
    msgs = _Messages(compiled, etables, block_min)
    msgs.f2v[:] = msg_f2v
    seed = _seed_state(None)
    best = None
    done = stalled = 0
    while best is None or (done < max_sweeps and stalled < patience):
        n = max(0, min(chunk, max_sweeps - done))
        _, delta = _sweeps(compiled, np.inf, msgs, "sequential", 0.0, tol, n, seed)
        done += n
        state = decode_beliefs(compiled, msgs.f2v, msgs.belief)
        new = state if best is None else better_per_graph(compiled, best, state)
        stalled = 0 if best is None or (new != best).any() else stalled + 1
        best = new
        if delta <= tol:
            break
    return best


def residual_cost(wiring):
    """Work of one residual-BP sweep relative to one flooding sweep: messages recomputed per message written.

    Writing the message of factor f to variable v recomputes the messages of
    v's other factors towards their other variables; this averages that count
    over the messages (about 3 on a 4-connected grid, the variable degree for
    pairwise factors in general).

    Examples
    --------
    >>> from factorgraph_ebm import compile_graph
    >>> from factorgraph_ebm.models import potts_grid
    >>> round(residual_cost(compile_graph(potts_grid(np.zeros((10, 10, 2)), 1.0)).wiring), 2)
    2.69
    """
    arity = np.diff(wiring.factor_edge_ptr)
    sends = arity[wiring.edge_factor] - 1
    active = sends > 0
    if not active.any():
        return 1.0
    per_var = np.bincount(wiring.edge_var, weights=sends, minlength=len(wiring.var_states))
    return max(1.0, float((per_var[wiring.edge_var] - sends)[active].mean()))


def _has_zero_belief(compiled, msgs):
    """Whether some variable's belief is +inf in every state (the run claims a zero partition)."""
    ptr = compiled.wiring.var_state_ptr
    if len(msgs.belief) == 0:
        return False
    return bool(np.isinf(np.minimum.reduceat(msgs.belief, ptr[:-1])).any())


class _Attempt:
    """One run of the ``auto`` policy and what it is judged by."""

    def __init__(self, schedule, msgs, n_iter, delta, damping, tol, valid, score):
        self.schedule, self.msgs, self.n_iter, self.delta, self.damping = schedule, msgs, n_iter, delta, damping
        self.converged = bool(delta <= tol)
        self.valid = valid
        self.score = score      # higher is better: Bethe log Z (finite beta), -energy of the decoding (min-sum)


def _auto(compiled, beta, etables, block_min, damping, tol, max_iter, state, decode):
    """The ``schedule="auto"`` policy on a loopy graph (module docstring).

    Returns ``(msgs, n_iter, delta, damping, schedule)`` of the run chosen.
    """
    attempts = []

    def attempt(schedule, n):
        msgs = _Messages(compiled, etables, block_min)
        n_iter, delta, used = _loopy(compiled, beta, msgs, schedule, damping, tol, n, state)
        valid = not _has_zero_belief(compiled, msgs)
        score = -np.inf
        if valid and beta < np.inf:
            msgs.free = _bethe_free_energies(compiled, beta, msgs)
            score = -beta * float(np.sum(msgs.free))
        elif valid:
            msgs.map_state = decode(msgs)
            score = -float(np.sum(compiled.factor_energies(msgs.map_state)))
        if np.isnan(score):
            score = -np.inf
        attempts.append(_Attempt(schedule, msgs, n_iter, delta, used, tol, valid, score))
        logger.debug("schedule='auto': %s ran %d sweeps (damping %g), %s, last change %.3g, %s %.6g", schedule,
                     n_iter, used, "converged" if delta <= tol else "NOT converged", delta,
                     "Bethe log Z" if beta < np.inf else "-energy of its decoding", score)
        return attempts[-1].converged and valid

    sweeps = int(min(max_iter, AUTO_RESIDUAL_WORK // residual_cost(compiled.wiring)))
    done = False
    if sweeps >= min(max_iter, AUTO_RESIDUAL_MIN_SWEEPS):
        done = attempt("residual", sweeps)
    done = attempt("sequential", max_iter) or done
    if not done:
        attempt("flood", max_iter)
    good = [a for a in attempts if a.valid and a.converged]
    if good:
        best = max(good, key=lambda a: a.score)     # first of equals: the order above
    elif any(a.valid for a in attempts):
        best = min((a for a in attempts if a.valid), key=lambda a: a.delta)
    else:
        best = attempts[0]
    return best.msgs, best.n_iter, best.delta, best.damping, best.schedule


def _run(compiled, beta, schedule, damping, tol, max_iter, order, random_state=None):
    """One BP run: ``(messages, n_iter, delta, converged, damping used, schedule run)``; warns when not converged."""
    w = compiled.wiring
    etables, block_min = _kernels._exp_tables(w, beta)
    with _jit.threads_for(compiled.n_messages):
        if schedule == "tree":
            # the inward pass answers the free energy and MAP; the outward pass runs when marginals are read
            msgs = _Messages(compiled, etables, block_min)
            _trees._tree_pass(w, compiled.unary, beta, etables, block_min, order[0], order[1], _trees.INWARD, True,
                              _jit.num_threads(), msgs.f2v, msgs.v2f, msgs.belief, msgs.inward)
            msgs.outward_pending = True
            return msgs, 1, 0.0, True, 0.0, "tree"
        state = _seed_state(random_state)
        if schedule == "auto":
            def decode(m):
                return _Answers(compiled, np.inf, m, order, None).decode(m)

            msgs, n_iter, delta, used, schedule = _auto(compiled, beta, etables, block_min, damping, tol, max_iter,
                                                        state, decode)
        else:
            msgs = _Messages(compiled, etables, block_min)
            n_iter, delta, used = _loopy(compiled, beta, msgs, schedule, damping, tol, max_iter, state)
    converged = bool(delta <= tol)
    logger.info("loopy BP (%s, damping %g): %s after %d iterations, last message change %.3g (%s schedule)",
                "min-sum" if beta == np.inf else f"sum-product at beta={beta:g}", used,
                "converged" if converged else "NOT converged", n_iter, delta, schedule)
    if not converged:
        hint = ("try damping=0.8 or a larger max_iter" if used > 0 else
                "try damping='auto' (the default) or 0.5, or a larger max_iter")
        warnings.warn(
            f"loopy BP did not converge in {n_iter} iterations with damping {used:g} ({schedule} schedule, "
            f"last message change {delta:.3g} > tol {tol:g}); the answer is approximate: {hint}",
            ConvergenceWarning,
            stacklevel=4,
        )
    return msgs, n_iter, float(delta), converged, used, schedule


class _Answers:
    """What a BP run answers on demand: MAP decoding, factor marginals, their weighted sums.

    A module-level class rather than closures, so an :class:`InferenceResult`
    pickles (results come back from joblib or multiprocessing workers).
    """

    def __init__(self, compiled, beta, msgs, order, options, random_state=None):
        self.compiled = compiled
        self.beta = beta
        self.msgs = msgs
        self.order = order
        self.options = options  # schedule, damping, tol, max_iter of the run
        self.random_state = random_state

    def outward(self):
        """The messages of the run, after the tree schedule's outward pass (run here the first time).

        After the inward pass alone only the messages towards the roots and
        the roots' beliefs are final: enough for the free energy and MAP
        backtracking, not for marginals.
        """
        m = self.msgs
        if m.outward_pending:
            w = self.compiled.wiring
            with _jit.threads_for(self.compiled.n_messages):
                _trees._tree_pass(w, self.compiled.unary, self.beta, m.etables, m.block_min, self.order[0],
                                  self.order[1], _trees.OUTWARD, True, _jit.num_threads(), m.f2v, m.v2f,
                                  m.belief, m.inward)
            m.outward_pending = False
        return m

    def variable_marginals(self):
        """Variable marginals, flat (``wiring.var_state_ptr`` indexes them)."""
        belief = self.outward().belief
        ptr = self.compiled.wiring.var_state_ptr
        if self.beta == np.inf or len(ptr) <= 1:
            return marginals_from_beliefs(belief, ptr, self.beta)
        out = np.empty_like(belief)
        with _jit.threads_for(len(belief)):
            _trees._tree_marginals(belief, ptr, self.beta, _jit.num_threads(), out)
        return out

    def decode(self, msgs):
        """The assignment decoded from the min-sum messages ``msgs``.

        On a forest, backtracking along the BFS order (exact). On a loopy graph
        that spanning-tree decode ignores the factors closing loops, so
        :func:`~factorgraph_ebm.inference.decoding.decode_map` also decodes by
        sequential conditioning, improves both by local search and keeps the
        better per graph (never worse than the spanning-tree decode).
        Reuses the decoding ``schedule="auto"`` made to choose ``msgs``.
        """
        if msgs.map_state is not None:
            return msgs.map_state
        tree = _trees._decode(self.compiled.wiring, msgs.belief, msgs.v2f, self.order[0], self.order[1])
        if self.order[2]:
            return tree
        return decode_map(self.compiled, msgs.f2v, tree)

    def map_state(self):
        """Min-sum decoding: of this run at beta = inf, else of a min-sum run with the same options."""
        if self.beta == np.inf:
            return self.decode(self.msgs)
        schedule, damping, tol, max_iter = self.options
        return self.decode(_run(self.compiled, np.inf, schedule, damping, tol, max_iter, self.order,
                                self.random_state)[0])

    def factor_probabilities(self, first, count):
        """Marginals of the factors ``first .. first + count - 1``, flat (factor-entry layout)."""
        w = self.compiled.wiring
        factors, ptr = factor_entry_slice(w, first, count)
        costs = np.empty(int(ptr[-1]))
        msgs = self.outward()
        with _jit.threads_for(len(costs)):
            _kernels._gather_costs(w, factors, msgs.v2f, costs, ptr)
        return probabilities_from_costs(costs, ptr, self.beta)

    def add_factor_marginals(self, out, factor_weight):
        """``out[table entry] += factor_weight[f] * P_f(entry)`` (see InferenceResult.add_factor_marginals)."""
        m = self.outward()
        with _jit.threads_for(int(self.compiled.factor_entry_ptr[-1])):
            _kernels._add_factor_marginals(self.compiled.wiring, self.beta, m.etables, m.block_min, m.v2f,
                                           factor_weight, _jit.num_threads(), out)


class _TreeResult(LazyMarginalsResult):
    """An InferenceResult of the tree schedule: variable marginals (and the outward pass) on first access.

    The free energies and, at beta = inf, the MAP state come from the inward
    pass; ``marginal_array``, the factor marginals and ``add_factor_marginals``
    run the outward pass when first needed.
    """


def tree_free_energies(compiled, msgs, order, beta):
    """Exact free energy of every graph of a forest after a tree pass (at beta = inf: the minimum energy).

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
    soft = lo
    if beta < np.inf:
        with np.errstate(invalid="ignore", over="ignore", divide="ignore"):
            z = np.add.reduceat(np.exp(-beta * (b - np.repeat(lo, k))), seg[:-1]) if len(b) else np.zeros(0)
            soft = np.where(np.isinf(lo), np.inf, lo - np.log(z) / beta)
    graph = np.searchsorted(compiled.graph_var_ptr, roots, side="right") - 1
    per_graph = np.bincount(graph, weights=soft, minlength=compiled.n_graphs)
    return sum_ranges(msgs.inward, compiled.graph_factor_ptr) + per_graph


def _bethe_free_energies(compiled, beta, msgs):
    """Bethe free energy of every graph of the batch from the messages ``msgs`` of a run at finite beta."""
    fterm = np.empty(compiled.n_factors)
    vterm = np.empty(compiled.n_vars)
    with _jit.threads_for(compiled.n_messages):
        _kernels._bethe_terms(compiled.wiring, compiled.unary, beta, msgs.etables, msgs.block_min, msgs.v2f,
                              msgs.belief, _jit.num_threads(), fterm, vterm)
    return sum_ranges(fterm, compiled.graph_factor_ptr) + sum_ranges(vterm, compiled.graph_var_ptr)


def belief_propagation(compiled, beta, *, schedule="auto", damping="auto", tol=1e-9, max_iter=1000,
                       random_state=None):
    """Run BP on a :class:`CompiledGraph` and return an :class:`InferenceResult`.

    Parameters
    ----------
    compiled : CompiledGraph
    beta : float
        Inverse temperature, ``np.inf`` for min-sum (already validated).
    schedule : {"auto", "tree", "flood", "sequential", "random", "residual"}
        ``tree``: one inward and one outward pass (forests only, exact; the
        outward pass runs when marginals are first read).
        ``flood``: every variable, then every factor sends. ``sequential``:
        factors one at a time in id order, each seeing the messages written
        before it. ``random``: the same in a fresh random order each sweep.
        ``residual``: the message that would change most is written next.
        ``auto``: tree on forests; on loopy graphs the policy of the module
        docstring. ``result.schedule`` says which produced the answer.
    damping : "auto" or float in [0, 1)
        ``new = (1 - damping) new + damping old`` (energies; every loopy
        schedule). ``"auto"``: undamped for up to
        :data:`AUTO_UNDAMPED_ITERATIONS` sweeps, then :data:`AUTO_DAMPING` from
        the messages reached if not converged. ``result.damping`` is the
        damping the run ended with.
    tol : float >= 0
        Converged when the largest message change of a sweep (residual: the
        largest residual left) is <= tol. The change of a message is
        ``max_x |p_new(x) - p_old(x)|`` of the messages as probabilities at
        finite beta, the largest change of its min-normalised energies at
        beta = inf.
    max_iter : int >= 1
        Sweep cap (all damping phases together; residual: message updates /
        number of messages).
    random_state : int >= 0, numpy Generator or None
        Seed of the ``random`` schedule's orders (None: :data:`DEFAULT_SEED`).

    Examples
    --------
    >>> from factorgraph_ebm import FactorGraph, compile_graph
    >>> fg = FactorGraph()
    >>> _ = fg.add_variable("a", 2); _ = fg.add_variable("b", 2)
    >>> _ = fg.add_factor(["a", "b"], [[0.0, 1.0], [1.0, 0.0]])
    >>> res = belief_propagation(compile_graph(fg), beta=np.inf)
    >>> res.method, res.map_energy
    ('tree-bp', 0.0)
    >>> res = belief_propagation(compile_graph(fg), beta=1.0, schedule="residual")
    >>> res.schedule, res.converged, np.round(res.marginal("a"), 3)
    ('residual', True, array([0.5, 0.5]))
    """
    check_type(compiled, CompiledGraph, "belief_propagation: compiled", "a CompiledGraph (from compile_graph)")
    opts = check_options(method="bp", beta=beta, schedule=schedule, damping=damping, tol=tol, max_iter=max_iter)
    beta, schedule, damping, tol, max_iter = opts.beta, opts.schedule, opts.damping, opts.tol, opts.max_iter
    _seed_state(random_state)
    order = _trees._bfs_order(compiled.wiring)
    is_forest = bool(order[2])
    if schedule == "auto" and is_forest:
        schedule = "tree"
    elif schedule == "tree" and not is_forest:
        raise InferenceError("schedule='tree' needs a forest, but the factor graph has a cycle; use 'flood'")
    if schedule == "tree":
        order = _trees._tree_order(compiled.wiring, order)   # rooted at central variables: long trees split
    method = "tree-bp" if schedule == "tree" else "loopy-bp"

    msgs, n_iter, delta, converged, used, ran = _run(compiled, beta, schedule, damping, tol, max_iter, order,
                                                     random_state)
    answers = _Answers(compiled, beta, msgs, order, (schedule, damping, tol, max_iter), random_state)
    if msgs.outward_pending and _has_zero_belief(compiled, msgs):
        answers.outward()   # every belief, so the error names the lowest dead variable, not a root
    check_zero_partition(compiled, msgs.belief)
    w = compiled.wiring
    map_state = None
    if beta == np.inf:
        map_state = answers.decode(msgs)
        free = sum_ranges(compiled.factor_energies(map_state), compiled.graph_factor_ptr)
    elif ran == "tree":
        free = tree_free_energies(compiled, msgs, order, beta)
    else:
        free = msgs.free if msgs.free is not None else _bethe_free_energies(compiled, beta, msgs)
    if ran == "tree":
        result = _TreeResult(compiled, method, beta, None, free, n_iter, delta, converged, answers.map_state,
                             answers.factor_probabilities, map_state=map_state,
                             table_adder=answers.add_factor_marginals, schedule=ran, damping=used)
        result.answers = answers
        return result
    return InferenceResult(
        compiled, method, beta, marginals_from_beliefs(msgs.belief, w.var_state_ptr, beta), free,
        n_iter, delta, converged, answers.map_state, answers.factor_probabilities, map_state=map_state,
        table_adder=answers.add_factor_marginals, schedule=ran, damping=used,
    )

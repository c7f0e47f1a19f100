"""Tree-reweighted message passing: a proven upper bound on log Z (any finite beta), and TRW-S for MAP (beta = inf).

The factors are covered by spanning forests of the bipartite factor graph
(:func:`forest_cover`): forest ``t`` gets weight ``1 / n_forests`` (per graph of a batch) and factor
``f`` appearance probability ``rho_f`` (the share of forests holding it; 1 for
one-variable factors, which every forest holds). For *any* messages ``m``,
the energy splits exactly into one energy per forest,

``E(x) = sum_t (1 / n_forests) E_t(x)``,  ``E_t = sum_{f in t} T_f / rho_f + sum_v c_{t,v}``,
``c_{t,v} = b_v - sum_{f in t, f ∋ v} m_{f->v}``,  ``b_v = unary_v + sum_{f ∋ v} rho_f m_{f->v}``,

and since the free energy ``F = -(1/beta) log Z`` (the minimum energy at
``beta = inf``) is concave in the energy, ``F >= sum_t F_t / n_forests``: each
``F_t`` is exact (a tree pass, :mod:`factorgraph_ebm.kernels.trees`), so the
bound holds whether or not the messages converged. Where ``b_v`` is +inf,
``c_{t,v}`` is +inf: every +inf of a message follows from the tables and the
evidence (no finite-energy assignment is lost), so the split stays exact on
every assignment of finite energy. The messages (:mod:`factorgraph_ebm.kernels.trw`,
sequential, forward then backward) move the split towards the tightest one.

At ``beta = inf`` this is TRW-S (Kolmogorov 2006): the bound is a lower bound
on the minimum energy, the reported one the best seen (it never decreases).
At every check TRW-S's own sequential decode (each variable in id order to
its best state given the decoded ones and the reweighted messages ``rho_f
m_{f->v}`` of the rest; one pass over the edges) gives a candidate, the best
kept; at checks 1, 2, 4, 8, ... so does
:func:`~factorgraph_ebm.inference.decoding.decode_map` of the reweighted
messages (sequential conditioning and the spanning-tree decode, each polished
by ICM; early messages sometimes decode best, linkage_11). At the end the best
candidate after local search is compared with the same decode of the final
messages and with their min-sum rounding (:func:`~.bp.min_sum_from`:
sequential min-sum started from ``rho_f m_{f->v}``, decoded every 30 sweeps,
until it converges, stops improving or has run ``max_iter`` sweeps; it wins on
frustrated random tables where the LP relaxation is loose, and on BNs where
TRW-S converges slowly), and the best is polished by block ICM
(:func:`~factorgraph_ebm.inference.decoding.block_search`). The bound is
TRW-S's alone: the rounding only picks the reported assignment. At finite beta,
the upper bound on log Z is ``-beta`` times the best (largest) bound, the
marginals are the TRW pseudo-marginals ``∝ exp(-beta b_v)`` and the factor
marginals ``∝ exp(-beta (T_f / rho_f + sum n_{u->f}))``.

Higher-order factors take part like pairwise ones (a factor joins a forest
when its variables lie in distinct components; its messages are the general
path of :mod:`factorgraph_ebm.kernels.messages`).
"""

import logging
import warnings
from dataclasses import replace

import numpy as np

from ..compile.compiled import CompiledGraph, sum_ranges
from ..exceptions import ConvergenceWarning
from ..utils.lazy import lazy_module
from ..utils.validation import check_type
from .bp import min_sum_from, tree_free_energies
from .decoding import better_per_graph, block_search, decode_beliefs, lexicographic_energies, local_search
from .subgraphs import SubForest, frozen as _frozen
from .options import check_options
from .result import InferenceResult, check_zero_partition, factor_entry_slice, probabilities_from_costs

__all__ = ["trw", "forest_cover", "CHECK_EVERY", "STALL_CHECKS"]

#: Iterations (forward + backward pass) between two evaluations of the bound (and, at beta = inf, decodes).
CHECK_EVERY = 10
#: Converged when the best bound rose by at most ``tol`` (relative) over this many checks.
STALL_CHECKS = 5

logger = logging.getLogger(__name__)
_kernels = lazy_module("factorgraph_ebm.kernels.trw")
_bp = lazy_module("factorgraph_ebm.kernels.bp")
_trees = lazy_module("factorgraph_ebm.kernels.trees")
_jit = lazy_module("factorgraph_ebm.kernels._jit")


def forest_cover(compiled):
    """Forests of monotonic chains covering every factor of arity >= 2, built greedily: ``(member, rho, n_forests)``.

    Along each tree of a forest the variable ids increase (each variable has at
    most one factor to an earlier and one to a later variable in it), the
    condition under which TRW-S's sequential passes never lower the bound
    (Kolmogorov 2006); on a grid numbered row by row that is two forests, every
    edge in one (``rho = 1/2``). Each forest is maximal (no factor left out
    could join) and takes the least covered factors first, so every factor
    lands in at least one and the appearance probabilities are as even as the
    greedy order makes them. A graph that is itself a forest gets one forest,
    all of it (``rho = 1``: TRW is then exact BP). Each graph of a batch gets
    the forests it needs (its factors' forests are those of a run on that
    graph alone).

    Returns
    -------
    member : ndarray (max forests, n_factors) bool
        The factors of arity >= 2 of each forest (one-variable factors belong to every forest).
    rho : ndarray (n_factors,) float64
        Share of its graph's forests holding each factor (1.0 for one-variable factors).
    n_forests : ndarray (n_graphs,) int64
        Forests of each graph (the first ``n_forests[g]`` rows of ``member``; at least 1).

    Examples
    --------
    A 2 x 2 grid (four one-variable factors, then a cycle of four pairwise ones): two forests, each pairwise
    factor in one.

    >>> from factorgraph_ebm import compile_graph
    >>> from factorgraph_ebm.models import potts_grid
    >>> member, rho, n_forests = forest_cover(compile_graph(potts_grid(np.zeros((2, 2, 2)), 1.0)))
    >>> n_forests.tolist(), rho.tolist()
    ([2], [1.0, 1.0, 1.0, 1.0, 0.5, 0.5, 0.5, 0.5])
    """
    w = compiled.wiring
    arity = np.diff(w.factor_edge_ptr)
    graph = np.repeat(np.arange(compiled.n_graphs), np.diff(compiled.graph_factor_ptr))
    count = np.zeros(compiled.n_factors, dtype=np.int64)
    has_in = np.empty(compiled.n_vars, dtype=np.bool_)
    has_out = np.empty(compiled.n_vars, dtype=np.bool_)
    n_forests = np.ones(compiled.n_graphs, dtype=np.int64)
    forests = []
    tree = (arity >= 2) & _acyclic_graphs(compiled)[graph]     # a graph that is a forest is its own (exact) cover
    while True:
        uncovered = (arity >= 2) & (count == 0)
        open_ = np.bincount(graph[uncovered], minlength=compiled.n_graphs) > 0
        if not open_.any():
            break
        n_forests[open_] = len(forests) + 1
        multi = np.flatnonzero((arity >= 2) & open_[graph])
        order = multi[np.argsort(count[multi], kind="stable")]
        member = np.zeros(compiled.n_factors, dtype=np.bool_)
        _kernels._grow_forest(w, order, has_in, has_out, member)
        if not forests:
            member |= tree
        count += member
        forests.append(member)
    if not forests:
        forests.append(np.zeros(compiled.n_factors, dtype=np.bool_))
    rho = np.where(arity >= 2, count / n_forests[graph], 1.0)
    return np.array(forests), rho, n_forests


def _acyclic_graphs(compiled):
    """Per graph of the batch, whether its bipartite factor graph is a forest (edges = nodes - components)."""
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

    w = compiled.wiring
    n_vars, n_factors = compiled.n_vars, compiled.n_factors
    adj = coo_matrix((np.ones(len(w.edge_var)), (w.edge_var, n_vars + w.edge_factor)),
                     shape=(n_vars + n_factors,) * 2)
    _, label = connected_components(adj, directed=False)
    var_graph = np.repeat(np.arange(compiled.n_graphs), np.diff(compiled.graph_var_ptr))
    factor_graph = np.repeat(np.arange(compiled.n_graphs), np.diff(compiled.graph_factor_ptr))
    node_graph = np.concatenate([var_graph, factor_graph])
    first = np.unique(label, return_index=True)[1]
    components = np.bincount(node_graph[first], minlength=compiled.n_graphs)
    nodes = np.diff(compiled.graph_var_ptr) + np.diff(compiled.graph_factor_ptr)
    edges = np.bincount(factor_graph[w.edge_factor], minlength=compiled.n_graphs)
    return edges == nodes - components


def _scaled_wiring(w, rho, count, n_forests):
    """The wiring with factor f's table divided by ``rho_f = count_f / n_forests_f``: a block per (block, rho) used."""
    keys, factor_block = np.unique(np.stack([w.factor_block, count, n_forests], axis=1), axis=0, return_inverse=True)
    factor_block = factor_block.ravel()
    old = keys[:, 0]
    scale = keys[:, 2] / keys[:, 1]
    sizes = np.diff(w.block_ptr)[old]
    block_ptr = np.concatenate([[0], np.cumsum(sizes)])
    src = np.repeat(w.block_ptr[old] - block_ptr[:-1], sizes) + np.arange(block_ptr[-1])
    half = len(w.tables) // 2
    factor = np.repeat(scale, sizes)
    tables = np.concatenate([w.tables[src] * factor, w.tables[half + src] * factor])
    return w._replace(factor_block=_frozen(factor_block, np.int64), block_ptr=_frozen(block_ptr, np.int64),
                      tables=_frozen(tables, np.float64), block_potts=_frozen(w.block_potts[old], np.bool_))


class _Messages:
    """Arrays of a TRW run: messages, beliefs, and a free-energy slot per forest pass."""

    def __init__(self, compiled):
        m = compiled.n_messages
        self.f2v = np.zeros(m)
        self.v2f = np.zeros(m)
        self.belief = np.zeros(int(compiled.wiring.var_state_ptr[-1]))
        self.inward = np.zeros(compiled.n_factors)


class _Run:
    """The cover, the scaled wiring and the forests of one compiled graph, and the TRW iterations on them."""

    def __init__(self, compiled, beta):
        self.compiled = compiled
        self.beta = beta
        w = compiled.wiring
        member, rho, self.n_forests = forest_cover(compiled)
        self.rho = _frozen(rho, np.float64)
        arity = np.diff(w.factor_edge_ptr)
        graph = np.repeat(np.arange(compiled.n_graphs), np.diff(compiled.graph_factor_ptr))
        count = np.where(arity >= 2, member.sum(axis=0), 1)
        self.scaled = _scaled_wiring(w, rho, count, np.where(arity >= 2, self.n_forests[graph], 1))
        self.etables, self.block_min = _bp._exp_tables(self.scaled, beta)
        self.forests = []
        for t, m in enumerate(member):
            mine = (t < self.n_forests)[graph]      # forest t serves the graphs with more than t forests
            self.forests.append(SubForest(compiled, self.scaled, np.flatnonzero((m | (arity == 1)) & mine)))
        states = w.var_states[w.edge_var]
        #: variable state (var_state_ptr layout) of every message slot
        self.slot_state = np.repeat(w.var_state_ptr[w.edge_var] - w.edge_state_ptr[:-1], states) + \
            np.arange(compiled.n_messages)
        self.slot_rho = np.repeat(rho[w.edge_factor], states)
        self.msgs = _Messages(compiled)
        self.graph_var_ptr = _frozen(compiled.graph_var_ptr, np.int64)
        with _jit.threads_for(compiled.n_messages):
            _kernels._start(self.scaled, self.rho, compiled.unary, self.msgs.f2v, self.msgs.v2f, self.msgs.belief)

    def iterate(self, n_iter, tol, active, iters, delta):
        """Up to ``n_iter`` iterations of the graphs ``active`` (see :func:`.kernels.trw._iterations`)."""
        m = self.msgs
        with _jit.threads_for(self.compiled.pairwise_work() if self.compiled.n_graphs > 1 else 0):
            _kernels._iterations(self.scaled, self.rho, self.compiled.unary, self.beta, self.etables, self.block_min,
                                 tol, n_iter, self.graph_var_ptr, active, m.f2v, m.v2f, m.belief, iters, delta)

    def bound(self):
        """``sum_t F_t / n_forests`` per graph: a proven lower bound on every graph's free energy."""
        m = self.msgs
        n_states = len(m.belief)
        total = np.zeros(self.compiled.n_graphs)
        dead = m.belief == np.inf
        for t, forest in enumerate(self.forests):
            own = np.bincount(self.slot_state[forest.slots], weights=m.f2v[forest.slots], minlength=n_states)
            with np.errstate(invalid="ignore"):
                unary = np.where(dead, np.inf, m.belief - own)
            unary.setflags(write=False)
            sub = replace(self.compiled, wiring=forest.wiring, unary=unary, graph_factor_ptr=forest.graph_factor_ptr,
                          cache={})
            tm = _Messages(sub)
            with _jit.threads_for(len(forest.slots)):
                _trees._tree_pass(forest.wiring, unary, self.beta, self.etables, self.block_min, forest.order[0],
                                  forest.order[1], _trees.INWARD, True, _jit.num_threads(), tm.f2v, tm.v2f,
                                  tm.belief, tm.inward)
            total += np.where(t < self.n_forests, tree_free_energies(sub, tm, forest.order, self.beta), 0.0)
        return total / self.n_forests

    def chain_decode(self):
        """TRW-S's sequential decode of the current messages (cheap: one pass over the edges)."""
        state = np.empty(self.compiled.n_vars, dtype=np.int64)
        with _jit.threads_for(self.compiled.n_messages if self.compiled.n_graphs > 1 else 0):
            _kernels._chain_decode(self.compiled.wiring, self.rho, self.compiled.unary, self.msgs.f2v,
                                   self.graph_var_ptr, state)
        return state

    def loopy_decode(self):
        """:func:`~factorgraph_ebm.inference.decoding.decode_beliefs` of the reweighted messages ``rho_f m_{f->v}``."""
        m = self.msgs
        return decode_beliefs(self.compiled, self.slot_rho * m.f2v, m.belief)

    def decode(self, state, max_sweeps):
        """The best of ``state`` after local search, the loopy decode of the reweighted messages and their min-sum
        rounding (:func:`~.bp.min_sum_from`, up to ``max_sweeps`` sweeps), polished by block ICM.

        Where that still breaks a +inf entry, the loopy decode of the messages without the weights ``rho`` too.
        """
        m = self.msgs
        cg = self.compiled
        rounded = min_sum_from(cg, self.slot_rho * m.f2v, max_sweeps)
        best = block_search(cg, better_per_graph(cg, better_per_graph(cg, self.loopy_decode(), rounded),
                                                 local_search(cg, state)))
        if lexicographic_energies(cg, best)[0].any():
            # still breaking a +inf entry somewhere (deterministic tables, linkage_13): the plain messages'
            # conditioned decode often finds a feasible labelling there
            best = better_per_graph(cg, best, block_search(cg, decode_beliefs(cg, m.f2v, m.belief)))
        return best


def _solve(compiled, beta, tol, max_iter):
    """Iterate to convergence (or ``max_iter``); returns ``(run, best bound, best decode or None, n_iter, delta)``."""
    run = _Run(compiled, beta)
    check_zero_partition(compiled, run.msgs.belief)
    n_graphs = compiled.n_graphs
    iters = np.zeros(n_graphs, dtype=np.int64)
    delta = np.full(n_graphs, np.inf)
    active = np.ones(n_graphs, dtype=np.bool_)
    best = np.full(n_graphs, -np.inf)
    history = []
    state = None
    proven = np.zeros(n_graphs, dtype=np.bool_)    # beta = inf: the best decode meets the bound (optimal)
    done = 0
    while active.any() and done < max_iter:
        n = min(CHECK_EVERY, max_iter - done)
        run.iterate(n, tol, active, iters, delta)
        done += n
        bound = run.bound()
        best = np.where(active, np.fmax(best, bound), best)
        history.append(best.copy())
        settled = (delta <= tol) | (best == np.inf)    # messages settled, or the model proven infeasible
        if beta == np.inf:
            new = run.chain_decode()
            if len(history) & (len(history) - 1) == 0:
                # checks 1, 2, 4, 8, ...: also the loopy decode (costlier; early messages often decode best)
                new = better_per_graph(compiled, new, run.loopy_decode())
            state = new if state is None else better_per_graph(compiled, state, new)
            energy = sum_ranges(compiled.factor_energies(state), compiled.graph_factor_ptr)
            with np.errstate(invalid="ignore"):     # (an infeasible decode, energy +inf, closes no gap)
                proven = np.isfinite(energy) & ((energy - best) <= tol * np.maximum(1.0, np.abs(energy)))
            settled |= proven
        if len(history) > STALL_CHECKS:
            old = history[-1 - STALL_CHECKS]
            with np.errstate(invalid="ignore"):
                settled |= (best - old) <= tol * np.maximum(1.0, np.abs(best))
        logger.debug("TRW at beta=%g: %d iterations, bound %s, active graphs %d", beta, done, best[:4],
                     int(active.sum()))
        active &= ~settled
    if beta == np.inf and not proven.all():     # (an optimal decode everywhere needs no polish)
        state = run.decode(state, max_iter)
    return run, best, state, iters, delta, ~active


class _TRWAnswers:
    """What a TRW result answers on demand (a module-level class, so results pickle)."""

    def __init__(self, run, options, state=None):
        self.run = run
        self.options = options
        self.state = state

    def map_state(self):
        """The TRW-S decode: of this run at beta = inf, else of a beta = inf run with the same options."""
        if self.state is None:
            tol, max_iter = self.options
            self.state = _solve(self.run.compiled, np.inf, tol, max_iter)[2]
        return self.state

    def factor_probabilities(self, first, count):
        """Pseudo-marginals ``∝ exp(-beta (T_f / rho_f + sum n_{u->f}))`` of the factors ``first .. first + count - 1``."""
        run = self.run
        factors, ptr = factor_entry_slice(run.scaled, first, count)
        costs = np.empty(int(ptr[-1]))
        with _jit.threads_for(len(costs)):
            _bp._gather_costs(run.scaled, factors, run.msgs.v2f, costs, ptr)
        return probabilities_from_costs(costs, ptr, run.beta)


def trw(compiled, beta, *, tol=1e-9, max_iter=1000):
    """Tree-reweighted message passing: a proven bound on the free energy, and TRW-S for MAP at ``beta = inf``.

    Parameters
    ----------
    compiled : CompiledGraph
        One graph or a batch (the graphs run in parallel, each to its own convergence).
    beta : float
        Inverse temperature > 0; ``np.inf`` runs TRW-S (min-sum).
    tol : float >= 0
        A graph stops when an iteration's largest message change is <= tol (the
        measure of :func:`~factorgraph_ebm.inference.bp.belief_propagation`), when
        its best bound rose by at most ``tol`` (relative) over the last
        :data:`STALL_CHECKS` checks, or, at beta = inf, when the gap between the
        decoded energy and the bound is <= tol (relative): then ``converged``.
    max_iter : int >= 1
        Iteration cap (one iteration: a forward and a backward pass).

    Returns
    -------
    InferenceResult
        ``method="trw"`` (``"trws"`` at beta = inf). ``free_energy_lower`` is the
        best bound per graph (proven, converged or not): ``log_partition_bound =
        -beta free_energy_lower >= log Z`` at finite beta, ``energy_lower_bound <=
        min E`` at beta = inf, where ``map_state`` is the best TRW-S decode,
        ``free_energies = free_energy_upper`` its energy and ``gap`` the
        difference. At finite beta ``free_energies`` is the bound and the
        marginals are the TRW pseudo-marginals. Warns with a ConvergenceWarning
        when a graph did not converge in ``max_iter`` iterations.

    Examples
    --------
    >>> from factorgraph_ebm import compile_graph, infer
    >>> from factorgraph_ebm.models import potts_grid
    >>> fg = potts_grid(np.random.default_rng(0).normal(size=(4, 4, 3)), 0.7)
    >>> res = trw(compile_graph(fg), 1.0)
    >>> bool(res.log_partition_bound >= infer(fg, method="exact").log_partition)
    True
    >>> res = trw(compile_graph(fg), np.inf)
    >>> res.method, bool(res.energy_lower_bound <= res.map_energy), res.gap < 1e-6
    ('trws', True, True)
    """
    check_type(compiled, CompiledGraph, "trw: compiled", "a CompiledGraph (from compile_graph)")
    opts = check_options(method="trw", beta=beta, tol=tol, max_iter=max_iter)
    beta, tol, max_iter = opts.beta, opts.tol, opts.max_iter
    run, best, state, iters, delta, converged = _solve(compiled, beta, tol, max_iter)
    it = int(iters.max(initial=0))
    last = float(np.max(np.where(converged, 0.0, delta), initial=0.0))
    all_converged = bool(converged.all())
    name = "trws" if beta == np.inf else "trw"
    logger.info("%s at beta=%g: %s after %d iterations, bound %s", name, beta,
                "converged" if all_converged else "NOT converged", it, best[:4])
    if not all_converged:
        warnings.warn(
            f"{name} did not converge in {max_iter} iterations (last message change {last:.3g} > tol {tol:g}); the "
            "bound still holds, but may be loose: try a larger max_iter",
            ConvergenceWarning,
            stacklevel=3,
        )
    answers = _TRWAnswers(run, (tol, max_iter), state)
    m = run.msgs
    marginals = probabilities_from_costs(m.belief, compiled.wiring.var_state_ptr, beta)
    if beta == np.inf:
        free = sum_ranges(compiled.factor_energies(state), compiled.graph_factor_ptr)
        best = np.fmin(best, free)   # the minimum lies in between: a bound above it is rounding (or ties)
        result = InferenceResult(compiled, name, beta, marginals, free, it, last, all_converged, answers.map_state,
                                 answers.factor_probabilities, map_state=state)
        result.free_energy_upper = free
    else:
        result = InferenceResult(compiled, name, beta, marginals, best, it, last, all_converged, answers.map_state,
                                 answers.factor_probabilities)
    result.free_energy_lower = best
    return result

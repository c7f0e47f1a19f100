"""Exact inference on a junction tree of elimination cliques, within a memory budget.

Evidence first: a variable with one allowed state is dropped from every factor
scope (its tables are sliced). An elimination order (:mod:`.ordering`) of the
remaining interaction graph gives cliques; a clique contained in the clique
of one of its children is merged into it, so each node of the tree holds a
maximal clique: its frontal variables (eliminated there) and its separator
(the variables it shares with its parent). Every factor is added into the
table of its home node (the node of its first-eliminated variable, whose
clique holds the whole scope).

The upward pass sends each node's table, summed over its frontal variables
(``-(1/beta) log sum exp(-beta e)``, min at beta = inf), to its parent: the
roots give the free energy of each graph. The downward pass adds to each
node the parent's marginal on the separator minus the node's own message,
after which every node holds the energy marginal of its clique (the belief
update form of the Shafer-Shenoy messages, with ``inf - inf`` read as
``inf``: those entries are forbidden in the child already). The memory is the
node tables plus one message per separator, known before anything is
allocated: :func:`exact_cost` predicts it and the run refuses what does not
fit the budget.
"""

import os
from dataclasses import dataclass

import numpy as np

from ..compile.compiled import sum_ranges
from ..exceptions import InferenceError, MemoryBudgetError, ZeroPartitionError
from ..utils.lazy import lazy_module
from ..utils.validation import format_bytes, parse_bytes
from .ordering import elimination_order
from .result import LazyMarginalsResult, check_zero_partition

_kernels = lazy_module("factorgraph_ebm.kernels.junction")

__all__ = ["junction_tree", "exact_cost", "ExactCost", "default_memory_budget", "MEMORY_BUDGET_ENV",
           "SECONDS_PER_ENTRY"]

#: Environment variable that sets the default memory budget (bytes; suffixes K, M, G accepted).
MEMORY_BUDGET_ENV = "FGEBM_MEMORY_BUDGET"
#: Fraction of the machine's RAM the default budget allows.
MEMORY_FRACTION = 0.25
#: Process seconds per clique table entry of a run with marginals (upward pass, downward
#: pass, variable and factor marginals; beta = 1, warm kernels, one thread), measured on
#: UAI 2014 DBN, ObjectDetection, Grids and Promedus instances (2-7e-8; log Z alone, which
#: skips the downward pass, 0.8-1.8e-8).
SECONDS_PER_ENTRY = 6e-8
#: Bytes per predicted entry: float64 node tables, messages and the reduced factors' index.
_BYTES_PER_ENTRY = 8
#: Arrays of the size of the reduced factor tables a run holds at its peak, in entries per table
#: entry: the reduced energies and their index (``_Reduced.tables``), then, for the marginals, the
#: entry weights, their destination index and the factor marginals (``_JunctionAnswers._marginals``).
_TABLE_COPIES = 5.0


def default_memory_budget():
    """Bytes exact inference may use unless told otherwise.

    ``FGEBM_MEMORY_BUDGET`` (e.g. ``"2G"``, ``"500M"``, ``"1e9"``) when set, else
    a quarter of the machine's RAM (``os.sysconf``; 4 GB where unknown).

    Examples
    --------
    >>> default_memory_budget() > 0
    True
    """
    text = os.environ.get(MEMORY_BUDGET_ENV, "").strip()
    if text:
        return parse_bytes(text, MEMORY_BUDGET_ENV, InferenceError)
    try:
        return MEMORY_FRACTION * os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        return float(4 << 30)


def _budget(memory_budget):
    if memory_budget is None:
        return default_memory_budget()
    return parse_bytes(memory_budget, "memory_budget", InferenceError)


@dataclass(frozen=True)
class ExactCost:
    """Predicted cost of exact inference on a compiled graph (see :func:`exact_cost`).

    Attributes
    ----------
    entries : float
        Table entries the run holds: the clique tables of the order (an upper
        bound of the merged node tables) and the evidence-sliced factor tables
        with their index. A lower bound when ``complete`` is False.
    bytes : float
        Predicted memory, bytes.
    width : int
        Elimination width (largest clique size - 1) of the order found.
    seconds : float
        Predicted process time of a run (``entries * SECONDS_PER_ENTRY``).
    feasible : bool
        Whether ``bytes`` fits the memory budget.
    reason : str
        One sentence saying so.
    budget : float
        The memory budget, bytes.
    heuristic : str
        Heuristic of the elimination order.
    complete : bool
        False when the order search stopped at the budget (so entries is a lower bound).
    """

    entries: float
    bytes: float
    width: int
    seconds: float
    feasible: bool
    reason: str
    budget: float
    heuristic: str
    complete: bool = True


class _Reduced:
    """The model with evidence applied: free variables, sliced factor scopes (no tables yet)."""

    def __init__(self, compiled):
        w = compiled.wiring
        check_zero_partition(compiled, compiled.unary)
        allowed = np.isfinite(compiled.unary)
        n_allowed = np.add.reduceat(allowed.astype(np.int64), w.var_state_ptr[:-1]) if compiled.n_vars else \
            np.zeros(0, dtype=np.int64)
        first_allowed = np.maximum.reduceat(np.where(allowed, np.arange(len(allowed)), -1), w.var_state_ptr[:-1]) \
            if compiled.n_vars else np.zeros(0, dtype=np.int64)
        self.fixed = np.where(n_allowed == 1, first_allowed - w.var_state_ptr[:-1], -1).astype(np.int64)
        self.k = np.where(self.fixed >= 0, 1, w.var_states).astype(np.int64)
        free_edge = self.fixed[w.edge_var] < 0
        self.scope_var = np.ascontiguousarray(w.edge_var[free_edge])
        counts = np.add.reduceat(free_edge.astype(np.int64), w.factor_edge_ptr[:-1]) if compiled.n_factors else \
            np.zeros(0, dtype=np.int64)
        counts[np.diff(w.factor_edge_ptr) == 0] = 0
        self.scope_ptr = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
        logk = np.log(self.k.astype(np.float64))
        sizes = np.zeros(compiled.n_factors)
        np.add.at(sizes, np.repeat(np.arange(compiled.n_factors), counts), logk[self.scope_var])
        self.table_ptr = np.concatenate([[0], np.cumsum(np.rint(np.exp(sizes)).astype(np.int64))])

    def tables(self, compiled):
        """Energies of the reduced tables, flat (``table_ptr``), and their index in ``wiring.tables``."""
        w = compiled.wiring
        index = np.empty(int(self.table_ptr[-1]), dtype=np.int64)
        _kernels._reduce_factors(w.var_states, self.fixed, w.factor_edge_ptr, w.edge_var, w.edge_stride,
                                 w.factor_block, w.block_ptr, self.table_ptr, index)
        return w.tables[index], index


def _predict(compiled, budget):
    """``(reduced, order, ExactCost)`` for a compiled graph and a memory budget in bytes."""
    red = _Reduced(compiled)
    cap = budget / _BYTES_PER_ENTRY - _TABLE_COPIES * red.table_ptr[-1]
    order = elimination_order(red.k, (red.scope_ptr, red.scope_var), max_entries=max(cap, 1.0))
    entries = float(order.total_entries + _TABLE_COPIES * red.table_ptr[-1])
    nbytes = _BYTES_PER_ENTRY * entries
    seconds = SECONDS_PER_ENTRY * entries
    feasible = bool(order.complete and nbytes <= budget)
    if order.complete:
        size = (f"{entries:.3g} table entries ({format_bytes(nbytes)}; {order.heuristic} elimination width "
                f"{order.width})")
    else:
        size = (f"more than {entries:.3g} table entries (more than {format_bytes(nbytes)}; the {order.heuristic} "
                f"order passed the budget after {len(order.order)} of {len(red.k)} variables, elimination width "
                f"{order.width} so far)")
    if feasible:
        reason = f"exact inference needs {size}, within the memory budget of {format_bytes(budget)}"
    else:
        reason = (f"exact inference would need {size}, over the memory budget of {format_bytes(budget)}; "
                  f"raise memory_budget= (or {MEMORY_BUDGET_ENV}) or use method='bp'")
    return red, order, ExactCost(entries, nbytes, order.width, seconds, feasible, reason, budget,
                                 order.heuristic, order.complete)


def exact_cost(compiled, memory_budget=None):
    """Predict the memory and time of exact inference without running it.

    Parameters
    ----------
    compiled : CompiledGraph
        Graph (or batch) with its evidence: clamped variables leave the scopes.
    memory_budget : float, optional
        Bytes allowed; default :func:`default_memory_budget`. The order search
        stops early once an order passes it.

    Returns
    -------
    ExactCost

    Examples
    --------
    >>> from factorgraph_ebm import FactorGraph, compile_graph
    >>> fg = FactorGraph()
    >>> for v in "abc": _ = fg.add_variable(v, 2)
    >>> for s in ["ab", "bc", "ca"]: _ = fg.add_factor(list(s), [[0.0, 1.0], [1.0, 0.0]])
    >>> cost = exact_cost(compile_graph(fg))
    >>> cost.width, cost.feasible
    (2, True)
    """
    return _predict(compiled, _budget(memory_budget))[2]


class _Tree:
    """The junction tree of a compiled graph: node layout, factor homes, node tables."""

    def __init__(self, compiled, red, order):
        k = red.k
        self.k = k
        (self.node_ptr, self.node_var, self.n_front, self.parent,
         self.var_node) = _kernels._plan_nodes(order.order, order.clique_ptr, order.clique_vars)
        logk = np.log(k.astype(np.float64))
        n_nodes = len(self.parent)
        node_of_entry = np.repeat(np.arange(n_nodes), np.diff(self.node_ptr))
        # inside the frontal and the separator part of each node: most used variables first (see _build_node)
        is_sep = np.arange(len(self.node_var)) >= np.repeat(self.node_ptr[:-1] + self.n_front, np.diff(self.node_ptr))
        uses = np.bincount(red.scope_var, minlength=len(k))
        self.node_var = np.ascontiguousarray(
            self.node_var[np.lexsort((-uses[self.node_var], is_sep, node_of_entry))])
        size = np.zeros(n_nodes)
        np.add.at(size, node_of_entry, logk[self.node_var])
        sep = np.zeros(n_nodes)     # (the sort kept each node's frontal and separator slots in place)
        np.add.at(sep, node_of_entry[is_sep], logk[self.node_var[is_sep]])
        self.tab_ptr = np.concatenate([[0], np.cumsum(np.rint(np.exp(size)).astype(np.int64))])
        self.sep_ptr = np.concatenate([[0], np.cumsum(np.rint(np.exp(sep)).astype(np.int64))])
        rank = np.empty(len(k), dtype=np.int64)
        rank[order.order] = np.arange(len(k))
        # home of a factor: the node of its first-eliminated free variable (-1: no free variable)
        n_f = len(red.scope_ptr) - 1
        counts = np.diff(red.scope_ptr)
        first_rank = np.full(n_f, len(k), dtype=np.int64)
        np.minimum.at(first_rank, np.repeat(np.arange(n_f), counts), rank[red.scope_var])
        has = counts > 0
        self.home = np.full(n_f, -1, dtype=np.int64)
        self.home[has] = self.var_node[order.order[first_rank[has]]]
        by_home = np.argsort(self.home, kind="stable")
        self.fac = np.ascontiguousarray(by_home[self.home[by_home] >= 0])
        self.fac_ptr = np.searchsorted(self.home[self.fac], np.arange(n_nodes + 1)).astype(np.int64)
        self.child = np.ascontiguousarray(np.argsort(self.parent, kind="stable")[np.sum(self.parent < 0):])
        self.child_ptr = np.searchsorted(self.parent[self.child], np.arange(n_nodes + 1)).astype(np.int64)

    def run(self, beta, red_tables, red, compiled, upward=True, belief=None):
        """Upward pass (new tables; returns ``(belief, root values)``), or the downward pass on ``belief``."""
        if upward:
            belief = np.empty(int(self.tab_ptr[-1]))
        root_value = np.zeros(len(self.parent))
        w = compiled.wiring
        _kernels._passes(self.node_ptr, self.node_var, self.n_front, self.parent, self.k, belief, self.tab_ptr,
                         self.sep_ptr, float(beta), upward, not upward, root_value, self.fac_ptr, self.fac,
                         red.scope_ptr, red.scope_var, red_tables, red.table_ptr, compiled.unary, w.var_state_ptr,
                         self.child_ptr, self.child)
        return belief, root_value


def _ranges(starts, lengths):
    """Concatenated ``arange(s, s + n)`` for each (start, length)."""
    offs = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)
    return np.repeat(starts, lengths) + np.arange(int(offs[-1])) - np.repeat(offs[:-1], lengths)


def _sub_vals(ptr, vals, idx):
    """The CSR rows ``idx`` of ``(ptr, vals)``, concatenated."""
    return np.ascontiguousarray(vals[_ranges(ptr[idx], ptr[idx + 1] - ptr[idx])])


class _JunctionAnswers:
    """MAP assignment and factor marginals of a junction-tree run, on demand (picklable)."""

    def __init__(self, compiled, red, tree, red_tables, red_index, belief, beta):
        self.compiled, self.red, self.tree = compiled, red, tree
        self.red_tables, self.red_index, self.belief, self.beta = red_tables, red_index, belief, beta
        self._factor = None
        self._variable = None

    def _marginals(self):
        """Variable and factor marginals, once: downward pass, then one pass per node table (which it consumes)."""
        if self._factor is not None:
            return
        compiled, red, tree, beta = self.compiled, self.red, self.tree, self.beta
        tree.run(beta, self.red_tables, red, compiled, upward=False, belief=self.belief)
        w = compiled.wiring
        freev = np.flatnonzero(red.fixed < 0)
        fac = np.flatnonzero(tree.home >= 0)
        n_fac = len(fac)
        # items: the factors with a free variable, then the free variables, grouped by node
        item_node = np.concatenate([tree.home[fac], tree.var_node[freev]])
        scope_len = np.concatenate([np.diff(red.scope_ptr)[fac], np.ones(len(freev), dtype=np.int64)])
        scope_vals = np.concatenate([_sub_vals(red.scope_ptr, red.scope_var, fac), freev]).astype(np.int64)
        out_len = np.concatenate([np.diff(red.table_ptr)[fac], w.var_states[freev]]).astype(np.int64)
        by_node = np.argsort(item_node, kind="stable")
        item_ptr = np.searchsorted(item_node[by_node], np.arange(len(tree.parent) + 1)).astype(np.int64)
        starts = np.concatenate([[0], np.cumsum(scope_len)])
        sorted_scope_ptr = np.concatenate([[0], np.cumsum(scope_len[by_node])]).astype(np.int64)
        sorted_scope = scope_vals[np.repeat(starts[by_node], scope_len[by_node])
                                  + np.arange(int(sorted_scope_ptr[-1])) - np.repeat(sorted_scope_ptr[:-1], scope_len[by_node])]
        out_ptr = np.concatenate([[0], np.cumsum(out_len)]).astype(np.int64)
        weights = np.zeros(int(out_ptr[-1]))
        _kernels._node_marginals(tree.node_ptr, tree.node_var, tree.k, self.belief, tree.tab_ptr, float(beta),
                                 item_ptr, sorted_scope_ptr, np.ascontiguousarray(sorted_scope), weights,
                                 np.ascontiguousarray(out_ptr[:-1][by_node]))
        self.belief = None      # consumed
        if beta == np.inf:
            weights = (weights > 0).astype(np.float64)
        total = np.add.reduceat(weights, out_ptr[:-1]) if len(weights) else weights
        weights /= np.repeat(total, out_len)       # in place: table-sized arrays are few (factor entries can be 1e7)
        probs = weights
        # factor marginals, factor-entry layout (factors without free variables: 1 at their one entry)
        sizes = np.diff(red.table_ptr)
        dest = np.repeat(compiled.factor_entry_ptr[:-1] - w.block_ptr[w.factor_block], sizes)
        dest += self.red_index
        self._factor = np.zeros(int(compiled.factor_entry_ptr[-1]))
        if n_fac == compiled.n_factors:
            self._factor[dest] = probs[:out_ptr[n_fac]]
        else:
            free = np.repeat(tree.home >= 0, sizes)
            self._factor[dest[free]] = probs[:out_ptr[n_fac]]
            self._factor[dest[~free]] = 1.0
        del dest
        marg = np.zeros(int(w.var_state_ptr[-1]))
        marg[_ranges(w.var_state_ptr[freev], w.var_states[freev])] = probs[out_ptr[n_fac]:]
        fixed = np.flatnonzero(red.fixed >= 0)
        marg[w.var_state_ptr[fixed] + red.fixed[fixed]] = 1.0
        self._variable = marg

    def variable_marginals(self):
        """Flat variable marginals."""
        self._marginals()
        return self._variable

    def map_state(self):
        """MAP by backtracking a min pass (the run's own tables at beta = inf, a new upward pass otherwise)."""
        red, tree = self.red, self.tree
        belief = self.belief
        if self.beta != np.inf:
            belief = tree.run(np.inf, self.red_tables, red, self.compiled)[0]
        state = np.zeros(len(red.k), dtype=np.int64)
        _kernels._backtrack(tree.node_ptr, tree.node_var, tree.n_front, tree.parent, tree.k, belief,
                            tree.tab_ptr, state)
        fixed = red.fixed >= 0
        state[fixed] = red.fixed[fixed]
        return state

    def factor_probabilities(self, first, count):
        """Marginals of factors ``first .. first + count - 1`` (flat, factor-entry layout)."""
        self._marginals()
        ptr = self.compiled.factor_entry_ptr
        return self._factor[ptr[first]:ptr[first + count]]


class _JunctionResult(LazyMarginalsResult):
    """An InferenceResult whose variable marginals (and the downward pass) come on first access.

    The free energies (upward pass) and, at beta = inf, the MAP state are
    computed at once; ``marginal_array`` and the factor marginals run the
    downward pass when first read.
    """


def junction_tree(compiled, beta, memory_budget=None):
    """Exact inference on a junction tree of min-fill (or better) elimination cliques.

    Parameters
    ----------
    compiled : CompiledGraph
        One graph or a batch (one tree per graph; free energy per graph).
    beta : float
        Inverse temperature; ``np.inf`` = min-sum.
    memory_budget : float, optional
        Bytes the tree may hold (default :func:`default_memory_budget`); a
        larger prediction raises :class:`InferenceError` before allocating.

    Examples
    --------
    >>> from factorgraph_ebm import FactorGraph, compile_graph
    >>> fg = FactorGraph()
    >>> for v in "abc": _ = fg.add_variable(v, 2)
    >>> for s in ["ab", "bc", "ca"]: _ = fg.add_factor(list(s), [[0.0, 1.0], [1.0, 0.0]])
    >>> res = junction_tree(compile_graph(fg), beta=np.inf)
    >>> res.map_energy, res.method
    (0.0, 'junction-tree')
    """
    from .memory import check_state_memory  # memory imports this module's budget

    budget = _budget(memory_budget)
    check_state_memory(compiled, budget)  # the per-state arrays, before the order search allocates them
    red, order, cost = _predict(compiled, budget)
    if not cost.feasible:
        raise MemoryBudgetError(cost.reason, cost.bytes, cost.budget)
    return _run(compiled, beta, red, order, cost)


def _run(compiled, beta, red, order, cost, reason=None):
    red_tables, red_index = red.tables(compiled)
    tree = _Tree(compiled, red, order)
    belief, root_value = tree.run(beta, red_tables, red, compiled)
    graph_of_var = np.searchsorted(compiled.graph_var_ptr, np.arange(compiled.n_vars), side="right") - 1
    root = np.flatnonzero(tree.parent < 0)
    free = np.zeros(compiled.n_graphs)
    np.add.at(free, graph_of_var[tree.node_var[tree.node_ptr[root]]], root_value[root])
    const = np.flatnonzero(tree.home < 0)
    graph_of_factor = np.searchsorted(compiled.graph_factor_ptr, const, side="right") - 1
    np.add.at(free, graph_of_factor, red_tables[red.table_ptr[const]])
    if np.isinf(free).any() or np.isnan(free).any():
        g = int(np.flatnonzero(~np.isfinite(free))[0])
        batch = f" of graph {g}" if compiled.n_graphs > 1 else ""
        raise ZeroPartitionError(f"zero partition: every assignment{batch} has infinite energy given the evidence")
    answers = _JunctionAnswers(compiled, red, tree, red_tables, red_index, belief, beta)
    if beta == np.inf:
        map_state = answers.map_state()
        free = sum_ranges(compiled.factor_energies(map_state), compiled.graph_factor_ptr)
    else:
        map_state = None
    result = _JunctionResult(compiled, "junction-tree", beta, None, free, 1, 0.0, True,
                             answers.map_state, answers.factor_probabilities, map_state=map_state)
    result.answers = answers
    result.reason = reason or ("exact: " + cost.reason)
    result.cost = cost
    return result

"""Exact inference: brute-force enumeration and the junction tree.

``enumerate`` walks every assignment (the test oracle; independent of BP).
``junction_tree`` eliminates variables greedily (min weight), turns the
elimination cliques into a tree factor graph (one variable per clique, one per
separator, projection factors between them) and runs the tree BP kernel on it:
exact, with cost exponential in the treewidth only.
"""

import functools
import heapq

import numpy as np

from ..compile.compiled import sum_ranges
from ..compile.lower import compile_graph
from ..exceptions import InferenceError, ZeroPartitionError
from ..graph.factor_graph import FactorGraph
from ..utils.lazy import lazy_module
from .bp import belief_propagation
from .result import InferenceResult

_kernels = lazy_module("factorgraph_ebm.kernels.exact")

__all__ = ["enumerate_exact", "junction_tree", "elimination_cliques", "MAX_ENUMERATION", "MAX_JUNCTION_ENTRIES", "junction_tree_cost"]

#: Largest number of joint assignments brute force will walk.
MAX_ENUMERATION = 5_000_000
#: Largest number of table entries (cliques and clique-separator projections) a junction tree may hold.
MAX_JUNCTION_ENTRIES = 1 << 24


def _exact_result(compiled, method, beta, marg, free, map_state, factor_solver):
    return InferenceResult(compiled, method, beta, marg, free, 1, 0.0, True,
                           functools.partial(np.copy, map_state), factor_solver, map_state=map_state)


def enumerate_exact(compiled, beta):
    """Exact inference by walking every assignment (small models only).

    Examples
    --------
    >>> from factorgraph_ebm import FactorGraph, compile_graph
    >>> fg = FactorGraph()
    >>> _ = fg.add_variable("a", 3)
    >>> res = enumerate_exact(compile_graph(fg), beta=1.0)
    >>> bool(abs(res.log_partition - np.log(3)) < 1e-12)
    True
    """
    if compiled.n_graphs != 1:
        raise InferenceError("method='enumerate' takes one graph, not a batch")
    w = compiled.wiring
    allowed_mask = np.isfinite(compiled.unary)
    n_allowed = np.add.reduceat(allowed_mask.astype(np.int64), w.var_state_ptr[:-1])
    total = float(np.prod(n_allowed.astype(np.float64)))
    if total > MAX_ENUMERATION:
        raise InferenceError(
            f"enumeration would walk {total:.3g} assignments (> {MAX_ENUMERATION}); use method='exact' or 'bp'"
        )
    allowed = (np.flatnonzero(allowed_mask) - np.repeat(w.var_state_ptr[:-1], n_allowed)).astype(np.int64)
    allowed_ptr = np.concatenate([[0], np.cumsum(n_allowed)]).astype(np.int64)
    sizes = np.diff(w.block_ptr)[w.factor_block]
    fptr = np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64)
    e_min, map_state, log_sum, marg, fmarg = _kernels._enumerate(w, compiled.unary, beta, allowed, allowed_ptr, fptr)
    if e_min == np.inf:
        raise ZeroPartitionError("zero partition: every assignment has infinite energy given the evidence")
    if beta == np.inf:
        marg = _uniform_support(marg, w.var_state_ptr)
        fmarg = _uniform_support(fmarg, fptr)
        free = e_min
    else:
        free = e_min - log_sum / beta

    factor_solver = _FactorSlices(fmarg, fptr).factor_probabilities
    return _exact_result(compiled, "enumerate", beta, marg, np.array([free]), map_state, factor_solver)


class _FactorSlices:
    """Factor marginals already computed, flat in the factor-entry layout (``ptr`` indexes them)."""

    def __init__(self, probabilities, ptr):
        self.probabilities = probabilities
        self.ptr = ptr

    def factor_probabilities(self, first, count):
        return self.probabilities[self.ptr[first]:self.ptr[first + count]]


def _uniform_support(weights, ptr):
    """Uniform distribution over the positive entries of each range."""
    p = (weights > 0).astype(np.float64)
    return p / np.repeat(np.add.reduceat(p, ptr[:-1]), np.diff(ptr))


# ---------------------------------------------------------------- junction tree
def elimination_cliques(n_states, scopes):
    """Greedy min-weight elimination over the interaction graph.

    Parameters
    ----------
    n_states : sequence of int
        States per variable.
    scopes : iterable of sequences of int
        Variable ids of each factor.

    Returns
    -------
    order : list of int
        Elimination order.
    cliques : list of tuple
        ``cliques[i]`` = ``order[i]`` and its neighbours when eliminated (sorted).

    Examples
    --------
    >>> elimination_cliques([2, 2, 2], [(0, 1), (1, 2), (0, 2)])[1]
    [(0, 1, 2), (1, 2), (2,)]
    """
    n = len(n_states)
    logk = np.log(np.asarray(n_states, dtype=np.float64))
    adj = [set() for _ in range(n)]
    for scope in scopes:
        for u in scope:
            adj[u].update(scope)
    for u in range(n):
        adj[u].discard(u)

    def weight(u):
        return logk[u] + sum(logk[x] for x in adj[u])

    heap = [(weight(u), u) for u in range(n)]
    heapq.heapify(heap)
    done = np.zeros(n, dtype=bool)
    order, cliques = [], []
    while heap:
        wt, u = heapq.heappop(heap)
        if done[u]:
            continue
        current = weight(u)
        if current > wt + 1e-12:
            heapq.heappush(heap, (current, u))
            continue
        done[u] = True
        nbrs = adj[u]
        order.append(u)
        cliques.append(tuple(sorted(nbrs | {u})))
        for x in nbrs:
            adj[x].discard(u)
            adj[x].update(nbrs - {x})
            heapq.heappush(heap, (weight(x), x))
        adj[u] = set()
    return order, cliques


def _clique_plan(compiled, g):
    """Elimination cliques, parents and factor assignment for graph ``g`` of the batch."""
    w = compiled.wiring
    v0, v1 = int(compiled.graph_var_ptr[g]), int(compiled.graph_var_ptr[g + 1])
    f0, f1 = int(compiled.graph_factor_ptr[g]), int(compiled.graph_factor_ptr[g + 1])
    states = w.var_states[v0:v1]
    scopes = [tuple(int(u) - v0 for u in w.edge_var[w.factor_edge_ptr[f]:w.factor_edge_ptr[f + 1]])
              for f in range(f0, f1)]
    order, cliques = elimination_cliques(states, scopes)
    rank = np.empty(len(order), dtype=np.int64)
    rank[order] = np.arange(len(order))
    parent = []
    for i, c in enumerate(cliques):
        rest = [u for u in c if u != order[i]]
        parent.append(int(rank[min(rest, key=lambda u: rank[u])]) if rest else -1)
    home = [int(rank[min(s, key=lambda u: rank[u])]) for s in scopes]
    return states, scopes, order, cliques, parent, home


def junction_tree_cost(plan):
    """Table entries the junction tree materialises for one graph's ``plan``.

    Each clique ``i`` with a parent is joined to it through its separator by two
    0 / +inf projection tables of ``(clique states) x (separator states)``
    entries, which dominate both the memory and the message work.
    """
    states, _, order, cliques, parent, _ = plan
    size = [float(np.prod([states[u] for u in c], dtype=np.float64)) for c in cliques]
    total = sum(size)
    for i, p in enumerate(parent):
        if p >= 0:
            sep = float(np.prod([states[u] for u in cliques[i] if u != order[i]], dtype=np.float64))
            total += (size[i] + size[p]) * sep
    return total


def _broadcast(table, scope, members, states):
    """Table over ``scope`` broadcast to the axes of ``members`` (sorted ids)."""
    pos = [members.index(u) for u in scope]
    perm = np.argsort(pos)
    shape = [1] * len(members)
    for u in scope:
        shape[members.index(u)] = states[u]
    return table.transpose(perm).reshape(shape)


def _projection(members, sep, states):
    """0 / +inf table (clique states x separator states): 0 where the clique projects on the separator state."""
    csize = int(np.prod([states[u] for u in members]))
    coords = np.unravel_index(np.arange(csize), [states[u] for u in members])
    sep_shape = [states[u] for u in sep]
    proj = np.ravel_multi_index([coords[members.index(u)] for u in sep], sep_shape) if sep else np.zeros(csize, int)
    table = np.full((csize, int(np.prod(sep_shape))), np.inf)
    table[np.arange(csize), proj] = 0.0
    return table


def _clique_graph(compiled, g, plan):
    """The tree factor graph whose variables are the cliques of ``plan``."""
    w = compiled.wiring
    states, scopes, order, cliques, parent, home = plan
    v0 = int(compiled.graph_var_ptr[g])
    f0 = int(compiled.graph_factor_ptr[g])
    sizes = [int(np.prod([states[u] for u in c], dtype=np.float64)) for c in cliques]
    cost = junction_tree_cost(plan)
    if cost > MAX_JUNCTION_ENTRIES:
        raise InferenceError(
            f"junction tree needs {cost:.3g} table entries (> {MAX_JUNCTION_ENTRIES}; largest clique "
            f"{max(sizes)} joint states, elimination width {max(len(c) for c in cliques) - 1}, an upper bound on the treewidth); use method='bp'"
        )
    energy = [np.zeros([states[u] for u in c]) for c in cliques]
    for i, u in enumerate(order):
        unary = compiled.unary[w.var_state_ptr[v0 + u]:w.var_state_ptr[v0 + u + 1]]
        energy[i] = energy[i] + _broadcast(unary, (u,), list(cliques[i]), states)
    for j, scope in enumerate(scopes):
        f = f0 + j
        b = w.factor_block[f]
        table = w.tables[w.block_ptr[b]:w.block_ptr[b + 1]].reshape([states[u] for u in scope])
        i = home[j]
        energy[i] = energy[i] + _broadcast(table, scope, list(cliques[i]), states)
    cg = FactorGraph()
    for i in range(len(cliques)):
        cg.add_variable(i, sizes[i])
        cg.add_factor([i], energy[i].ravel())
    for i, p in enumerate(parent):
        if p < 0:
            continue
        sep = [u for u in cliques[i] if u != order[i]]
        cg.add_variable(f"sep{i}", int(np.prod([states[u] for u in sep])))
        cg.add_factor([i, f"sep{i}"], _projection(list(cliques[i]), sep, states), name=f"child{i}")
        cg.add_factor([p, f"sep{i}"], _projection(list(cliques[p]), sep, states), name=f"parent{i}")
    return cg


def _marginalize(clique_probs, members, keep, states):
    """Sum a clique distribution onto ``keep`` (in ``keep`` order)."""
    table = clique_probs.reshape([states[u] for u in members])
    axes = tuple(a for a, u in enumerate(members) if u not in keep)
    out = table.sum(axis=axes)
    kept = [u for u in members if u in keep]
    return out.transpose([kept.index(u) for u in keep])


class _JunctionAnswers:
    """MAP assignment and factor marginals of a junction-tree run, on demand (picklable, unlike closures)."""

    def __init__(self, compiled, ccomp, inner, plans, clique_marg, beta):
        self.compiled = compiled
        self.ccomp = ccomp
        self.inner = inner
        self.plans = plans
        self.clique_marg = clique_marg
        self.beta = beta

    def map_state(self):
        """The clique states of the inner tree's MAP, read back as states of the variables."""
        compiled, cstate = self.compiled, self.inner.map_state
        out = np.empty(compiled.n_vars, dtype=np.int64)
        for g, (states, scopes, order, cliques, parent, home) in enumerate(self.plans):
            base = int(self.ccomp.graph_var_ptr[g])
            v0 = int(compiled.graph_var_ptr[g])
            for i, u in enumerate(order):
                coords = np.unravel_index(int(cstate[base + i]), [states[x] for x in cliques[i]])
                out[v0 + u] = coords[list(cliques[i]).index(u)]
        return out

    def factor_probabilities(self, first, count):
        """Marginals of the factors ``first .. first + count - 1``, from their home cliques (flat)."""
        compiled, parts = self.compiled, []
        for f in range(first, first + count):
            g = int(np.searchsorted(compiled.graph_factor_ptr, f, side="right") - 1)
            states, scopes, order, cliques, parent, home = self.plans[g]
            j = f - int(compiled.graph_factor_ptr[g])
            i = home[j]
            p = _marginalize(self.clique_marg[g][i], list(cliques[i]), list(scopes[j]), states)
            if self.beta == np.inf:
                p = (p > 0) / np.count_nonzero(p > 0)
            parts.append(p.ravel())
        return np.concatenate(parts)


def junction_tree(compiled, beta, plans=None):
    """Exact inference on a junction tree of the elimination cliques.

    ``plans`` (one ``_clique_plan`` per graph) skips the elimination when the
    caller has already run it.

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
    if plans is None:
        plans = [_clique_plan(compiled, g) for g in range(compiled.n_graphs)]
    cgraphs = [_clique_graph(compiled, g, plan) for g, plan in enumerate(plans)]
    ccomp = compile_graph(cgraphs)
    try:
        inner = belief_propagation(ccomp, beta, schedule="tree")
    except ZeroPartitionError:
        raise ZeroPartitionError(
            "zero partition: every assignment has infinite energy given the evidence"
        ) from None
    w = compiled.wiring
    marg = np.empty(int(w.var_state_ptr[-1]))
    clique_marg = []
    for g, (states, scopes, order, cliques, parent, home) in enumerate(plans):
        probs = [inner.marginal(i, graph=g).ravel() for i in range(len(cliques))]
        clique_marg.append(probs)
        v0 = int(compiled.graph_var_ptr[g])
        for i, u in enumerate(order):
            p = _marginalize(probs[i], list(cliques[i]), [u], states)
            marg[w.var_state_ptr[v0 + u]:w.var_state_ptr[v0 + u + 1]] = p / p.sum()

    answers = _JunctionAnswers(compiled, ccomp, inner, plans, clique_marg, beta)
    map_solver, factor_solver = answers.map_state, answers.factor_probabilities

    if beta == np.inf:
        marg = _uniform_support(marg, w.var_state_ptr)
        map_state = map_solver()
        free = sum_ranges(compiled.factor_energies(map_state), compiled.graph_factor_ptr)
    else:
        map_state = None
        free = inner.free_energies
    return InferenceResult(compiled, "junction-tree", beta, marg, free, 1, 0.0, True,
                           map_solver, factor_solver, map_state=map_state)

"""The sampling wiring of a compiled graph: interaction graph, greedy colouring, pairwise neighbour lists.

Everything here depends on the structure only (never on table values nor on
evidence), is built by vectorised NumPy (the greedy colouring by a small
Numba loop) and is cached in ``compiled.cache``, which every variant made by
``with_evidence`` / ``with_parameters`` / ``with_clamped`` shares.
"""

import numpy as np

from ..compile.lower import _frozen
from ..utils.lazy import lazy_module

_k = lazy_module("factorgraph_ebm.kernels.gibbs")

__all__ = ["interaction_graph", "colouring", "colour_classes", "gibbs_plan", "sweep_plan", "sweep_values", "field"]


def _csr(owner, values, n):
    """CSR pointer and ``values`` grouped by ``owner`` (stable: the original order within each owner)."""
    order = np.argsort(owner, kind="stable")
    ptr = np.concatenate([[0], np.cumsum(np.bincount(owner, minlength=n))]).astype(np.int64)
    return ptr, order if values is None else values[order]


def interaction_graph(compiled):
    """Variables that share a factor, as CSR ``(adj_ptr (V+1,), adj (A,))`` int64, neighbours sorted, no repeats.

    Factors of arity ``a`` link every pair of their ``a`` variables.

    Examples
    --------
    >>> from factorgraph_ebm import FactorGraph, compile_graph
    >>> fg = FactorGraph()
    >>> x = fg.add_variables("x", shape=4, states=2)
    >>> _ = fg.add_factor([("x", 0), ("x", 1), ("x", 2)], np.zeros((2, 2, 2)))
    >>> _ = fg.add_factor([("x", 3)], [0.0, 1.0])
    >>> ptr, adj = interaction_graph(compile_graph(fg))
    >>> ptr.tolist(), adj.tolist()
    ([0, 2, 4, 6, 6], [1, 2, 0, 2, 0, 1])
    """
    cached = compiled.cache.get("gibbs_interaction")
    if cached is not None:
        return cached
    w = compiled.wiring
    n = compiled.n_vars
    arity = np.diff(w.factor_edge_ptr)
    src, dst = [np.zeros(0, dtype=np.int64)], [np.zeros(0, dtype=np.int64)]
    for a in np.unique(arity[arity >= 2]):
        f = np.flatnonzero(arity == a)
        scope = w.edge_var[w.factor_edge_ptr[f][:, None] + np.arange(a)]      # (n, a)
        i, j = np.nonzero(~np.eye(a, dtype=bool))
        src.append(scope[:, i].ravel())
        dst.append(scope[:, j].ravel())
    key = np.unique(np.concatenate(src) * n + np.concatenate(dst))
    src, dst = key // n, key % n
    ptr = np.concatenate([[0], np.cumsum(np.bincount(src, minlength=n))]).astype(np.int64)
    out = (_frozen(ptr, np.int64), _frozen(dst, np.int64))
    compiled.cache["gibbs_interaction"] = out
    return out


def colouring(compiled):
    """(V,) int64 colour of every variable: a greedy colouring of :func:`interaction_graph`, variables in order.

    No two variables of one colour share a factor, so a colour class can be
    updated in parallel. On a grid declared row by row it is the
    checkerboard (2 colours).

    Examples
    --------
    >>> from factorgraph_ebm import compile_graph
    >>> from factorgraph_ebm.models import potts_grid
    >>> colouring(compile_graph(potts_grid(np.zeros((3, 3, 2)), 1.0))).reshape(3, 3)
    array([[0, 1, 0],
           [1, 0, 1],
           [0, 1, 0]])
    """
    cached = compiled.cache.get("gibbs_colouring")
    if cached is None:
        ptr, adj = interaction_graph(compiled)
        cached = compiled.cache["gibbs_colouring"] = _frozen(_k._greedy_colouring(ptr, adj), np.int64)
    return cached


def colour_classes(compiled, free=None):
    """Colour classes as CSR ``(class_ptr (C+1,), sites)`` int64, variables in order inside a class.

    ``free`` (V,) bool keeps only those variables (default: the variables not
    clamped in ``compiled``); empty classes are dropped.

    Examples
    --------
    >>> from factorgraph_ebm import compile_graph
    >>> from factorgraph_ebm.models import potts_grid
    >>> ptr, sites = colour_classes(compile_graph(potts_grid(np.zeros((2, 2, 2)), 1.0), evidence={"x": [[1, -1], [-1, -1]]}))
    >>> ptr.tolist(), sites.tolist()
    ([0, 1, 3], [3, 1, 2])
    """
    colour = colouring(compiled)
    if free is None:
        free = compiled.clamped < 0
    sites = np.flatnonzero(free)
    col = colour[sites]
    order = np.argsort(col, kind="stable")
    counts = np.bincount(col, minlength=int(colour.max(initial=-1)) + 1)
    counts = counts[counts > 0]
    ptr = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
    return ptr, np.ascontiguousarray(sites[order], dtype=np.int64)


def gibbs_plan(compiled):
    """The :class:`~factorgraph_ebm.kernels.gibbs.GibbsPlan` of ``compiled``, by variable (cached in ``compiled.cache``).

    Pairwise factors become per-variable neighbour lists (neighbour, the
    offset of the table copy in which the neighbour is the row, so this
    variable's states are contiguous);
    factors of arity >= 3 are listed per variable by edge; one-variable
    factors are left to the field (:func:`field`).

    Examples
    --------
    >>> from factorgraph_ebm import compile_graph
    >>> from factorgraph_ebm.models import potts_grid
    >>> plan = gibbs_plan(compile_graph(potts_grid(np.zeros((2, 3, 2)), 1.0)))
    >>> np.diff(plan.pair_ptr).tolist()           # grid degrees
    [2, 3, 2, 2, 3, 2]
    """
    cached = compiled.cache.get("gibbs_plan")
    if cached is not None:
        return cached
    w = compiled.wiring
    n = compiled.n_vars
    half = len(w.tables) // 2
    arity = np.diff(w.factor_edge_ptr)
    pf = np.flatnonzero(arity == 2)
    e0 = w.factor_edge_ptr[pf]
    a, b = w.edge_var[e0], w.edge_var[e0 + 1]
    off = w.block_ptr[w.factor_block[pf]]
    # owner a reads T[x_a, x_b] in the transposed copy, at half + off + x_b * K_a + x_a (its states contiguous);
    # owner b reads the original at off + x_a * K_b + x_b
    pair_ptr, order = _csr(np.concatenate([a, b]), None, n)
    nb = np.concatenate([b, a])[order]
    if n >= 2**31 or w.var_states.max(initial=0) >= 2**31 or 2 * len(pf) >= 2**31:
        raise OverflowError("gibbs_plan: more than 2^31 variables, states or pairwise entries")
    high = np.flatnonzero(arity[w.edge_factor] >= 3)            # edges of factors of arity >= 3
    high_ptr, high_edges = _csr(w.edge_var[high], high, n)
    plan = _k.GibbsPlan(
        pair_ptr=_frozen(pair_ptr, np.int64),
        pair_nb=_frozen(nb, np.int32),
        pair_off=_frozen(np.concatenate([half + off, off])[order], np.int64),
        high_ptr=_frozen(high_ptr, np.int64),
        high_edges=_frozen(high_edges, np.int64),
    )
    compiled.cache["gibbs_plan"] = plan
    return plan


def _gather_ranges(ptr, rows):
    """Indices ``ptr[r] .. ptr[r + 1] - 1`` of every ``r`` of ``rows``, concatenated, and their new CSR pointer."""
    counts = ptr[rows + 1] - ptr[rows]
    new_ptr = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
    idx = np.repeat(ptr[rows] - new_ptr[:-1], counts) + np.arange(new_ptr[-1], dtype=np.int64)
    return new_ptr, idx


def sweep_plan(compiled, schedule):
    """``(plan, class_ptr, kmax, rows)``: the :class:`~factorgraph_ebm.kernels.gibbs.SweepPlan` of the free variables.

    Positions follow the order of updates: colour classes in turn (``class_ptr``
    bounds each) for ``"chromatic"``, variables in order (one class) for
    ``"sequential"``. Depends on the structure and on which variables are
    clamped; cached in ``compiled.cache`` for the last clamping seen.

    Examples
    --------
    >>> from factorgraph_ebm import compile_graph
    >>> from factorgraph_ebm.models import potts_grid
    >>> plan, class_ptr, kmax, _ = sweep_plan(compile_graph(potts_grid(np.zeros((2, 2, 2)), 1.0)), "chromatic")
    >>> plan.sites.tolist(), class_ptr.tolist(), kmax
    ([0, 3, 1, 2], [0, 2, 4], 2)
    """
    key = ("gibbs_sweep", schedule)
    hit = compiled.cache.get(key)
    if hit is not None and hit[0] is compiled.clamped:
        return hit[1]
    w = compiled.wiring
    g = gibbs_plan(compiled)
    if schedule == "chromatic":
        class_ptr, sites = colour_classes(compiled)
    else:
        sites = np.flatnonzero(compiled.clamped < 0).astype(np.int64)
        class_ptr = np.array([0, len(sites)], dtype=np.int64)
    k = w.var_states[sites]
    fptr = np.concatenate([[0], np.cumsum(k)]).astype(np.int64)
    pptr, pidx = _gather_ranges(g.pair_ptr, sites)
    hptr, hidx = _gather_ranges(g.high_ptr, sites)
    pair_nb = g.pair_nb[pidx]
    src = g.pair_off[pidx]
    binary = len(sites) > 0 and bool((k == 2).all()) and not len(hidx) and bool((w.var_states[pair_nb] == 2).all())
    if binary:
        # one pair of differences per distinct table copy: a shared table stays in L1
        uo, inv = np.unique(src, return_inverse=True)
        doff = 2 * inv.ravel()
    else:
        uo, doff = np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
    plan = _k.SweepPlan(
        sites=_frozen(sites, np.int32), fptr=_frozen(fptr, np.int64), pptr=_frozen(pptr, np.int32),
        pair_nb=_frozen(pair_nb, np.int32),
        pair_off=_frozen(src, np.int64), hptr=hptr, high_edges=_frozen(g.high_edges[hidx], np.int64),
        factor_edge_ptr=w.factor_edge_ptr, edge_var=w.edge_var, edge_factor=w.edge_factor,
        edge_stride=w.edge_stride, factor_block=w.factor_block, block_ptr=w.block_ptr,
        pair_doff=_frozen(doff, np.int32),
    )
    out = (plan, _frozen(class_ptr, np.int64), int(max(2, k.max(initial=2))), _frozen(uo, np.int64))
    compiled.cache[key] = (compiled.clamped, out)
    return out


def sweep_values(compiled, schedule):
    """``(plan, class_ptr, kmax, tables, sfield, d, delta, mode)``: :func:`sweep_plan` and the values it reads.

    ``tables`` is ``wiring.tables``; ``sfield`` is :func:`field` in position
    order; ``mode`` is ``kernels.gibbs.BINARY`` (the binary fast path) or ``GENERIC``. The fast path
    (every free site binary, pairwise factors only, every field
    and table entry they read finite) reads ``d = field_1 - field_0`` per
    position and ``delta``, the differences ``T(x = 1 | y) - T(x = 0 | y)`` of each
    distinct pairwise table copy. Cached for the last (tables,
    evidence) seen.
    """
    key = ("gibbs_values", schedule)
    plan, class_ptr, kmax, rows = sweep_plan(compiled, schedule)
    w = compiled.wiring
    hit = compiled.cache.get(key)
    if hit is not None and hit[0] is w.tables and hit[1] is compiled.unary and hit[2] is plan:
        return hit[3]
    fld = field(compiled)
    _, idx = _gather_ranges(w.var_state_ptr, plan.sites)
    sfield = np.ascontiguousarray(fld[idx])
    binary = len(plan.pair_doff) == len(plan.pair_nb) and len(plan.sites) > 0 and bool(
        (w.var_states[plan.sites] == 2).all() and not len(plan.high_edges))
    d = delta = np.zeros(0)
    if binary:
        t = w.tables[rows[:, None] + np.arange(4)]    # (m, 4): rows of the neighbour, T(y=0, x=0), (0, 1), (1, 0), (1, 1)
        if np.isfinite(t).all() and np.isfinite(sfield).all():
            d = np.ascontiguousarray(sfield[1::2] - sfield[0::2])
            delta = np.ascontiguousarray((t[:, [1, 3]] - t[:, [0, 2]]).ravel())
        else:
            binary = False
    out = (plan, class_ptr, kmax, w.tables, sfield, d, delta, np.int64(_k.BINARY if binary else _k.GENERIC))
    compiled.cache[key] = (w.tables, compiled.unary, plan, out)
    return out


def field(compiled):
    """(S,) float64 energy of each variable state from evidence (``compiled.unary``) and one-variable factors.

    Depends on the tables: computed per call (one vectorised scatter-add).

    Examples
    --------
    >>> from factorgraph_ebm import FactorGraph, compile_graph
    >>> fg = FactorGraph()
    >>> _ = fg.add_variable("a", 3)
    >>> _ = fg.add_factor(["a"], [0.0, 1.0, np.inf]); _ = fg.add_factor(["a"], [2.0, 0.0, 0.0])
    >>> field(compile_graph(fg)).tolist()
    [2.0, 1.0, inf]
    """
    w = compiled.wiring
    out = np.array(compiled.unary, dtype=np.float64)
    arity = np.diff(w.factor_edge_ptr)
    f = np.flatnonzero(arity == 1)
    if len(f):
        v = w.edge_var[w.factor_edge_ptr[f]]
        k = w.var_states[v]
        rep = np.repeat(np.arange(len(f)), k)
        x = np.arange(int(k.sum())) - np.repeat(np.cumsum(k) - k, k)
        vals = w.tables[w.block_ptr[w.factor_block[f]][rep] + x]
        out += np.bincount(w.var_state_ptr[v][rep] + x, weights=vals, minlength=len(out))
    return out

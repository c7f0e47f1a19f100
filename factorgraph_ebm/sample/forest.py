"""Exact independent samples on forests: an inward sum-product pass, then outward sampling (FFBS on chains).

:func:`forest_draws` conditions the model on its evidence (a clamped
variable leaves the scopes of its factors, whose tables are sliced at its
state, so evidence may cut cycles), checks that what is left is a forest,
runs the tree schedule's inward pass at ``beta`` (the message code of
:mod:`factorgraph_ebm.kernels.trees`) and samples each tree from its root
outwards (:mod:`factorgraph_ebm.kernels.forest_sampling`). Every draw is an
exact, independent sample of ``P(x) ∝ exp(-beta E(x))`` given the evidence.
Work: one inward pass (sum over factors of arity x table size) per call,
then per draw the sum over pairwise factors of the child's state count
(table slice sizes for arity >= 3).
"""

import numpy as np

from ..compile.compiled import CompiledGraph, Wiring
from ..compile.lower import compile_graph, with_evidence
from ..exceptions import SamplingError, ZeroPartitionError
from ..graph.factor_graph import FactorGraph
from ..utils.lazy import lazy_module
from ..utils.validation import check_type
from .gibbs import MAX_SEED, check_beta_finite, check_count, check_seed
from .samples import Samples

_trees = lazy_module("factorgraph_ebm.kernels.trees")
_bp = lazy_module("factorgraph_ebm.kernels.bp")
_junction = lazy_module("factorgraph_ebm.kernels.junction")
_kernels = lazy_module("factorgraph_ebm.kernels.forest_sampling")
_jit = lazy_module("factorgraph_ebm.kernels._jit")

__all__ = ["forest_draws", "forest_sample"]


def _fixed_states(compiled):
    """(V,) int64 state of each variable the evidence leaves one state (-1 elsewhere); refuses a dead variable."""
    w = compiled.wiring
    allowed = np.isfinite(compiled.unary)
    starts = w.var_state_ptr[:-1]
    n_allowed = np.add.reduceat(allowed.astype(np.int64), starts)
    dead = np.flatnonzero(n_allowed == 0)
    if len(dead):
        raise ZeroPartitionError(f"zero partition: every state of variable {compiled.var_name(int(dead[0]))!r} is "
                                 f"ruled out by the evidence")
    last_allowed = np.maximum.reduceat(np.where(allowed, np.arange(len(allowed)), -1), starts)
    return np.where(n_allowed == 1, last_allowed - starts, -1).astype(np.int64)


def _scope_names(compiled, vars_):
    return ", ".join(repr(compiled.var_name(int(v))) for v in vars_)


def _conditioned(compiled, fixed):
    """The wiring with every variable of ``fixed`` (state >= 0) taken out of the scopes of its factors.

    Variable ids are kept (a fixed variable becomes isolated; its unary
    leaves it its one state). A factor that loses a variable gets a table of
    its own, sliced at the fixed states (``kernels.junction._reduce_factors``);
    a factor left with no variable is a constant, refused when +inf. Returns
    ``compiled.wiring`` itself when no factor touches a fixed variable.
    """
    w = compiled.wiring
    keep_edge = fixed[w.edge_var] < 0
    if keep_edge.all():
        return w
    n_f = compiled.n_factors
    arity = np.diff(w.factor_edge_ptr)
    kept = np.add.reduceat(keep_edge.astype(np.int64), w.factor_edge_ptr[:-1]) if n_f else np.zeros(0, np.int64)
    kept[arity == 0] = 0
    touched = kept < arity
    # factors whose every variable is fixed: constants, which must be finite
    gone = np.flatnonzero(touched & (kept == 0))
    if len(gone):
        positions = w.block_ptr[w.factor_block[gone]] + np.add.reduceat(
            (fixed[w.edge_var] * w.edge_stride)[np.isin(w.edge_factor, gone)],
            np.concatenate([[0], np.cumsum(arity[gone])[:-1]]))
        bad = gone[np.isinf(w.tables[positions])]
        if len(bad):
            f = int(bad[0])
            scope = w.edge_var[w.factor_edge_ptr[f]:w.factor_edge_ptr[f + 1]]
            raise ZeroPartitionError(f"zero partition: the evidence puts a factor over {_scope_names(compiled, scope)} "
                                     f"in a forbidden (+inf) configuration")
    # the reduced tables of the touched factors that keep a variable, C order over their free scope
    red = np.flatnonzero(touched & (kept > 0))
    sel = np.isin(w.edge_factor, red)
    sub_ptr = np.concatenate([[0], np.cumsum(arity[red])]).astype(np.int64)
    sizes = np.ones(len(red), dtype=np.int64)
    np.multiply.at(sizes, np.repeat(np.arange(len(red)), arity[red]),
                   np.where(keep_edge[sel], w.var_states[w.edge_var[sel]], 1))
    red_ptr = np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64)
    index = np.empty(int(red_ptr[-1]), dtype=np.int64)
    _junction._reduce_factors(w.var_states, fixed, sub_ptr, np.ascontiguousarray(w.edge_var[sel]),
                              np.ascontiguousarray(w.edge_stride[sel]), np.ascontiguousarray(w.factor_block[red]),
                              w.block_ptr, red_ptr, index)
    half = len(w.tables) // 2
    red_tables = w.tables[index]
    red_arity = kept[red]
    # transposed copies of the tables that became pairwise (the pairwise messages read them)
    red_t = red_tables.copy()
    for i in np.flatnonzero(red_arity == 2):
        e = w.factor_edge_ptr[red[i]] + np.flatnonzero(keep_edge[w.factor_edge_ptr[red[i]]:w.factor_edge_ptr[red[i] + 1]])
        k0, k1 = w.var_states[w.edge_var[e]]
        red_t[red_ptr[i]:red_ptr[i + 1]] = red_tables[red_ptr[i]:red_ptr[i + 1]].reshape(k0, k1).T.ravel()
    n_blocks = len(w.block_ptr) - 1
    factor_block = w.factor_block.copy()
    factor_block[red] = n_blocks + np.arange(len(red))
    block_ptr = np.concatenate([w.block_ptr, w.block_ptr[-1] + red_ptr[1:]]).astype(np.int64)
    tables = np.concatenate([w.tables[:half], red_tables, w.tables[half:], red_t])
    # the kept factors and edges, renumbered
    live = kept > 0
    factors = np.flatnonzero(live)
    edges = np.flatnonzero(keep_edge & live[w.edge_factor])
    new_arity = kept[factors]
    edge_var = w.edge_var[edges]
    var_states = w.var_states
    factor_edge_ptr = np.concatenate([[0], np.cumsum(new_arity)]).astype(np.int64)
    edge_factor = np.repeat(np.arange(len(factors), dtype=np.int64), new_arity)
    # C-order strides inside each reduced scope: product of the states of the later edges
    stride = np.ones(len(edges), dtype=np.int64)
    last = np.repeat(factor_edge_ptr[1:], new_arity)
    for j in range(1, int(new_arity.max(initial=1))):
        idx = np.flatnonzero(np.arange(len(edges)) + j < last)
        stride[idx] *= var_states[edge_var[idx + j]]
    reduced = Wiring(
        var_states=var_states,
        var_state_ptr=w.var_state_ptr,
        var_edge_ptr=np.concatenate([[0], np.cumsum(np.bincount(edge_var, minlength=len(var_states)))]).astype(
            np.int64),
        var_edges=np.argsort(edge_var, kind="stable").astype(np.int64),
        factor_edge_ptr=factor_edge_ptr,
        edge_var=np.ascontiguousarray(edge_var),
        edge_factor=edge_factor,
        edge_stride=stride,
        edge_state_ptr=np.concatenate([[0], np.cumsum(var_states[edge_var])]).astype(np.int64),
        factor_block=np.ascontiguousarray(factor_block[factors]),
        block_ptr=block_ptr,
        tables=np.ascontiguousarray(tables),
        block_potts=np.concatenate([w.block_potts, np.zeros(len(red), dtype=bool)]),
    )
    # the same array types as the compiled wiring (dtype, contiguity, read-only), so the tree-pass kernel
    # compiled for inference serves this wiring too: a second specialisation costs about 100 s to compile
    return Wiring(*(_like(new, old) for new, old in zip(reduced, w)))


def _like(new, old):
    """``new`` with the dtype and the writeability of ``old``, C-contiguous."""
    out = np.ascontiguousarray(new, dtype=old.dtype)
    if not old.flags.writeable:
        out.setflags(write=False)
    return out


def _cycle(compiled, w):
    """Variables on one cycle of the bipartite graph of ``w`` (for the error message)."""
    import networkx as nx

    g = nx.Graph()
    n_vars = len(w.var_states)
    g.add_edges_from(zip(w.edge_var.tolist(), (n_vars + w.edge_factor).tolist()))
    cycle = nx.find_cycle(g)
    return sorted({int(a) for edge in cycle for a in edge if a < n_vars})


class _Plan:
    """What the draws of one (compiled graph, beta) read: the conditioned wiring, its order, the inward messages."""

    def __init__(self, compiled, beta):
        fixed = _fixed_states(compiled)
        w = _conditioned(compiled, fixed)
        bfs = _trees._bfs_order(w)
        if not bfs[2]:
            names = _scope_names(compiled, _cycle(compiled, w))
            raise SamplingError(f"forest sampling needs the free variables to form a forest, but variables {names} "
                                f"lie on a cycle; use gibbs_sample for loopy graphs")
        order, parent_edge, _ = _trees._tree_order(w, bfs)
        etables, block_min = _bp._exp_tables(w, beta)
        m = int(w.edge_state_ptr[-1])
        f2v = np.zeros(m)
        v2f = np.zeros(m)
        belief = np.zeros(int(w.var_state_ptr[-1]))
        inward = np.zeros(len(w.factor_edge_ptr) - 1)
        with _jit.threads_for(m):
            _trees._tree_pass(w, compiled.unary, beta, etables, block_min, order, parent_edge, _trees.INWARD, True,
                              _jit.num_threads(), f2v, v2f, belief, inward)
        em = np.zeros(m)
        eroot = np.zeros(len(belief))
        with _jit.threads_for(len(belief)):
            _kernels._forest_weights(w, beta, parent_edge, v2f, belief, em, eroot)
        roots = order[(order < compiled.n_vars)]
        roots = roots[parent_edge[roots] < 0]
        dead = roots[np.maximum.reduceat(eroot, w.var_state_ptr[:-1])[roots] == 0.0] if len(roots) else roots
        if len(dead):
            raise ZeroPartitionError(f"zero partition: the evidence has probability 0 (no allowed configuration of "
                                     f"the tree of variable {compiled.var_name(int(dead[0]))!r})")
        arity = np.diff(w.factor_edge_ptr)
        sizes = np.diff(w.block_ptr)[w.factor_block]
        self.scratch = int(max(np.max(w.var_states), np.max(sizes[arity >= 3], initial=1)))
        self.prog, self.probs = _program(w, compiled.n_vars, order, parent_edge, em, eroot)
        self.wiring, self.beta, self.etables, self.v2f = w, beta, etables, v2f

    def draws(self, n_draws, seed, first_draw):
        out = np.empty((n_draws, len(self.wiring.var_states)), dtype=np.int32)
        with _jit.threads_for(n_draws * len(self.prog)):
            _kernels._forest_draws(self.wiring, self.beta, self.etables, self.prog, self.probs, self.v2f,
                                   np.uint64(seed), np.uint64(first_draw), _jit.num_threads(), out, self.scratch)
        return out


def _program(w, n_vars, order, parent_edge, em, eroot):
    """The sampling program of :func:`kernels.forest_sampling._draw_range` and the probabilities it reads.

    One row per node of ``order`` that draws something (roots, factors with a
    child), in that order; ``probs`` holds, contiguous in step order, each
    root's belief probabilities and each pairwise child's message
    probabilities, so a draw reads both arrays front to back.
    """
    fs = _kernels
    arity = np.diff(w.factor_edge_ptr)
    steps = order[np.concatenate([parent_edge[:n_vars] < 0, arity >= 2])[order]]
    prog = np.zeros((len(steps), 8), dtype=np.int64)
    prog[:, fs.SITE] = steps
    root = steps < n_vars
    f = np.where(root, 0, steps - n_vars)
    pair = ~root & (arity[f] == 2) if len(arity) else np.zeros(len(steps), dtype=bool)
    general = ~root & ~pair
    v = steps[root]
    prog[root, fs.KIND] = fs.ROOT
    prog[root, fs.CHILD] = v
    prog[root, fs.K] = w.var_states[v]
    pe = parent_edge[steps[~root]]
    prog[~root, fs.PARENT] = w.edge_var[pe]
    fp = f[pair]
    pe_pair = parent_edge[steps[pair]]
    e0 = w.factor_edge_ptr[fp]
    ec = 2 * e0 + 1 - pe_pair
    child = w.edge_var[ec]
    prog[pair, fs.KIND] = fs.PAIR
    prog[pair, fs.CHILD] = child
    prog[pair, fs.K] = w.var_states[child]
    prog[pair, fs.BASE] = w.block_ptr[w.factor_block[fp]] + np.where(pe_pair == e0, 0, len(w.tables) // 2)
    prog[pair, fs.AUX] = w.edge_state_ptr[ec]
    prog[general, fs.KIND] = fs.GENERAL
    prog[general, fs.AUX] = parent_edge[steps[general]]
    # probabilities in step order: roots' beliefs (eroot) and pairwise children's messages (em)
    lengths = prog[:, fs.K]
    starts = np.concatenate([[0], np.cumsum(lengths)[:-1]]).astype(np.int64)
    prog[:, fs.M] = starts
    src = np.zeros(len(steps), dtype=np.int64)
    src[root] = w.var_state_ptr[v]
    src[pair] = prog[pair, fs.AUX]
    idx = np.repeat(src - starts, lengths) + np.arange(int(lengths.sum()))
    which = np.repeat(root, lengths)
    probs = np.empty(len(idx))
    probs[which] = eroot[idx[which]]
    probs[~which] = em[idx[~which]]
    return prog, probs


def forest_draws(compiled, n_draws, *, beta=1.0, seed=0, first_draw=0):
    """``n_draws`` exact independent samples of a model whose free variables form a forest.

    Parameters
    ----------
    compiled : CompiledGraph
        With its evidence (clamped variables hold their state in every draw).
    n_draws : int >= 0
    beta : float, finite and > 0
        Inverse temperature: draws follow ``P(x) ∝ exp(-beta E(x))`` given the evidence.
    seed : int in [0, 2^63)
    first_draw : int >= 0
        Draw ``d`` of the call uses the random numbers of draw ``first_draw + d``
        (``kernels.rng._sweep_key(seed, first_draw + d, 0)``): two calls with
        ``first_draw`` 0 and n continue one stream, whatever the thread count.

    Returns
    -------
    ndarray (n_draws, n_vars) int32
        States in the compiled variable order.

    Raises
    ------
    SamplingError
        A bad argument, or the free variables do not form a forest (the
        message names variables on a cycle).
    ZeroPartitionError
        The evidence has probability 0.

    Examples
    --------
    >>> import numpy as np
    >>> from factorgraph_ebm import FactorGraph, compile_graph
    >>> fg = FactorGraph()
    >>> x = fg.add_variables("x", shape=3, states=2)
    >>> _ = fg.add_factor_group(np.stack([x.ids[:-1], x.ids[1:]], 1), [[0.0, np.inf], [np.inf, 0.0]])
    >>> draws = forest_draws(compile_graph(fg, evidence={("x", 0): 1}), 4, seed=0)
    >>> draws.tolist()      # x1 = x2 = x0 is forced
    [[1, 1, 1], [1, 1, 1], [1, 1, 1], [1, 1, 1]]
    """
    check_type(compiled, CompiledGraph, "forest_draws: compiled", "a CompiledGraph (from compile_graph)")
    n_draws = check_count(n_draws, "n_draws", 0)
    first_draw = check_count(first_draw, "first_draw", 0)
    if first_draw > MAX_SEED:
        raise SamplingError(f"first_draw must be < 2^63, got {first_draw}")
    beta = check_beta_finite(beta)
    seed = check_seed(seed)
    return _Plan(compiled, beta).draws(n_draws, seed, first_draw)


def forest_sample(graph, evidence=None, *, beta=1.0, n_draws=1000, seed=None, parameters=None):
    """Exact independent samples of a model whose free variables form a forest (FFBS on chains).

    One inward sum-product pass at ``beta`` (the tree schedule of
    :func:`~factorgraph_ebm.infer`), then each draw samples every tree from
    its root outwards: each root from its belief, the other variables of each
    factor jointly from their conditional given the factor's already-drawn
    variable. No burn-in, no autocorrelation: the draws are independent and
    follow ``P(x | evidence) ∝ exp(-beta E(x))`` exactly. Evidence may cut
    cycles: only the graph of the free variables (clamped ones leave their
    factors' scopes) must be a forest. Factors of any arity.

    Parameters
    ----------
    graph : FactorGraph, sequence of FactorGraph (a batch) or CompiledGraph
    evidence : dict or array, optional
        Clamped states (see ``resolve_evidence``); they hold their state in every draw.
    beta : float, finite and > 0
    n_draws : int >= 1
    seed : int in [0, 2^63), numpy Generator or None
        Same seed, same draws, whatever the thread count (None: a fresh seed,
        kept in ``samples.seed``).
    parameters : mapping, optional
        Values of the parameters of parameterized energies (FactorGraph only).

    Returns
    -------
    Samples
        ``n_chains = 1``, ``method = "forest-ffbs"``, ``n_sweeps = n_draws``
        (one pass per draw).

    Raises
    ------
    SamplingError
        A bad argument, or the free variables do not form a forest (the
        message names variables on a cycle; use :func:`gibbs_sample`).
    ZeroPartitionError
        The evidence has probability 0.

    Examples
    --------
    >>> import numpy as np
    >>> from factorgraph_ebm import FactorGraph, forest_sample, infer
    >>> fg = FactorGraph()
    >>> x = fg.add_variables("x", shape=4, states=2)
    >>> _ = fg.add_factor_group(np.stack([x.ids[:-1], x.ids[1:]], 1), [[0.0, 1.0], [1.0, 0.0]])
    >>> s = forest_sample(fg, {("x", 0): 1}, n_draws=20000, seed=0)
    >>> s.of("x").shape, s.method
    ((1, 20000, 4), 'forest-ffbs')
    >>> exact = infer(fg, {("x", 0): 1}).marginal("x")
    >>> bool(np.abs(s.marginal("x") - exact).max() < 0.02)
    True
    """
    n_draws = check_count(n_draws, "n_draws", 1)
    beta = check_beta_finite(beta)
    seed = check_seed(seed)
    if isinstance(graph, CompiledGraph):
        if parameters is not None:
            raise SamplingError("parameters apply at compile time; use with_parameters(compiled, parameters)")
        compiled = graph if evidence is None else with_evidence(graph, evidence)
    elif isinstance(graph, (FactorGraph, list, tuple)):
        compiled = compile_graph(graph, evidence=evidence, parameters=parameters)
    else:
        raise SamplingError(f"forest_sample expects a FactorGraph or a CompiledGraph, got {type(graph).__name__}")
    states = _Plan(compiled, beta).draws(n_draws, seed, 0)[None]
    return Samples(states, compiled, beta, seed, "forest-ffbs", n_draws, np.ascontiguousarray(states[:, -1]))

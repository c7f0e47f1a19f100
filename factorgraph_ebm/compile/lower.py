"""Lower declared factor graphs plus evidence to a :class:`CompiledGraph`.

Structure is lowered with vectorized NumPy per declaration (never per factor),
so a 1000 x 1000 grid declared as factor groups compiles in seconds. Tables
shared by a group are stored once (one *block*); ``with_parameters`` refreshes
parameterized tables without touching the structure.
"""

import numbers
from collections.abc import Mapping
from dataclasses import replace as _replace

import numpy as np

from ..exceptions import DeclarationError, DeclarationTypeError, EvidenceError, FactorGraphError
from ..graph.energies import resolve_table
from ..graph.factor_graph import FactorGraph
from .compiled import CompiledGraph, Wiring
from .linear import linear_plan

__all__ = ["compile_graph", "resolve_evidence", "with_parameters", "with_evidence", "with_clamped"]


def _frozen(arr, dtype):
    arr = np.ascontiguousarray(arr, dtype=dtype)
    arr.setflags(write=False)
    return arr


def _bad_state(graph, name, state, states):
    return EvidenceError(f"evidence for variable {name!r}: state {state!r} out of range [0, {states})")


def _not_a_state(name, value, states):
    shown = value.item() if isinstance(value, np.generic) else value
    return EvidenceError(
        f"evidence for variable {name!r} must be an integer state in [0, {states}), "
        f"got {shown!r} ({type(value).__name__})"
    )


def _int_states(value, what, shape, rule="-1 = free", alternative=""):
    """``value`` as an int array of ``shape``, or an EvidenceError naming ``what``."""
    try:
        arr = None if isinstance(value, (str, bytes)) else np.asarray(value)
    except (TypeError, ValueError):
        arr = None
    if isinstance(value, (str, bytes)):
        got = f"the {type(value).__name__} {value!r}"
    elif arr is None or arr.dtype == object:
        got = f"a ragged or non-numeric {type(value).__name__}"
    elif arr.shape != shape or not np.issubdtype(arr.dtype, np.integer):
        got = f"{arr.dtype} array of shape {arr.shape}"
    else:
        return arr
    raise EvidenceError(f"{what} must be {alternative}an int array of shape {shape} ({rule}), got {got}")


def resolve_evidence(graph, evidence):
    """Evidence as a flat int64 array of clamped states (-1 = free).

    ``evidence`` maps a variable name to a state, an array name to an int array
    of the array's shape (-1 = free), or is a flat int array of length
    ``graph.n_vars`` (-1 = free). ``None`` clamps nothing.

    States are integers: Python ints and NumPy integer scalars (or integer
    arrays). Floats are refused even when integral (``1.0``), as are bools,
    strings and NaN; the error names the variable and the accepted range.

    Examples
    --------
    >>> fg = FactorGraph()
    >>> _ = fg.add_variable("a", 2)
    >>> x = fg.add_variables("x", shape=3, states=4)
    >>> resolve_evidence(fg, {"a": 1, "x": [-1, 3, 0]})
    array([ 1, -1,  3,  0])
    >>> resolve_evidence(fg, {"a": 1.5})
    Traceback (most recent call last):
        ...
    factorgraph_ebm.exceptions.EvidenceError: evidence for variable 'a' must be an integer state in [0, 2), got 1.5 (float)
    """
    clamped = np.full(graph.n_vars, -1, dtype=np.int64)
    if evidence is None:
        return clamped
    states = graph.var_states
    if not isinstance(evidence, dict):
        arr = _int_states(evidence, "evidence", (graph.n_vars,), alternative="a dict or ")
        bad = (arr < -1) | (arr >= states)
        if bad.any():
            v = int(np.argmax(bad))
            raise _bad_state(graph, graph.variable_name(v), int(arr[v]), int(states[v]))
        return arr.astype(np.int64)
    for name, value in evidence.items():
        block = None
        if not isinstance(name, tuple):
            try:
                block = graph.variable_block(name)
            except FactorGraphError:
                raise EvidenceError(f"evidence names unknown variable {name!r}") from None
        if block is not None and not block.is_scalar:
            flat = _int_states(value, f"evidence for variable array {name!r}", block.shape,
                                f"states in [0, {block.states}), -1 = free").ravel()
            bad = (flat < -1) | (flat >= block.states)
            if bad.any():
                i = int(np.argmax(bad))
                raise _bad_state(graph, block.element_name(i), int(flat[i]), block.states)
            clamped[block.start:block.start + block.size] = flat
            continue
        try:
            v = graph.variable_id(name)
        except FactorGraphError:
            raise EvidenceError(f"evidence names unknown variable {name!r}") from None
        if isinstance(value, np.ndarray) and value.ndim == 0 and np.issubdtype(value.dtype, np.integer):
            value = value[()]
        if isinstance(value, bool) or not isinstance(value, numbers.Integral):
            raise _not_a_state(name, value, int(states[v]))
        if not 0 <= value < states[v]:
            raise _bad_state(graph, name, int(value), int(states[v]))
        clamped[v] = int(value)
    return clamped


def _per_graph(graphs, evidence):
    """One evidence per graph: a batch takes a sequence of them; a single graph takes one.

    A list or tuple of ints for a single graph is its flat state array, not a batch.
    """
    n = len(graphs)
    if isinstance(evidence, (list, tuple)) or (n > 1 and isinstance(evidence, np.ndarray) and evidence.ndim):
        if n == 1 and evidence and all(
            isinstance(e, numbers.Integral) and not isinstance(e, bool) for e in evidence
        ):
            return [evidence]
        if len(evidence) != n:
            raise EvidenceError(
                f"{len(evidence)} evidence entries for {n} graphs (a sequence of evidence holds one "
                "entry per graph; for a single graph pass a dict or a flat int array)"
            )
        return list(evidence)
    if n == 1 or evidence is None:
        return [evidence] * n
    raise EvidenceError(
        f"evidence for a batch of {n} graphs must be a list or tuple with one evidence (dict, array or None) "
        f"per graph, got {type(evidence).__name__}"
    )


def _check_parameters(parameters):
    if parameters is not None and not isinstance(parameters, Mapping):
        raise DeclarationTypeError(
            f"parameters must be a mapping name -> array (a dict or Parameters), got {type(parameters).__name__}"
        )


def _check_compiled(compiled, func):
    if not isinstance(compiled, CompiledGraph):
        hint = "; use compile_graph(graph, ...) first" if isinstance(compiled, FactorGraph) else ""
        raise DeclarationTypeError(
            f"{func} expects a CompiledGraph (from compile_graph), got {type(compiled).__name__}{hint}"
        )


def _unary_from(clamped, var_states, var_state_ptr):
    unary = np.zeros(int(var_state_ptr[-1]))
    on = np.flatnonzero(clamped >= 0)
    if len(on):
        # rule out every state of a clamped variable, then re-open the clamped one
        counts = var_states[on]
        starts = np.repeat(var_state_ptr[on], counts)
        offs = np.arange(counts.sum()) - np.repeat(np.cumsum(counts) - counts, counts)
        unary[starts + offs] = np.inf
        unary[var_state_ptr[on] + clamped[on]] = 0.0
    return unary


def _strides(states):
    out = np.ones(len(states), dtype=np.int64)
    for j in range(len(states) - 2, -1, -1):
        out[j] = out[j + 1] * states[j + 1]
    return out


def _spec_tables(spec, parameters):
    owner = f"{'factor group' if spec.is_group else 'factor'} {spec.name!r}"
    return resolve_table(spec.energy, parameters, spec.n_factors, spec.states, owner)


#: Fewest states at which a Potts table takes the O(K) message: below, the K x K loops (four minima in
#: registers, vectorised dot products) are faster than its branchy two-smallest scan (100 x 100 grid,
#: K = 8, one thread: min-sum 2.1 ms per iteration through the table, 2.8 ms through the Potts path).
POTTS_MIN_STATES = 16


def potts_blocks(w, min_states=POTTS_MIN_STATES):
    """Which table blocks are Potts tables: ``(B,) bool`` for :attr:`Wiring.block_potts`.

    A block qualifies when pairwise factors with the same state count K >=
    ``min_states`` at both ends use it and its K x K table is ``d + g [x_i != x_j]``: one
    finite diagonal value ``d``, one off-diagonal value ``d + g`` with
    ``g >= 0`` (``g = +inf`` forces agreement). The kernels then send its
    messages in O(K) (``min(m_j, g + min_{i != j} m_i)`` and its
    sum-product form) instead of O(K^2). Found from the table values (one
    vectorised test per state count), so it holds for ``potts_grid``, for a
    shared Potts table declared by hand and for model files alike, and is
    recomputed whenever the tables change (``with_parameters``).

    Examples
    --------
    >>> import numpy as np
    >>> from factorgraph_ebm.models import potts_grid
    >>> potts_blocks(compile_graph(potts_grid(np.zeros((2, 2, 16)), 0.5)).wiring).tolist()   # 4 unary, 2 pairwise
    [False, False, False, False, True, True]
    >>> bool(potts_blocks(compile_graph(potts_grid(np.zeros((2, 2, 3)), 0.5)).wiring).any())   # few states: the table
    False
    """
    flags = np.zeros(len(w.block_ptr) - 1, dtype=bool)
    arity = np.diff(w.factor_edge_ptr)
    pair = np.flatnonzero(arity == 2)
    if not len(pair):
        return flags
    e0 = w.factor_edge_ptr[pair]
    k0 = w.var_states[w.edge_var[e0]]
    square = (k0 == w.var_states[w.edge_var[e0 + 1]]) & (k0 >= max(2, min_states))
    blocks, first = np.unique(w.factor_block[pair[square]], return_index=True)
    states = k0[square][first]
    for k in np.unique(states):
        b = blocks[states == k]
        tab = w.tables[w.block_ptr[b][:, None] + np.arange(k * k)].reshape(-1, k, k)
        d = tab[:, 0, 0]
        off = tab[:, 0, 1]
        eye = np.eye(k, dtype=bool)
        same_diag = np.all(np.where(eye, tab == d[:, None, None], True), axis=(1, 2))
        same_off = np.all(np.where(eye, True, tab == off[:, None, None]), axis=(1, 2))
        flags[b] = same_diag & same_off & np.isfinite(d) & (off >= d)
    return flags


def compile_graph(graph, evidence=None, parameters=None, memory_budget=None):
    """Lower a :class:`FactorGraph` (or a list of them, as one batch) to flat arrays.

    Parameters
    ----------
    graph : FactorGraph or sequence of FactorGraph
        A batch compiles into one disjoint block, so one kernel call serves it.
    evidence : dict, array, or sequence of them (one per graph), optional
        Clamped states; see :func:`resolve_evidence`. Any subset of variables,
        whatever their role.
    parameters : mapping, optional
        Values of the parameters of parameterized energies.
    memory_budget : float or str, optional
        Bytes compiling may allocate (default
        :func:`~factorgraph_ebm.inference.elimination.default_memory_budget`,
        the budget of exact inference); the prediction of
        :func:`~factorgraph_ebm.inference.memory.compile_memory` is checked
        before allocating.

    Returns
    -------
    CompiledGraph

    Raises
    ------
    MemoryBudgetError
        The compiled arrays would exceed ``memory_budget``.

    Examples
    --------
    >>> fg = FactorGraph()
    >>> x = fg.add_variables("x", shape=4, states=3)
    >>> _ = fg.add_factor_group(np.stack([x.ids[:-1], x.ids[1:]], 1), np.zeros((3, 3)))
    >>> cg = compile_graph(fg, evidence={"x": [0, -1, -1, 2]})
    >>> cg.n_vars, cg.n_factors, cg.n_edges, len(cg.wiring.tables)
    (4, 3, 6, 18)
    """
    expects = "compile_graph expects a FactorGraph or a non-empty sequence of them"
    if isinstance(graph, FactorGraph):
        graphs = [graph]
    elif hasattr(graph, "__iter__") and not isinstance(graph, (str, bytes, dict)):
        graphs = list(graph)
    else:
        raise DeclarationTypeError(f"{expects}, got {type(graph).__name__}")
    if not graphs:
        raise DeclarationTypeError(f"{expects}, got an empty {type(graph).__name__}")
    wrong = [i for i, g in enumerate(graphs) if not isinstance(g, FactorGraph)]
    if wrong:
        raise DeclarationTypeError(f"{expects}; item {wrong[0]} is a {type(graphs[wrong[0]]).__name__}")
    _check_parameters(parameters)
    evidences = _per_graph(graphs, evidence)
    for gi, g in enumerate(graphs):
        if g.n_vars == 0:
            raise DeclarationError(f"graph {gi} is empty: declare at least one variable")
    from ..inference.memory import check_compile_memory  # inference imports compile: import here

    check_compile_memory(graphs, memory_budget)

    graph_var_ptr = np.concatenate([[0], np.cumsum([g.n_vars for g in graphs])]).astype(np.int64)
    clamped = np.concatenate([resolve_evidence(g, ev) for g, ev in zip(graphs, evidences)])
    var_states = np.concatenate([g.var_states for g in graphs])

    edge_var, edge_stride, arity, factor_block, tables, tables_t, block_sizes = [], [], [], [], [], [], []
    slots, graph_factor_ptr = [], [0]
    shared_block = {}   # (energy object, states) -> block of its one shared table, reused by later graphs
    n_factors = n_blocks = 0
    for gi, g in enumerate(graphs):
        for spec in g.factor_specs:
            n, a = spec.scopes.shape
            edge_var.append((spec.scopes + graph_var_ptr[gi]).ravel())
            edge_stride.append(np.tile(_strides(spec.states), n))
            arity.append(np.full(n, a, dtype=np.int64))
            key = (id(spec.energy), spec.states)
            if key in shared_block:
                # The same energy object gives the same single table: every graph of the batch
                # points at one block (one transition matrix for a batch of sentences).
                factor_block.append(np.full(n, shared_block[key], dtype=np.int64))
                slots.append((gi, spec, n_factors, shared_block[key]))
                n_factors += n
                continue
            tab = _spec_tables(spec, parameters)
            m = tab.shape[0]
            if m == 1:
                shared_block[key] = n_blocks
            factor_block.append(n_blocks + (np.arange(n, dtype=np.int64) if m > 1 else np.zeros(n, dtype=np.int64)))
            tables.append(tab.ravel())
            tables_t.append((tab.transpose(0, 2, 1) if a == 2 else tab).ravel())
            block_sizes.append(np.full(m, tab[0].size, dtype=np.int64))
            slots.append((gi, spec, n_factors, n_blocks))
            n_factors += n
            n_blocks += m
        graph_factor_ptr.append(n_factors)

    def cat(parts, dtype):
        return np.concatenate(parts).astype(dtype) if parts else np.zeros(0, dtype=dtype)

    edge_var = cat(edge_var, np.int64)
    arity = cat(arity, np.int64)
    factor_edge_ptr = np.concatenate([[0], np.cumsum(arity)]).astype(np.int64)
    edge_factor = np.repeat(np.arange(n_factors, dtype=np.int64), arity)
    var_state_ptr = np.concatenate([[0], np.cumsum(var_states)]).astype(np.int64)
    edge_state_ptr = np.concatenate([[0], np.cumsum(var_states[edge_var])]).astype(np.int64)
    var_edges = np.argsort(edge_var, kind="stable").astype(np.int64)
    var_edge_ptr = np.concatenate([[0], np.cumsum(np.bincount(edge_var, minlength=len(var_states)))]).astype(np.int64)
    block_ptr = np.concatenate([[0], np.cumsum(cat(block_sizes, np.int64))]).astype(np.int64)

    wiring = Wiring(
        var_states=_frozen(var_states, np.int64),
        var_state_ptr=_frozen(var_state_ptr, np.int64),
        var_edge_ptr=_frozen(var_edge_ptr, np.int64),
        var_edges=_frozen(var_edges, np.int64),
        factor_edge_ptr=_frozen(factor_edge_ptr, np.int64),
        edge_var=_frozen(edge_var, np.int64),
        edge_factor=_frozen(edge_factor, np.int64),
        edge_stride=_frozen(cat(edge_stride, np.int64), np.int64),
        edge_state_ptr=_frozen(edge_state_ptr, np.int64),
        factor_block=_frozen(cat(factor_block, np.int64), np.int64),
        block_ptr=_frozen(block_ptr, np.int64),
        tables=_frozen(np.concatenate([cat(tables, np.float64), cat(tables_t, np.float64)]), np.float64),
        block_potts=np.zeros(0, dtype=bool),
    )
    wiring = wiring._replace(block_potts=_frozen(potts_blocks(wiring), bool))
    return CompiledGraph(
        wiring=wiring,
        unary=_frozen(_unary_from(clamped, var_states, var_state_ptr), np.float64),
        clamped=_frozen(clamped, np.int64),
        graphs=tuple(graphs),
        graph_var_ptr=_frozen(graph_var_ptr, np.int64),
        graph_factor_ptr=_frozen(np.asarray(graph_factor_ptr), np.int64),
        spec_slots=tuple(slots),
        parameters=parameters,
    )


def with_evidence(compiled, evidence):
    """Same structure and tables, new evidence (no recompilation).

    Examples
    --------
    >>> fg = FactorGraph()
    >>> _ = fg.add_variable("a", 2)
    >>> cg = with_evidence(compile_graph(fg), {"a": 1})
    >>> cg.clamped
    array([1])
    """
    _check_compiled(compiled, "with_evidence")
    graphs = compiled.graphs
    evidence = _per_graph(graphs, evidence)
    clamped = np.concatenate([resolve_evidence(g, ev) for g, ev in zip(graphs, evidence)])
    w = compiled.wiring
    return _replace(
        compiled,
        unary=_frozen(_unary_from(clamped, w.var_states, w.var_state_ptr), np.float64),
        clamped=_frozen(clamped, np.int64),
    )


def with_clamped(compiled, clamped, unary_offset=None):
    """Same structure and tables; evidence as one flat state array over the whole batch.

    The fast path for training loops, which hold evidence as flat arrays.

    Parameters
    ----------
    compiled : CompiledGraph
    clamped : array of int, shape (n_vars,)
        State of every variable of the batch, -1 where free.
    unary_offset : array of float, shape (sum of variable states,), optional
        Extra energy per variable state (indexed by ``wiring.var_state_ptr``),
        added to the evidence terms: ``+inf`` forbids a state, a finite value
        shifts it (loss-augmented inference). Not part of ``energy()``.

    Examples
    --------
    >>> fg = FactorGraph()
    >>> _ = fg.add_variable("a", 3)
    >>> cg = with_clamped(compile_graph(fg), np.array([-1]), np.array([np.inf, 0.0, -1.0]))
    >>> cg.unary
    array([inf,  0., -1.])
    """
    _check_compiled(compiled, "with_clamped")
    w = compiled.wiring
    clamped = _int_states(clamped, "clamped states", (compiled.n_vars,))
    bad = (clamped < -1) | (clamped >= w.var_states)
    if bad.any():
        v = int(np.argmax(bad))
        raise _bad_state(None, compiled.var_name(v), int(clamped[v]), int(w.var_states[v]))
    unary = _unary_from(clamped, w.var_states, w.var_state_ptr)
    if unary_offset is not None:
        offset = np.asarray(unary_offset, dtype=np.float64)
        if offset.shape != unary.shape:
            raise EvidenceError(f"unary_offset must have shape {unary.shape}, got {offset.shape}")
        if np.isnan(offset).any() or np.isneginf(offset).any():
            raise EvidenceError("unary_offset must hold no NaN and no -inf")
        unary = unary + offset
    return _replace(compiled, unary=_frozen(unary, np.float64), clamped=_frozen(clamped, np.int64))


def with_parameters(compiled, parameters):
    """Refresh the tables of parameterized energies without recompiling the structure.

    Only declarations whose energy depends on parameters are re-evaluated; the
    result shares every structure array with ``compiled``. Every LinearEnergy
    naming the same parameter is evaluated at once, as one product of its
    stacked features with W (see :mod:`.linear`).
    """
    _check_compiled(compiled, "with_parameters")
    _check_parameters(parameters)
    parameters = {} if parameters is None else parameters    # energies that need one say so
    w = compiled.wiring
    plan = linear_plan(compiled)
    if not plan.groups and not plan.generic_slots:
        return _replace(compiled, parameters=parameters)
    tables = np.array(w.tables)
    values = [plan.group_values(group, parameters) for group in plan.groups]
    if any(v is None for v in values):  # let the per-declaration path report the problem
        slots = [s for s in compiled.spec_slots if s[1].energy.parameter_names]
    else:
        for group, v in zip(plan.groups, values):
            tables[group.dest] = v
        tables[plan.mirror_dst] = tables[plan.mirror_src]
        slots = plan.generic_slots
    for _, spec, _, first_block in slots:
        _refresh_slot(tables, w.block_ptr, spec, first_block, parameters)
    return _replace(
        compiled,
        wiring=_with_tables(w, tables),
        parameters=parameters,
    )


def _with_tables(w, tables):
    """``w`` with new table values (same layout), and the Potts flags that go with them."""
    w = w._replace(tables=_frozen(tables, np.float64))
    return w._replace(block_potts=_frozen(potts_blocks(w), bool))


def _refresh_slot(tables, block_ptr, spec, first_block, parameters):
    """Evaluate one declaration's energy into both halves of ``tables`` (validated)."""
    half = len(tables) // 2
    tab = _spec_tables(spec, parameters)
    start = block_ptr[first_block]
    end_block = first_block + tab.shape[0]
    if end_block >= len(block_ptr) or block_ptr[end_block] - start != tab.size:
        raise DeclarationError(
            f"factor {spec.name!r}: parameters changed the table layout (shared vs per-factor); recompile"
        )
    tables[start:start + tab.size] = tab.ravel()
    tables[half + start:half + start + tab.size] = (tab.transpose(0, 2, 1) if spec.arity == 2 else tab).ravel()

"""MAP decoding on loopy graphs (inference/decoding.py) against brute force and the spanning-tree decode.

What is guaranteed, and checked here, for ``decode_map`` (the decode
``infer(..., method="bp", beta=np.inf)`` returns on loopy graphs), per graph:

* its energy is <= the spanning-tree decode's whenever that one assigns every
  variable (ordered lexicographically: number of +inf factors, then finite sum);
* it is finite whenever any candidate (tree, tree + search, conditioned,
  conditioned + search) is finite, in particular whenever the old decode was;
* it never takes a state the evidence rules out;
* it is a local minimum for single-variable changes (checked by brute force
  over every single flip).
Optimality is not guaranteed; brute force only bounds it from below.
"""

import itertools
import warnings

import networkx as nx
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from factorgraph_ebm import ConvergenceWarning, FactorGraph, InferenceError, ZeroPartitionError, compile_graph, infer
from factorgraph_ebm.inference import bp as bp_module
from factorgraph_ebm.inference.decoding import (
    _repaired, block_search, conditioned_decode, decode_candidates, decode_map, induced_forests, lexicographic_energies,
    local_search,
)
from factorgraph_ebm.inference.result import check_zero_partition
from factorgraph_ebm.kernels import trees as tree_kernels
from random_models import random_evidence, random_graph


def _tie_graph(rng, n_vars, n_factors, inf_prob):
    """Loopy graph with integer energies in {0, 1, 2} (many ties) and +inf entries."""
    fg = FactorGraph()
    states = rng.integers(1, 4, size=n_vars)
    for v in range(n_vars):
        fg.add_variable(f"v{v}", int(states[v]))
    for _ in range(n_factors):
        arity = int(rng.integers(1, min(3, n_vars) + 1))
        scope = rng.choice(n_vars, size=arity, replace=False)
        table = rng.integers(0, 3, size=tuple(int(states[u]) for u in scope)).astype(float)
        table[rng.random(table.shape) < inf_prob] = np.inf
        fg.add_factor([f"v{u}" for u in scope], table)
    return fg


def _messages(compiled):
    """Final min-sum messages of flooding loopy BP (as ``infer(schedule="flood")`` runs it) and the tree decode."""
    order = tree_kernels._bfs_order(compiled.wiring)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        msgs = bp_module._run(compiled, np.inf, "flood", "auto", 1e-9, 100, order)[0]
    check_zero_partition(compiled, msgs.belief)     # as infer does: raises ZeroPartitionError
    return msgs, tree_kernels._decode(compiled.wiring, msgs.belief, msgs.v2f, order[0], order[1])


def _lex(compiled, states):
    n_inf, finite = lexicographic_energies(compiled, states)
    return int(n_inf[0]), float(finite[0])


def _lex_le(a, b, tol=1e-9):
    return a[0] < b[0] or (a[0] == b[0] and a[1] <= b[1] + tol * max(1.0, abs(b[1])))


def _allowed(compiled, v):
    ptr = compiled.wiring.var_state_ptr
    return np.flatnonzero(np.isfinite(compiled.unary[ptr[v]:ptr[v + 1]]))


def _assert_single_flip_minimum(compiled, states):
    """No single variable change to a state the evidence allows lowers (n_inf, finite energy)."""
    here = _lex(compiled, states)
    for v in range(compiled.n_vars):
        for x in _allowed(compiled, v):
            if x == states[v]:
                continue
            flipped = states.copy()
            flipped[v] = x
            assert _lex_le(here, _lex(compiled, flipped)), (v, x)


def _assert_evidence(compiled, states):
    clamped = compiled.clamped >= 0
    np.testing.assert_array_equal(states[clamped], compiled.clamped[clamped])


@given(seed=st.integers(0, 2**32 - 1), n_vars=st.integers(2, 7), ties=st.booleans(),
       inf_prob=st.sampled_from([0.0, 0.2, 0.4]), ev_prob=st.sampled_from([0.0, 0.3]))
def test_decode_never_worse_than_tree_and_local_minimum(seed, n_vars, ties, inf_prob, ev_prob):
    rng = np.random.default_rng(seed)
    n_factors = int(rng.integers(n_vars, 3 * n_vars + 1))
    fg = (_tie_graph(rng, n_vars, n_factors, inf_prob) if ties
          else random_graph(rng, n_vars, n_factors, inf_prob=inf_prob))
    ev = random_evidence(rng, fg, ev_prob)
    try:
        exact = infer(fg, ev, method="enumerate", beta=np.inf)
    except ZeroPartitionError:
        exact = None
    compiled = compile_graph(fg, evidence=ev)
    try:
        msgs, tree = _messages(compiled)
    except ZeroPartitionError:
        return
    cands = decode_candidates(compiled, msgs.f2v, tree)
    new = cands["best"]
    np.testing.assert_array_equal(new, decode_map(compiled, msgs.f2v, tree))
    e_new = _lex(compiled, new)
    if (tree >= 0).all():
        assert _lex_le(e_new, _lex(compiled, tree))
        np.testing.assert_array_equal(cands["tree"], tree)
    if any(_lex(compiled, c)[0] == 0 for c in cands.values()):
        assert e_new[0] == 0
    for c in cands.values():
        _assert_evidence(compiled, c)
    for name in ("tree+search", "conditioned+search", "best"):
        _assert_single_flip_minimum(compiled, cands[name])
    for name in ("tree", "conditioned"):
        assert _lex_le(_lex(compiled, cands[name + "+search"]), _lex(compiled, cands[name]))
    if exact is not None and e_new[0] == 0:
        assert e_new[1] >= exact.map_energy - 1e-9
    if exact is None:
        assert e_new[0] > 0


@given(seed=st.integers(0, 2**32 - 1), inf_prob=st.sampled_from([0.0, 0.3]), ev_prob=st.sampled_from([0.0, 0.3]))
def test_infer_reports_the_new_decode_on_loopy_graphs(seed, inf_prob, ev_prob):
    rng = np.random.default_rng(seed)
    fg = _tie_graph(rng, 5, 10, inf_prob)
    ev = random_evidence(rng, fg, ev_prob)
    compiled = compile_graph(fg, evidence=ev)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            res = infer(compiled, method="bp", schedule="flood", beta=np.inf, max_iter=100)
        msgs, tree = _messages(compiled)
    except ZeroPartitionError:
        return
    if res.method != "loopy-bp":
        return
    np.testing.assert_array_equal(res.map_state, decode_map(compiled, msgs.f2v, tree))
    assert res.map_energy == compiled.energy(res.map_state)
    assert res.map_energy == res.free_energy
    _assert_evidence(compiled, res.map_state)


def test_batch_decodes_each_graph_independently():
    rng = np.random.default_rng(11)
    graphs, evid = [], []
    while len(graphs) < 4:                    # graphs on which loopy BP leaves every variable a state
        fg = _tie_graph(rng, 6, 12, 0.3)
        ev = random_evidence(rng, fg, 0.3)
        try:
            _messages(compile_graph(fg, evidence=ev))
        except ZeroPartitionError:
            continue
        graphs.append(fg)
        evid.append(ev)
    batch = compile_graph(graphs, evid)
    msgs, tree = _messages(batch)
    new = decode_map(batch, msgs.f2v, tree)
    w = batch.wiring
    for g, (fg, ev) in enumerate(zip(graphs, evid)):
        single = compile_graph(fg, evidence=ev)
        v0, v1 = batch.graph_var_ptr[g], batch.graph_var_ptr[g + 1]
        f0, f1 = batch.graph_factor_ptr[g], batch.graph_factor_ptr[g + 1]
        m0, m1 = w.edge_state_ptr[w.factor_edge_ptr[f0]], w.edge_state_ptr[w.factor_edge_ptr[f1]]
        assert m1 - m0 == single.n_messages
        alone = decode_map(single, msgs.f2v[m0:m1], tree[v0:v1])
        np.testing.assert_array_equal(new[v0:v1], alone)
    res = infer(batch, method="bp", beta=np.inf, max_iter=100)
    assert res.map_energy.shape == (4,)
    np.testing.assert_array_equal(res.map_energy, batch.graph_energies(res.map_state))


def _triangle():
    """Frustrated triangle where a BFS spanning tree decode misses the loop-closing factor."""
    fg = FactorGraph()
    for name in "abc":
        fg.add_variable(name, 2)
    fg.add_factor(["a", "b"], [[0.0, 1.0], [1.0, 0.0]])
    fg.add_factor(["b", "c"], [[0.0, 1.0], [1.0, 0.0]])
    fg.add_factor(["a", "c"], [[np.inf, 0.0], [0.0, 1.0]])
    return fg


def test_decode_is_finite_on_a_frustrated_triangle():
    res = infer(_triangle(), method="bp", beta=np.inf)
    exact = infer(_triangle(), method="enumerate", beta=np.inf)
    assert res.method == "loopy-bp"
    assert res.map_energy == exact.map_energy == 1.0


def test_conditioning_follows_evidence_through_a_forbidding_factor():
    fg = FactorGraph()
    _ = fg.add_variable("a", 3), fg.add_variable("b", 3), fg.add_variable("c", 3)
    eq = np.where(np.eye(3) > 0, 0.0, np.inf)
    fg.add_factor(["a", "b"], eq)
    fg.add_factor(["b", "c"], eq)
    fg.add_factor(["a", "c"], eq)
    cg = compile_graph(fg, evidence={"c": 2})
    np.testing.assert_array_equal(conditioned_decode(cg, np.zeros(cg.n_messages)), [2, 2, 2])


def test_block_moves_escape_a_single_flip_minimum():
    fg = FactorGraph()
    fg.add_variable("a", 2)
    fg.add_variable("b", 2)
    fg.add_factor(["a", "b"], [[0.0, 3.0], [3.0, -1.0]])
    cg = compile_graph(fg)
    np.testing.assert_array_equal(local_search(cg, [0, 0], block_work=0), [0, 0])
    np.testing.assert_array_equal(local_search(cg, [0, 0]), [1, 1])
    np.testing.assert_array_equal(local_search(cg, [-1, 1]), [1, 1])     # unassigned: first state, then search


def test_starts_that_break_the_evidence_or_the_ranges_are_repaired_first():
    fg = FactorGraph()
    fg.add_variable("a", 3)
    fg.add_variable("b", 2)
    fg.add_factor(["a", "b"], np.zeros((3, 2)))
    cg = compile_graph(fg, evidence={"a": 2})
    np.testing.assert_array_equal(local_search(cg, [0, 5]), [2, 0])    # a to its evidence, b into range
    np.testing.assert_array_equal(local_search(cg, [-1, 1]), [2, 1])


def test_local_search_leaves_infeasible_starts_with_fewer_violations():
    fg = FactorGraph()
    for name in "abcd":
        fg.add_variable(name, 2)
    neq = [[np.inf, 0.0], [0.0, np.inf]]
    for u, v in ("ab", "bc", "cd", "da"):
        fg.add_factor([u, v], neq)
    cg = compile_graph(fg, evidence={"a": 0})
    out = local_search(cg, [0, 0, 0, 0])
    assert cg.energy(out) == 0.0
    np.testing.assert_array_equal(out, [0, 1, 0, 1])


def test_bad_message_array_names_the_argument():
    cg = compile_graph(_triangle())
    with pytest.raises(InferenceError, match="msg_f2v: expected shape"):
        conditioned_decode(cg, np.zeros(3))
    with pytest.raises(InferenceError, match="states: expected shape"):
        local_search(cg, [0, 0])


def _assert_block_structure(compiled, member):
    """The factors with every variable in the block form a forest; each other factor has <= 1 variable inside."""
    w = compiled.wiring
    inside_count = np.bincount(w.edge_factor, weights=member[w.edge_var], minlength=compiled.n_factors)
    arity = np.diff(w.factor_edge_ptr)
    assert np.all((inside_count <= 1) | ((arity == 2) & (inside_count == 2)))
    g = nx.Graph()
    g.add_nodes_from(("v", int(v)) for v in np.flatnonzero(member))
    for f in np.flatnonzero((arity == 2) & (inside_count == 2)):
        for e in range(w.factor_edge_ptr[f], w.factor_edge_ptr[f + 1]):
            g.add_edge(("f", int(f)), ("v", int(w.edge_var[e])))
    assert nx.is_forest(g)


@given(seed=st.integers(0, 2**32 - 1), n_vars=st.integers(2, 6), inf_prob=st.sampled_from([0.0, 0.3]),
       ev_prob=st.sampled_from([0.0, 0.3]))
def test_block_search_leaves_every_block_at_its_exact_optimum(seed, n_vars, inf_prob, ev_prob):
    """Brute force over each block's variables, the rest fixed: nothing beats block_search's answer."""
    rng = np.random.default_rng(seed)
    fg = random_graph(rng, n_vars, int(rng.integers(n_vars, 3 * n_vars + 1)), inf_prob=inf_prob)
    compiled = compile_graph(fg, evidence=random_evidence(rng, fg, ev_prob))
    start = np.array([rng.integers(s) for s in compiled.wiring.var_states])
    out = block_search(compiled, start)
    _assert_evidence(compiled, out)
    assert _lex_le(_lex(compiled, out), _lex(compiled, _repaired(compiled, start)))
    blocks = induced_forests(compiled)
    assert blocks
    here = _lex(compiled, out)
    for member in blocks:
        _assert_block_structure(compiled, member)
        if here[0]:         # infeasible: min-sum does not count +inf factors, no optimum promised
            continue
        free = np.flatnonzero(member)
        for states in itertools.product(*(_allowed(compiled, v) for v in free)):
            other = out.copy()
            other[free] = states
            assert _lex_le(here, _lex(compiled, other)), (free, states)


def test_block_search_never_raises_the_energy_and_solves_a_tree():
    rng = np.random.default_rng(3)
    fg = FactorGraph()
    x = fg.add_variables("x", shape=12, states=3)
    fg.add_factor_group(np.stack([x.ids[:-1], x.ids[1:]], 1), rng.uniform(-1, 1, (11, 3, 3)))
    fg.add_factor_group(x.ids.reshape(-1, 1), rng.uniform(-1, 1, (12, 3)))
    compiled = compile_graph(fg)
    exact = infer(fg, method="enumerate", beta=np.inf)
    for _ in range(5):
        start = rng.integers(3, size=12)
        out = block_search(compiled, start)
        assert _lex(compiled, out)[1] == pytest.approx(exact.map_energy, abs=1e-12)
    grid = compile_graph(random_graph(rng, 30, 80, inf_prob=0.0))
    for _ in range(5):
        start = np.array([rng.integers(s) for s in grid.wiring.var_states])
        assert _lex_le(_lex(grid, block_search(grid, start)), _lex(grid, start))

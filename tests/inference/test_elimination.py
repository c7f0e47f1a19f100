"""Elimination orders and the memory-budgeted junction tree against brute force."""

import itertools
import pickle

import networkx as nx
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from factorgraph_ebm import ConvergenceWarning, FactorGraph, InferenceError, ZeroPartitionError, compile_graph, infer
from factorgraph_ebm.inference import HEURISTICS, default_memory_budget, elimination_order, exact_cost
from factorgraph_ebm.inference.elimination import MEMORY_BUDGET_ENV
from random_models import potts_grid, random_evidence, random_graph


def _grid_scopes(n):
    ids = np.arange(n * n).reshape(n, n)
    return np.concatenate([np.stack([ids[:, :-1].ravel(), ids[:, 1:].ravel()], 1),
                           np.stack([ids[:-1].ravel(), ids[1:].ravel()], 1)])


def _check_order(n_states, scopes, eo):
    """Each clique is its variable and that variable's neighbours in the graph left when it is eliminated."""
    g = nx.Graph()
    g.add_nodes_from(range(len(n_states)))
    for s in scopes:
        g.add_edges_from(itertools.combinations(s, 2))
    assert sorted(eo.order.tolist()) == list(range(len(n_states)))
    total, largest = 0.0, 0.0
    for i, v in enumerate(eo.order.tolist()):
        clique = eo.clique_vars[eo.clique_ptr[i]:eo.clique_ptr[i + 1]].tolist()
        assert clique[0] == v and set(clique[1:]) == set(g[v])
        size = float(np.prod([n_states[u] for u in clique]))
        total, largest = total + size, max(largest, size)
        g.add_edges_from(itertools.combinations(clique[1:], 2))
        g.remove_node(v)
    assert eo.total_entries == pytest.approx(total) and eo.largest_entries == pytest.approx(largest)
    assert eo.width == max(eo.clique_ptr[1:] - eo.clique_ptr[:-1]) - 1


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), heuristic=st.sampled_from(HEURISTICS))
def test_orders_are_valid_elimination_orders(seed, heuristic):
    rng = np.random.default_rng(seed)
    n = int(rng.integers(1, 30))
    states = rng.integers(1, 5, size=n).tolist()
    scopes = [rng.choice(n, size=int(rng.integers(1, min(n, 4) + 1)), replace=False).tolist()
              for _ in range(int(rng.integers(0, 2 * n)))]
    eo = elimination_order(states, scopes, heuristic=heuristic, random_state=seed % 7)
    assert eo.complete and (heuristic == "auto" or eo.heuristic == heuristic)
    _check_order(states, scopes, eo)
    again = elimination_order(states, scopes, heuristic=heuristic, random_state=seed % 7)
    np.testing.assert_array_equal(eo.order, again.order)   # seeded: deterministic


def test_widths_on_known_graphs():
    tree = nx.random_labeled_tree(200, seed=1) if hasattr(nx, "random_labeled_tree") else nx.random_tree(200, seed=1)
    assert elimination_order([3] * 200, list(tree.edges())).width == 1
    for k in (5, 10, 20):
        eo = elimination_order([2] * (k * k), _grid_scopes(k))
        assert k <= eo.width <= 1.5 * k          # treewidth of the k x k grid is k
    assert elimination_order([2] * 6, [list(range(6))]).width == 5
    assert elimination_order([], []).width == -1


def test_max_entries_stops_the_search_early():
    eo = elimination_order([2] * 900, _grid_scopes(30), max_entries=1e6)
    assert not eo.complete and len(eo.order) < 900 and eo.total_entries > 1e6


def test_bad_arguments_name_themselves():
    with pytest.raises(InferenceError, match="heuristic"):
        elimination_order([2, 2], [(0, 1)], heuristic="min-width")
    with pytest.raises(InferenceError, match="outside"):
        elimination_order([2, 2], [(0, 2)])


def _safe(fg, ev, beta, **kw):
    try:
        return infer(fg, ev, beta=beta, **kw)
    except ZeroPartitionError:
        return None


@settings(max_examples=60, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), n_vars=st.integers(1, 7), beta=st.sampled_from([0.3, 1.0, np.inf]),
       inf_prob=st.sampled_from([0.0, 0.2, 0.5]), ev_prob=st.sampled_from([0.0, 0.4]))
def test_exact_equals_brute_force(seed, n_vars, beta, inf_prob, ev_prob):
    rng = np.random.default_rng(seed)
    fg = random_graph(rng, n_vars, n_factors=int(rng.integers(1, 3 * n_vars + 1)), max_arity=4, inf_prob=inf_prob)
    ev = random_evidence(rng, fg, ev_prob)
    ref, res = _safe(fg, ev, beta, method="enumerate"), _safe(fg, ev, beta, method="exact")
    assert (ref is None) == (res is None)
    if ref is None:
        return
    assert res.method == "junction-tree"
    np.testing.assert_allclose(res.free_energy, ref.free_energy, rtol=1e-9, atol=1e-9)
    np.testing.assert_allclose(res.marginal_array, ref.marginal_array, atol=1e-9)
    np.testing.assert_allclose(res.factor_marginal_array(), ref.factor_marginal_array(), atol=1e-9)
    best = infer(fg, ev, beta=np.inf, method="enumerate").map_energy
    assert res.map_energy == pytest.approx(best, abs=1e-9)     # MAP on demand at finite beta too
    assert np.all(np.isfinite(res.marginal_array))


def test_batch_has_one_tree_per_graph():
    rng = np.random.default_rng(5)
    graphs = [random_graph(rng, 6, 10, inf_prob=0.2) for _ in range(4)]
    for beta in (0.7, np.inf):
        refs = [_safe(g, None, beta, method="enumerate") for g in graphs]
        keep = [g for g, r in zip(graphs, refs) if r is not None]
        refs = [r for r in refs if r is not None]
        batch = infer(keep, method="exact", beta=beta)
        for g, ref in enumerate(refs):
            assert batch.free_energies[g] == pytest.approx(ref.free_energy, abs=1e-9)
            for block in keep[g].variable_blocks:
                np.testing.assert_allclose(batch.marginal(block.name, graph=g), ref.marginal(block.name), atol=1e-9)
        offset = batch.compiled.factor_entry_ptr
        first = batch.compiled.graph_factor_ptr
        for g, ref in enumerate(refs):
            got = batch.factor_marginal_array()[offset[first[g]]:offset[first[g + 1]]]
            np.testing.assert_allclose(got, ref.factor_marginal_array(), atol=1e-9)
        if beta == np.inf:
            np.testing.assert_allclose(batch.map_energy, [r.map_energy for r in refs], atol=1e-9)


def test_zero_partition_raises():
    fg = FactorGraph()
    fg.add_variable("a", 2)
    fg.add_variable("b", 2)
    fg.add_variable("c", 2)
    fg.add_factor(["a", "b"], [[0.0, np.inf], [np.inf, 0.0]])      # a == b
    fg.add_factor(["b", "c"], [[0.0, np.inf], [np.inf, 0.0]])      # b == c
    fg.add_factor(["a", "c"], [[np.inf, 0.0], [0.0, np.inf]])      # a != c
    for beta in (1.0, np.inf):
        with pytest.raises(ZeroPartitionError, match="zero partition"):
            infer(fg, beta=beta, method="exact")
    with pytest.raises(ZeroPartitionError):
        infer(fg, {"a": 0}, method="exact")


def test_budget_refuses_fast_and_says_what_to_change(monkeypatch):
    fg = potts_grid(6, 3, 0.5, np.random.default_rng(0))
    cg = compile_graph(fg)
    cost = exact_cost(cg)
    assert cost.feasible and cost.width >= 6 and cost.bytes == 8 * cost.entries
    small = exact_cost(cg, memory_budget=cost.bytes / 2)
    assert not small.feasible and "memory_budget=" in small.reason and "method='bp'" in small.reason
    with pytest.raises(InferenceError, match="memory_budget=.*method='bp'"):
        infer(cg, method="exact", memory_budget=cost.bytes / 2)
    monkeypatch.setenv(MEMORY_BUDGET_ENV, "8K")  # the marginals (108 states) fit, the cliques do not
    assert default_memory_budget() == 8192
    with pytest.raises(InferenceError, match="elimination width"):
        infer(cg, method="exact")
    monkeypatch.setenv(MEMORY_BUDGET_ENV, "lots")
    with pytest.raises(InferenceError, match=MEMORY_BUDGET_ENV):
        default_memory_budget()


def test_dense_model_is_refused_without_building_anything():
    rng = np.random.default_rng(0)
    fg = FactorGraph()
    x = fg.add_variables("x", shape=120, states=2)
    pairs = np.array(list(itertools.combinations(range(120), 2)))
    fg.add_factor_group(x.ids[pairs], rng.normal(size=(len(pairs), 2, 2)))
    cost = exact_cost(compile_graph(fg))
    assert not cost.feasible and not cost.complete and cost.entries > 1e9
    with pytest.warns(ConvergenceWarning):
        res = infer(fg, max_iter=5)
    assert res.method == "loopy-bp" and "bp: exact would need more than" in res.reason


def test_results_pickle_and_compute_marginals_on_demand():
    fg = potts_grid(3, 3, 0.4, np.random.default_rng(2))
    res = infer(fg, method="exact", beta=1.0)
    back = pickle.loads(pickle.dumps(res))
    ref = infer(fg, method="enumerate", beta=1.0)
    np.testing.assert_allclose(back.marginal_array, ref.marginal_array, atol=1e-10)
    np.testing.assert_allclose(res.factor_marginal_array(), ref.factor_marginal_array(), atol=1e-10)
    assert res.map_energy == pytest.approx(infer(fg, method="enumerate", beta=np.inf).map_energy)

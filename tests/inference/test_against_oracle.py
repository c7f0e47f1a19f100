"""BP and the junction tree against brute-force enumeration."""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from factorgraph_ebm import ZeroPartitionError, compile_graph, infer
from random_models import random_evidence, random_forest, random_graph

BETAS = [0.3, 1.0, 2.5, np.inf]


def _run(fg, evidence, beta, **kw):
    try:
        return infer(fg, evidence, beta=beta, **kw)
    except ZeroPartitionError:
        return None


def assert_same(res, ref, tol=1e-9):
    """Marginals, factor marginals, free energy and MAP energy agree."""
    assert (res is None) == (ref is None)
    if ref is None:
        return
    np.testing.assert_allclose(res.marginal_array, ref.marginal_array, atol=tol, rtol=0)
    np.testing.assert_allclose(res.free_energy, ref.free_energy, atol=tol, rtol=tol)
    for spec in ref.compiled.graphs[0].factor_specs:
        np.testing.assert_allclose(res.factor_marginal(spec.name), ref.factor_marginal(spec.name), atol=tol, rtol=0)
    if ref.beta == np.inf:
        assert res.map_energy == pytest.approx(ref.map_energy, abs=tol)
        assert res.map_energy == pytest.approx(res.free_energy, abs=tol)


@given(seed=st.integers(0, 2**32 - 1), n_vars=st.integers(1, 7), beta=st.sampled_from(BETAS),
       inf_prob=st.sampled_from([0.0, 0.15, 0.4]), ev_prob=st.sampled_from([0.0, 0.3]))
def test_bp_on_forests_equals_brute_force(seed, n_vars, beta, inf_prob, ev_prob):
    rng = np.random.default_rng(seed)
    fg = random_forest(rng, n_vars, inf_prob=inf_prob)
    ev = random_evidence(rng, fg, ev_prob)
    ref = _run(fg, ev, beta, method="enumerate")
    tree = _run(fg, ev, beta, method="bp", schedule="tree")
    flood = _run(fg, ev, beta, method="bp", schedule="flood", tol=0.0, max_iter=4 * n_vars + 4)
    auto = _run(fg, ev, beta)
    assert_same(tree, ref)
    assert_same(flood, ref)
    assert_same(auto, ref)
    if ref is not None:
        assert tree.method == auto.method == "tree-bp"
        # the MAP assignment (also at finite beta, computed on demand) reaches the minimum energy
        exact_map = _run(fg, ev, np.inf, method="enumerate")
        assert tree.map_energy == pytest.approx(exact_map.map_energy, abs=1e-9)


@given(seed=st.integers(0, 2**32 - 1), n_vars=st.integers(1, 6), beta=st.sampled_from(BETAS),
       inf_prob=st.sampled_from([0.0, 0.2]), ev_prob=st.sampled_from([0.0, 0.3]))
def test_junction_tree_equals_brute_force_on_loopy_graphs(seed, n_vars, beta, inf_prob, ev_prob):
    rng = np.random.default_rng(seed)
    fg = random_graph(rng, n_vars, n_factors=int(rng.integers(1, 3 * n_vars + 1)), inf_prob=inf_prob)
    ev = random_evidence(rng, fg, ev_prob)
    ref = _run(fg, ev, beta, method="enumerate")
    jt = _run(fg, ev, beta, method="exact")
    assert_same(jt, ref)
    if ref is not None:
        assert jt.method == "junction-tree"


def test_junction_tree_on_a_batch_matches_each_graph():
    rng = np.random.default_rng(3)
    graphs = [random_graph(rng, 5, 8, inf_prob=0.0) for _ in range(3)]
    batch = infer(graphs, method="exact", beta=1.3)
    for g, fg in enumerate(graphs):
        single = infer(fg, method="enumerate", beta=1.3)
        assert batch.free_energies[g] == pytest.approx(single.free_energy, abs=1e-9)
        for block in fg.variable_blocks:
            np.testing.assert_allclose(batch.marginal(block.name, graph=g), single.marginal(block.name), atol=1e-9)


def test_batch_bp_matches_each_graph():
    rng = np.random.default_rng(4)
    graphs = [random_forest(rng, 6, inf_prob=0.0) for _ in range(4)]
    evid = [random_evidence(rng, fg, 0.3) for fg in graphs]
    batch = infer(graphs, evid, method="bp", beta=0.7)
    cg = compile_graph(graphs, evid)
    assert cg.n_graphs == 4
    for g, (fg, ev) in enumerate(zip(graphs, evid)):
        single = infer(fg, ev, method="enumerate", beta=0.7)
        assert batch.free_energies[g] == pytest.approx(single.free_energy, abs=1e-9)
        for block in fg.variable_blocks:
            np.testing.assert_allclose(batch.marginal(block.name, graph=g), single.marginal(block.name), atol=1e-9)

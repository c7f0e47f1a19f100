"""Shapes of real models that break naive engines: each answers correctly or raises an error naming the cause.

Zero partition functions (with and without evidence), variables no factor
touches, factors with a single entry, 60-state variables, and a dense model of
62,500 factors on 500 variables (the UAI ``relational`` family).
"""

import warnings

import numpy as np
import pytest

from factorgraph_ebm import FactorGraph, compile_graph, infer
from factorgraph_ebm.exceptions import ConvergenceWarning, InferenceError, ZeroPartitionError
from factorgraph_ebm.inference.elimination import exact_cost

EXACT_METHODS = ("auto", "exact", "enumerate")


def _cycle(n, states, table):
    fg = FactorGraph()
    for v in range(n):
        fg.add_variable(v, states)
    for v in range(n):
        fg.add_factor([v, (v + 1) % n], table)
    return fg


@pytest.mark.parametrize("beta", [1.0, np.inf])
@pytest.mark.parametrize("method", EXACT_METHODS)
def test_zero_partition_is_reported_by_every_exact_method(method, beta):
    differ = np.array([[np.inf, 0.0], [0.0, np.inf]])
    odd = _cycle(3, 2, differ)                       # a 2-colouring of a triangle: none exists
    with pytest.raises(ZeroPartitionError, match="zero partition"):
        infer(odd, method=method, beta=beta)
    even = _cycle(4, 2, differ)                      # exists, but not with both ends of an edge clamped equal
    assert infer(even, method=method, beta=beta).free_energy == pytest.approx(
        0.0 if beta == np.inf else -np.log(2.0))
    with pytest.raises(ZeroPartitionError, match="zero partition"):
        infer(even, {0: 1, 1: 1}, method=method, beta=beta)


def test_variables_no_factor_touches_count_every_state():
    rng = np.random.default_rng(0)
    fg = FactorGraph()
    for v in "abcd":
        fg.add_variable(v, 3)
    fg.add_variable("lonely", 5)
    for s in ["ab", "bc", "ca", "cd"]:
        fg.add_factor(list(s), rng.uniform(0, 2, (3, 3)))
    oracle = infer(fg, method="enumerate")
    for method in ("auto", "exact"):
        res = infer(fg, method=method)
        assert res.log_partition == pytest.approx(oracle.log_partition, abs=1e-10)
        np.testing.assert_allclose(res.marginal("lonely"), np.full(5, 0.2), atol=1e-12)
        np.testing.assert_allclose(res.marginal_array, oracle.marginal_array, atol=1e-10)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        np.testing.assert_allclose(infer(fg, method="bp").marginal("lonely"), np.full(5, 0.2), atol=1e-9)


def test_single_entry_factors_and_one_state_variables():
    fg = FactorGraph()
    fg.add_variable("a", 1)
    fg.add_variable("b", 1)
    fg.add_variable("c", 2)
    fg.add_factor(["a", "b"], [[0.5]])
    fg.add_factor(["a"], [1.0])
    fg.add_factor(["b", "c"], [[0.0, 1.0]])
    fg.add_factor(["c", "a"], [[0.3], [0.2]])
    fg.add_factor(["c", "b"], [[0.1], [np.inf]])
    oracle = infer(fg, method="enumerate")
    for method in ("auto", "exact", "bp"):
        for beta in (1.0, np.inf):
            res = infer(fg, method=method, beta=beta)
            ref = oracle if beta == 1.0 else infer(fg, method="enumerate", beta=np.inf)
            assert res.free_energy == pytest.approx(ref.free_energy, abs=1e-10), (method, beta)
            np.testing.assert_allclose(res.marginal_array, ref.marginal_array, atol=1e-10)


def test_sixty_state_cycle_matches_numpy_brute_force():
    rng = np.random.default_rng(1)
    tables = [rng.uniform(0, 3, (60, 60)) for _ in range(4)]
    fg = FactorGraph()
    for v in range(4):
        fg.add_variable(v, 60)
    for v in range(4):
        fg.add_factor([v, (v + 1) % 4], tables[v])
    w = [np.exp(-t) for t in tables]
    z = np.einsum("ab,bc,cd,da->", *w)                 # 60^4 joint states
    p0 = np.einsum("ab,bc,cd,da->a", *w) / z
    res = infer(fg, method="auto")
    assert res.method == "junction-tree"
    assert res.log_partition == pytest.approx(np.log(z), rel=1e-12)
    np.testing.assert_allclose(res.marginal(0), p0, atol=1e-12)
    energy = tables[0][:, :, None, None] + tables[1][None, :, :, None] + tables[2][None, None, :, :] \
        + tables[3].T[:, None, None, :]
    assert infer(fg, method="exact", beta=np.inf).map_energy == pytest.approx(energy.min(), abs=1e-12)


def test_dense_relational_shape_answers_with_bp_and_refuses_exact_fast():
    rng = np.random.default_rng(2)
    n = 500
    fg = FactorGraph()
    x = fg.add_variables("x", shape=n, states=2)
    pairs = np.stack(np.triu_indices(n, 1), 1)
    pairs = pairs[rng.choice(len(pairs), size=62_500, replace=False)]
    couplings = rng.uniform(-0.05, 0.05, size=len(pairs))
    tables = np.stack([np.zeros_like(couplings), couplings, couplings, np.zeros_like(couplings)], 1).reshape(-1, 2, 2)
    fg.add_factor_group(x.ids[pairs], tables)
    assert fg.n_factors == 62_500
    cost = exact_cost(compile_graph(fg))
    assert not cost.feasible and not cost.complete and "memory_budget" in cost.reason
    with pytest.raises(InferenceError, match="memory_budget"):
        infer(fg, method="exact")
    res = infer(fg, method="auto")
    assert res.method == "loopy-bp" and res.converged and res.reason.startswith("bp: ")
    assert np.isfinite(res.log_partition) and np.all(np.isfinite(res.marginal_array))

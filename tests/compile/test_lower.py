"""Compilation: equivalent declarations, evidence, batches, parameter refresh."""

import numpy as np
import pytest

from factorgraph_ebm import FactorGraph, LinearEnergy, compile_graph, infer, with_evidence, with_parameters


def chain_individual(T, K, table):
    fg = FactorGraph()
    x = fg.add_variables("x", shape=T, states=K)
    for t in range(T - 1):
        fg.add_factor([x[t], x[t + 1]], table)
    return fg


def chain_group(T, K, table, per_factor=False):
    fg = FactorGraph()
    x = fg.add_variables("x", shape=T, states=K)
    tab = np.broadcast_to(table, (T - 1, K, K)) if per_factor else table
    fg.add_factor_group(np.stack([x.ids[:-1], x.ids[1:]], 1), tab)
    return fg


def test_equivalent_declarations_give_identical_structure_and_answers():
    rng = np.random.default_rng(0)
    table = rng.normal(size=(3, 3))
    a = compile_graph(chain_individual(6, 3, table))
    b = compile_graph(chain_group(6, 3, table))
    c = compile_graph(chain_group(6, 3, table, per_factor=True))
    for field in ["var_states", "var_edge_ptr", "var_edges", "factor_edge_ptr", "edge_var", "edge_stride",
                  "edge_state_ptr"]:
        assert np.array_equal(getattr(a.wiring, field), getattr(b.wiring, field))
        assert np.array_equal(getattr(a.wiring, field), getattr(c.wiring, field))
    assert len(b.wiring.tables) == 2 * 9  # shared table stored once (plus its transposed copy)
    ra, rb, rc = (infer(cg, beta=1.0) for cg in (a, b, c))
    np.testing.assert_allclose(ra.marginal_array, rb.marginal_array, atol=1e-14)
    np.testing.assert_allclose(ra.marginal_array, rc.marginal_array, atol=1e-14)


def test_compiled_arrays_are_read_only_and_typed():
    cg = compile_graph(chain_group(5, 2, np.zeros((2, 2))))
    for name, arr in cg.wiring._asdict().items():
        assert not arr.flags.writeable, name
        assert arr.dtype == {"tables": np.float64, "block_potts": np.bool_}.get(name, np.int64), name
    assert cg.pairwise_work() == 4 * 2 * 4


def test_evidence_clamps_any_role_and_can_be_swapped_without_recompiling():
    fg = FactorGraph()
    fg.add_variable("x", 2, role="observed")
    fg.add_variable("z", 3, role="latent")
    fg.add_factor(["x", "z"], np.arange(6.0).reshape(2, 3))
    cg = compile_graph(fg, evidence={"z": 2})
    assert cg.clamped.tolist() == [-1, 2]
    assert infer(cg, beta=1.0).marginal("z").tolist() == [0.0, 0.0, 1.0]
    cg2 = with_evidence(cg, {"x": 1})
    assert cg2.wiring is cg.wiring
    np.testing.assert_allclose(infer(cg2, beta=1.0).marginal("x"), [0.0, 1.0])


def test_with_parameters_equals_recompiling():
    fg = FactorGraph()
    x = fg.add_variables("x", shape=5, states=3)
    fg.add_factor_group(np.stack([x.ids[:-1], x.ids[1:]], 1), LinearEnergy("trans"))
    feats = np.random.default_rng(1).normal(size=(5, 3, 4))
    fg.add_factor_group(x.ids[:, None], LinearEnergy("emit", features=feats))
    rng = np.random.default_rng(2)
    p1 = {"trans": rng.normal(size=(3, 3)), "emit": rng.normal(size=4)}
    p2 = {"trans": rng.normal(size=(3, 3)), "emit": rng.normal(size=4)}
    cg = compile_graph(fg, parameters=p1)
    refreshed = with_parameters(cg, p2)
    fresh = compile_graph(fg, parameters=p2)
    assert refreshed.wiring.edge_var is cg.wiring.edge_var
    np.testing.assert_array_equal(refreshed.wiring.tables, fresh.wiring.tables)
    assert infer(refreshed).free_energy == pytest.approx(infer(fresh).free_energy, abs=1e-13)


def test_batch_is_one_disjoint_block():
    graphs = [chain_group(t, 2, np.eye(2)) for t in (3, 5, 2)]
    cg = compile_graph(graphs, [{"x": np.array([1, -1, -1])}, None, None])
    assert cg.n_graphs == 3 and cg.n_vars == 10 and cg.n_factors == 2 + 4 + 1
    assert cg.graph_var_ptr.tolist() == [0, 3, 8, 10]
    assert cg.clamped[:3].tolist() == [1, -1, -1]
    # no edge crosses graphs
    g_of_var = np.searchsorted(cg.graph_var_ptr, np.arange(10), side="right") - 1
    g_of_factor = np.searchsorted(cg.graph_factor_ptr, cg.wiring.edge_factor, side="right") - 1
    assert np.array_equal(g_of_var[cg.wiring.edge_var], g_of_factor)

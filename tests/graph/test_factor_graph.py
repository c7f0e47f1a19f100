"""Declaration: networkx structure, names, bulk declaration."""

import networkx as nx
import numpy as np
import pytest

from factorgraph_ebm import FactorGraph, LinearEnergy, Parameters, TableEnergy


def test_graph_is_a_bipartite_networkx_graph_with_attributes():
    fg = FactorGraph()
    fg.add_variable("y", 3, role="output")
    fg.add_variable("z", 2, role="latent")
    fg.add_factor(["y", "z"], np.zeros((3, 2)), name="yz")
    g = fg.graph
    assert isinstance(g, nx.Graph) and nx.is_bipartite(g)
    assert g.nodes["y"] == {"kind": "variable", "states": 3, "role": "output", "shape": ()}
    assert g.nodes["yz"]["kind"] == "factor" and g.nodes["yz"]["scope"] == ("y", "z")
    assert isinstance(g.nodes["yz"]["energy"], TableEnergy)
    assert set(g.neighbors("yz")) == {"y", "z"}


def test_factor_group_is_one_node_and_expands_on_demand():
    fg = FactorGraph()
    x = fg.add_variables("x", shape=(30, 40), states=2)
    h = np.stack([x.ids[:, :-1].ravel(), x.ids[:, 1:].ravel()], axis=1)
    fg.add_factor_group(h, np.zeros((2, 2)), name="h")
    assert fg.graph.number_of_nodes() == 2 and fg.n_factors == 30 * 39
    full = fg.to_networkx()
    assert full.number_of_nodes() == 30 * 40 + 30 * 39
    assert nx.is_bipartite(full)
    assert sorted(full.neighbors(("h", 0))) == [("x", 0, 0), ("x", 0, 1)]
    assert full.nodes[("x", 2, 3)]["states"] == 2


def test_names_and_ids_round_trip():
    fg = FactorGraph()
    fg.add_variable("a", 2)
    x = fg.add_variables("x", shape=(2, 3), states=4)
    assert fg.variable_id("a") == 0
    for name in [("x", 0, 0), ("x", 1, 2), ("x", 0, 2)]:
        assert fg.variable_name(fg.variable_id(name)) == name
    assert x[1, 2] == ("x", 1, 2) and x.ids[1, 2] == fg.variable_id(("x", 1, 2))
    assert fg.var_states.tolist() == [2] + [4] * 6
    assert not x.ids.flags.writeable


def test_parameter_names_and_parameters_container():
    fg = FactorGraph()
    fg.add_variable("a", 2)
    fg.add_factor(["a"], LinearEnergy("bias"))
    fg.add_factor(["a"], LinearEnergy("w", features=np.ones((2, 3))))
    assert fg.parameter_names == ("bias", "w")
    p = Parameters(bias=[1.0, 2.0], w=np.arange(3.0))
    flat = p.flatten()
    assert flat.tolist() == [1.0, 2.0, 0.0, 1.0, 2.0]
    q = p.unflatten(flat * 2)
    assert q["w"].tolist() == [0.0, 2.0, 4.0]


def test_linear_energy_backward_matches_finite_differences():
    rng = np.random.default_rng(0)
    feats = rng.normal(size=(2, 3, 4))
    e = LinearEnergy("w", features=feats)
    w = rng.normal(size=4)
    sens = rng.normal(size=(2, 3))
    grad = e.backward(sens, {"w": w})["w"]
    eps = 1e-6
    for i in range(4):
        d = np.zeros(4)
        d[i] = eps
        fd = (np.sum(sens * e.table({"w": w + d})) - np.sum(sens * e.table({"w": w - d}))) / (2 * eps)
        assert grad[i] == pytest.approx(fd, abs=1e-8)

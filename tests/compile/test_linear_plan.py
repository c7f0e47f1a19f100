"""Refreshing tables through the stacked LinearEnergy plan equals evaluating every energy on its own."""

import numpy as np
import pytest
from scipy.sparse import csr_matrix

from ebm_models import QuadraticCoupling
from factorgraph_ebm import DeclarationError, FactorGraph, LinearEnergy, compile_graph, with_parameters
from factorgraph_ebm.compile.linear import linear_plan


def mixed_graph(rng):
    """Every LinearEnergy form (shared / per-factor, dense / sparse, W vectors and matrices) plus a custom energy."""
    fg = FactorGraph()
    y = fg.add_variables("y", shape=4, states=3)
    z = fg.add_variables("z", shape=4, states=2)
    fg.add_factor_group(y.ids[:, None], LinearEnergy("U", features=rng.normal(size=(4, 5))), name="unary")
    fg.add_factor_group(z.ids[:, None], LinearEnergy("V", features=csr_matrix(rng.normal(size=(4, 2)))), name="zu")
    fg.add_factor_group(np.stack([y.ids[:-1], y.ids[1:]], 1), LinearEnergy("T"), name="yy")
    fg.add_factor_group(np.stack([y.ids, z.ids], 1), LinearEnergy("P", features=rng.normal(size=(4, 3, 2, 6))),
                        name="yz")  # per-factor pairwise tables, W of shape (6,)
    fg.add_factor([("z", 0), ("z", 1)], LinearEnergy("S", features=rng.normal(size=(2, 2, 3))), name="zz")
    fg.add_factor_group(np.stack([z.ids[:-1], z.ids[1:]], 1), QuadraticCoupling("J", rng.normal(size=(2, 2))),
                        name="custom")
    return fg


def parameters(rng):
    return {"U": rng.normal(size=(5, 3)), "V": rng.normal(size=(2, 2)), "T": rng.normal(size=(3, 3)),
            "P": rng.normal(size=6), "S": rng.normal(size=3), "J": rng.normal(size=2)}


def test_refreshed_tables_equal_a_fresh_compile():
    rng = np.random.default_rng(0)
    graphs = [mixed_graph(rng) for _ in range(3)]
    cg = compile_graph(graphs, parameters=parameters(rng))
    plan = linear_plan(cg)
    assert {g.parameter for g in plan.groups} == {"U", "V", "T", "P", "S"}
    assert len(plan.generic_slots) == 3  # the custom energy of each graph
    for _ in range(3):
        p = parameters(rng)
        np.testing.assert_allclose(with_parameters(cg, p).wiring.tables,
                                   compile_graph(graphs, parameters=p).wiring.tables, rtol=1e-13, atol=1e-13)


def test_bad_parameters_still_get_the_per_factor_message():
    rng = np.random.default_rng(1)
    cg = compile_graph([mixed_graph(rng)], parameters=parameters(rng))
    with pytest.raises(DeclarationError, match=r"factor group 'yy': table shape \(9,\) != cardinalities"):
        with_parameters(cg, {**parameters(rng), "T": np.zeros(9)})
    with pytest.raises(DeclarationError, match="factor group 'unary'.*'U' has shape"):
        with_parameters(cg, {**parameters(rng), "U": np.zeros((4, 3))})
    with pytest.raises(DeclarationError, match="factor 'zz'.*-inf"):
        with_parameters(cg, {**parameters(rng), "S": np.array([np.inf, 0.0, 0.0])})

"""Potts tables (``d + g [x_i != x_j]``) send O(K) messages: same answers as the K x K path, and found wherever they are.

The reference is the same compiled graph with ``block_potts`` cleared (every
message through the general pairwise path) and, on small graphs, brute force.
Below ``POTTS_MIN_STATES`` the compiler leaves Potts tables to the general
path (faster there); the tests flag them anyway (``min_states=2``) so the O(K)
messages are checked at every state count.
"""

import dataclasses
import warnings

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from factorgraph_ebm import FactorGraph, LinearEnergy, belief_propagation, compile_graph, infer, with_parameters
from factorgraph_ebm.compile.lower import POTTS_MIN_STATES, potts_blocks
from factorgraph_ebm.models import chain_graph, potts_grid


def with_flags(cg, flags):
    return dataclasses.replace(cg, wiring=cg.wiring._replace(block_potts=flags))


def general_path(cg):
    """``cg`` with every Potts flag cleared: the reference K x K messages."""
    return with_flags(cg, np.zeros_like(cg.wiring.block_potts))


def potts_path(cg):
    """``cg`` with every Potts table flagged, whatever its state count."""
    return with_flags(cg, potts_blocks(cg.wiring, min_states=2))


def flood(cg, beta, iters=12):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return belief_propagation(cg, beta, schedule="flood", damping=0.0, tol=0.0, max_iter=iters)


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 2**31), k=st.integers(2, 9), gap=st.sampled_from([0.0, 0.3, 2.0, 60.0, np.inf]),
       diag=st.floats(-3.0, 3.0), beta=st.sampled_from([np.inf, 1.0, 4.0]))
def test_potts_messages_match_the_table_path(seed, k, gap, diag, beta):
    rng = np.random.default_rng(seed)
    unary = rng.uniform(0.0, 3.0, (4, 5, k))
    unary[rng.random(unary.shape) < 0.2] = np.inf      # forbidden states: +inf messages
    unary[..., 0] = np.minimum(unary[..., 0], 1.0)      # every variable keeps a state
    table = np.where(np.eye(k, dtype=bool), diag, diag + gap)
    cg = potts_path(compile_graph(potts_grid(unary, table)))
    assert cg.wiring.block_potts.sum() == 2      # the horizontal and the vertical table
    ours, ref = flood(cg, beta), flood(general_path(cg), beta)
    np.testing.assert_allclose(ours.marginal_array, ref.marginal_array, atol=1e-9)
    if np.isinf(beta):
        assert ours.map_energy == pytest.approx(ref.map_energy)
    else:
        assert ours.free_energy == pytest.approx(ref.free_energy, rel=1e-9, abs=1e-9)


@pytest.mark.parametrize("beta", [np.inf, 1.0])
def test_potts_chain_is_exact(beta):
    rng = np.random.default_rng(3)
    unary = rng.uniform(0.0, 2.0, (6, 4))
    fg = chain_graph(unary, np.where(np.eye(4, dtype=bool), 0.2, 1.1))
    cg = potts_path(compile_graph(fg))
    assert cg.wiring.block_potts.any()
    exact = infer(fg, method="enumerate", beta=beta)
    tree = infer(cg, method="bp", beta=beta)
    if np.isinf(beta):
        assert tree.map_energy == pytest.approx(exact.map_energy)
    else:
        np.testing.assert_allclose(tree.marginal_array, exact.marginal_array, atol=1e-12)
        assert tree.log_partition == pytest.approx(exact.log_partition, rel=1e-12)


@pytest.mark.parametrize("table, potts", [
    ([[0.0, 1.0, 1.0], [1.0, 0.0, 1.0], [1.0, 1.0, 0.0]], True),
    ([[2.0, np.inf], [np.inf, 2.0]], True),                         # hard agreement
    ([[0.0, 0.0], [0.0, 0.0]], True),                               # constant: g = 0
    ([[0.0, 1.0, 1.0], [1.0, 0.0, 2.0], [1.0, 1.0, 0.0]], False),   # one off-diagonal entry differs
    ([[0.0, 1.0], [1.0, 0.5]], False),                              # diagonal not constant
    ([[1.0, 0.0], [0.0, 1.0]], False),                              # g < 0 (anti-Potts)
    ([[np.inf, 1.0], [1.0, np.inf]], False),                        # diagonal forbidden
])
def test_which_tables_are_potts(table, potts):
    fg = FactorGraph()
    k = len(table)
    fg.add_variable("a", k)
    fg.add_variable("b", k)
    fg.add_factor(["a", "b"], table)
    assert potts_blocks(compile_graph(fg).wiring, min_states=2).tolist() == [potts]


def test_rectangular_and_higher_arity_tables_are_not_potts():
    fg = FactorGraph()
    fg.add_variable("a", 2)
    fg.add_variable("b", 3)
    fg.add_variable("c", 2)
    fg.add_factor(["a", "b"], np.ones((2, 3)))
    fg.add_factor(["a", "b", "c"], np.ones((2, 3, 2)))
    assert not compile_graph(fg).wiring.block_potts.any()


def test_flags_follow_new_parameters_and_need_enough_states():
    k = POTTS_MIN_STATES
    fg = FactorGraph()
    y = fg.add_variables("y", shape=3, states=k)
    fg.add_factor_group(np.stack([y.ids[:-1], y.ids[1:]], axis=1), LinearEnergy("transition"))
    # a LinearEnergy's table is minus its weights: these weights give the Potts table 0.5 [x_i != x_j]
    potts = -0.5 * (1.0 - np.eye(k))
    cg = compile_graph(fg, parameters={"transition": potts})
    assert cg.wiring.block_potts.tolist() == [True]
    off = potts.copy()
    off[2, 5] = -0.7
    assert with_parameters(cg, {"transition": off}).wiring.block_potts.tolist() == [False]
    assert with_parameters(cg, {"transition": 2.0 * potts}).wiring.block_potts.tolist() == [True]
    small = potts_grid(np.zeros((2, 2, k - 1)), 0.5)
    assert not compile_graph(small).wiring.block_potts.any()

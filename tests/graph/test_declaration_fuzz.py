"""Fuzz: whatever a declaration method is given, it succeeds or raises a FactorGraphError, and a failure changes nothing."""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from factorgraph_ebm import FactorGraph, FactorGraphError, LinearEnergy, Parameters, TableEnergy, compile_graph

JUNK = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-3, 5),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=3),
    st.lists(st.integers(-1, 4), max_size=4),
    st.lists(st.lists(st.floats(-2, 2), max_size=3), max_size=3),   # often ragged
    st.dictionaries(st.text(max_size=2), st.integers(0, 2), max_size=2),
    st.tuples(st.integers(-1, 4), st.integers(-1, 4)),
    st.sampled_from([np.zeros((2, 3)), np.zeros((2, 2)), np.array(["a", "b"]), np.array([1.5, 0.5]), object(),
                     LinearEnergy, np.int64(2), np.float64(2.0), "a", "x", ("x", 0, 1), ["a", "b"]]),
)


def small():
    fg = FactorGraph()
    fg.add_variable("a", 2)
    fg.add_variable("b", 3)
    fg.add_variables("x", shape=(2, 2), states=2)
    fg.add_factor(["a", "b"], np.zeros((2, 3)), name="ab")
    return fg


def snapshot(fg):
    return (fg.n_vars, fg.n_factors, sorted(map(repr, fg.graph.nodes)), sorted(map(repr, fg.graph.edges)),
            fg.var_states.tolist())


def attempt(fg, call):
    before = snapshot(fg)
    try:
        call()
    except FactorGraphError:
        assert snapshot(fg) == before
        return False
    return True


@given(name=JUNK, states=JUNK, role=st.one_of(JUNK, st.sampled_from(["observed", "output", "latent"])))
def test_add_variable(name, states, role):
    fg = small()
    attempt(fg, lambda: fg.add_variable(name, states, role=role))
    compile_graph(fg)


@given(name=JUNK, shape=JUNK, states=JUNK)
def test_add_variables(name, shape, states):
    fg = small()
    attempt(fg, lambda: fg.add_variables(name, shape, states))
    compile_graph(fg)


@given(scope=JUNK, energy=JUNK, name=st.one_of(st.none(), JUNK))
def test_add_factor(scope, energy, name):
    fg = small()
    attempt(fg, lambda: fg.add_factor(scope, energy, name=name))
    compile_graph(fg)


@given(scopes=JUNK, energy=JUNK)
def test_add_factor_group(scopes, energy):
    fg = small()
    attempt(fg, lambda: fg.add_factor_group(scopes, energy))
    compile_graph(fg)


@given(value=JUNK)
def test_energies_and_parameters(value):
    for make in (lambda: TableEnergy(value), lambda: Parameters(w=value),
                 lambda: LinearEnergy("w", features=value), lambda: LinearEnergy("w").table({"w": value})):
        try:
            make()
        except FactorGraphError:
            pass


@given(evidence=st.one_of(JUNK, st.dictionaries(st.sampled_from(["a", "b", "x", "zz", ("x", 0, 1)]), JUNK, max_size=3)))
def test_evidence(evidence):
    fg = small()
    try:
        cg = compile_graph(fg, evidence)
    except FactorGraphError:
        return
    assert ((cg.clamped >= -1) & (cg.clamped < cg.wiring.var_states)).all()


@pytest.mark.parametrize("bad", [np.zeros((2, 2)), None, "ab", [[0, 1], [1]]])
def test_graph_still_compiles_after_failed_calls(bad):
    fg = small()
    for call in (lambda: fg.add_factor(["a", "b"], bad, name="f"), lambda: fg.add_factor_group([[2, 3]], bad, name="g"),
                 lambda: fg.set_energy("ab", bad)):
        attempt(fg, call)
    assert compile_graph(fg).n_factors == fg.n_factors

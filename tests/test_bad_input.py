"""Every misuse raises a clear FactorGraphError naming the culprit, and changes nothing."""

import re

import networkx as nx
import numpy as np
import pytest

from factorgraph_ebm import (
    CompiledGraph,
    DeclarationError,
    EvidenceError,
    FactorGraph,
    FactorGraphError,
    InferenceError,
    LinearEnergy,
    Parameters,
    TableEnergy,
    ZeroPartitionError,
    compile_graph,
    free_energy,
    infer,
    with_evidence,
    with_parameters,
)
from factorgraph_ebm.compile import resolve_evidence, with_clamped
from factorgraph_ebm.exceptions import DeclarationTypeError


def small():
    fg = FactorGraph()
    fg.add_variable("a", 2)
    fg.add_variable("b", 3)
    x = fg.add_variables("x", shape=(2, 2), states=2)
    fg.add_factor(["a", "b"], np.zeros((2, 3)), name="ab")
    fg.add_factor_group(np.stack([x.ids[0], x.ids[1]], 1), np.zeros((2, 2)), name="g")
    return fg


def snapshot(fg):
    return (fg.n_vars, fg.n_factors, sorted(map(repr, fg.graph.nodes)), sorted(map(repr, fg.graph.edges)))


@pytest.mark.parametrize(
    "action, error, match",
    [
        (lambda fg: fg.add_variable("a", 2), DeclarationError, "'a' is already declared"),
        (lambda fg: fg.add_variable("ab", 2), DeclarationError, "'ab' is already declared"),
        (lambda fg: fg.add_variables("x", (3,), 2), DeclarationError, "'x' is already declared"),
        (lambda fg: fg.add_variable("c", 0), DeclarationError, "variable 'c': states must be >= 1"),
        (lambda fg: fg.add_variable("c", 2.5), DeclarationError, "variable 'c': states must be an integer"),
        (lambda fg: fg.add_variables("c", (2, 0), 2), DeclarationError, "'c': shape must have positive"),
        (lambda fg: fg.add_variable("c", 2, role="hidden"), DeclarationError, "role must be one of"),
        (lambda fg: fg.add_variable(("c", 1), 2), DeclarationError, "tuples are reserved"),
        (lambda fg: fg.add_factor(["a", "zz"], np.zeros((2, 2))), DeclarationError, "unknown variable 'zz'"),
        (lambda fg: fg.add_factor(["a", ("x", 5, 0)], np.zeros((2, 2))), DeclarationError, r"unknown variable \('x', 5, 0\)"),
        (lambda fg: fg.add_factor(["a", "a"], np.zeros((2, 2)), name="aa"), DeclarationError, "'aa': variable 'a' appears twice"),
        (lambda fg: fg.add_factor([], np.zeros(()), name="e"), DeclarationError, "factor 'e': empty scope"),
        (lambda fg: fg.add_factor(["a", "b"], np.zeros((2, 2)), name="s"),
         DeclarationError, r"factor 's': table shape \(2, 2\) != cardinalities \(2, 3\)"),
        (lambda fg: fg.add_factor(["a"], [0.0, np.nan], name="n"), DeclarationError, "factor 'n'.*NaN"),
        (lambda fg: fg.add_factor(["a"], [0.0, -np.inf], name="m"), DeclarationError, r"factor 'm'.*-inf"),
        (lambda fg: fg.add_factor(["a"], "ab", name="t"), DeclarationError, "factor 't'"),
        (lambda fg: fg.add_factor(["a"], [0.0, 1.0], name="ab"), DeclarationError, "'ab' is already declared"),
        (lambda fg: fg.add_factor_group(np.zeros((2, 0), int), np.zeros(()), name="h"), DeclarationError, "'h': empty scope"),
        (lambda fg: fg.add_factor_group([[0, 99]], np.zeros((2, 2)), name="h"), DeclarationError, "unknown variable id 99"),
        (lambda fg: fg.add_factor_group([[2, 2]], np.zeros((2, 2)), name="h"), DeclarationError, "variable twice"),
        (lambda fg: fg.add_factor_group([[0, 1]], np.zeros((2, 2)), name="h"), DeclarationError, r"cardinalities \(2, 3\)"),
        (lambda fg: fg.add_factor_group([[0, 2], [1, 3]], np.zeros((2, 2)), name="h"), DeclarationError, "mixes variables"),
        (lambda fg: fg.add_factor_group([[2.0, 3.0]], np.zeros((2, 2)), name="h"), DeclarationError, "integer variable ids"),
        (lambda fg: fg.add_factor_group(np.zeros((0, 2), int), np.zeros((2, 2)), name="h"), DeclarationError, "n_factors >= 1"),
        (lambda fg: fg.add_factor_group([[2, 3]], np.zeros((3, 2, 2)), name="h"), DeclarationError, "'h': table shape"),
        (lambda fg: fg.set_energy("ab", np.zeros((3, 3))), DeclarationError, "'ab': table shape"),
    ],
)
def test_declaration_errors_leave_graph_unchanged(action, error, match):
    fg = small()
    before = snapshot(fg)
    with pytest.raises(error, match=match):
        action(fg)
    assert snapshot(fg) == before
    assert issubclass(error, FactorGraphError) and issubclass(error, ValueError)


@pytest.mark.parametrize(
    "evidence, match",
    [
        ({"zz": 0}, "unknown variable 'zz'"),
        ({("x", 9, 9): 0}, r"unknown variable \('x', 9, 9\)"),
        ({"a": 2}, r"variable 'a': state 2 out of range \[0, 2\)"),
        ({"a": -1}, "variable 'a': state -1 out of range"),
        ({"x": np.array([[0, 1], [2, 0]])}, r"variable \('x', 1, 0\): state 2 out of range"),
        ({"x": np.array([0, 1])}, r"array 'x' must be an int array of shape \(2, 2\).*got int64 array of shape \(2,\)"),
        (np.array([0, 0]), "evidence must be a dict or an int array of shape"),
    ],
)
def test_bad_evidence(evidence, match):
    fg = small()
    before = snapshot(fg)
    with pytest.raises(EvidenceError, match=match):
        infer(fg, evidence)
    assert snapshot(fg) == before


def test_zero_partition_is_reported_by_every_method():
    fg = FactorGraph()
    fg.add_variable("a", 2)
    fg.add_variable("b", 2)
    fg.add_factor(["a", "b"], [[0.0, np.inf], [np.inf, 0.0]])
    for method in ["bp", "exact", "enumerate", "auto"]:
        with pytest.raises(ZeroPartitionError, match="zero partition"):
            infer(fg, {"a": 0, "b": 1}, method=method)
    # a loopy frustrated triangle with hard constraints, no evidence
    tri = FactorGraph()
    for v in "pqr":
        tri.add_variable(v, 2)
    differ = [[np.inf, 0.0], [0.0, np.inf]]
    for s in ["pq", "qr", "rp"]:
        tri.add_factor(list(s), differ)
    for method in ["exact", "enumerate", "auto"]:
        with pytest.raises(ZeroPartitionError):
            infer(tri, method=method, beta=np.inf)
    # loopy BP cannot prove an odd cycle unsatisfiable (it is arc consistency);
    # it must not claim a finite answer either
    res = infer(tri, method="bp", beta=np.inf, max_iter=20)
    assert res.map_energy == np.inf


@pytest.mark.parametrize("beta", [0, -1.0, np.nan, "1", True])
def test_bad_beta(beta):
    with pytest.raises(InferenceError, match="beta"):
        infer(small(), beta=beta)


def test_beta_none_is_the_default():
    """``beta=None`` (the default) is 1.0, and inf for method='trws'."""
    assert infer(small(), beta=None).beta == 1.0
    assert infer(small(), method="trws", beta=None).beta == np.inf


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"method": "magic"}, "method must be one of"),
        ({"schedule": "spiral"}, "schedule must be one of"),
        ({"damping": 1.0, "method": "bp"}, "damping must be < 1"),
        ({"damping": -0.1, "method": "bp"}, "damping must be >= 0"),
        ({"max_iter": 0, "method": "bp"}, "max_iter must be >= 1"),
        ({"tol": -1.0, "method": "bp"}, "tol must be >= 0"),
    ],
)
def test_bad_inference_options(kwargs, match):
    with pytest.raises(FactorGraphError, match=match):
        infer(small(), **kwargs)


def test_tree_schedule_on_loopy_graph_is_refused():
    fg = FactorGraph()
    for v in "pqr":
        fg.add_variable(v, 2)
    for s in ["pq", "qr", "rp"]:
        fg.add_factor(list(s), np.zeros((2, 2)))
    with pytest.raises(InferenceError, match="needs a forest"):
        infer(fg, method="bp", schedule="tree")


def test_empty_graph():
    with pytest.raises(DeclarationError, match="empty"):
        infer(FactorGraph())
    with pytest.raises(FactorGraphError, match="non-empty sequence"):
        compile_graph([])


def test_missing_or_bad_parameters_name_the_factor():
    fg = FactorGraph()
    fg.add_variable("a", 2)
    fg.add_variable("b", 2)
    fg.add_factor(["a", "b"], LinearEnergy("W"), name="pair")
    with pytest.raises(DeclarationError, match="factor 'pair'.*'W' has no value"):
        compile_graph(fg)
    with pytest.raises(DeclarationError, match=r"factor 'pair': table shape \(3,\)"):
        compile_graph(fg, parameters={"W": np.zeros(3)})
    with pytest.raises(DeclarationError, match="factor 'pair'.*NaN"):
        compile_graph(fg, parameters={"W": np.full((2, 2), np.nan)})


def test_enumeration_refuses_huge_models():
    fg = FactorGraph()
    fg.add_variables("x", shape=40, states=2)
    with pytest.raises(InferenceError, match="enumeration would walk"):
        infer(fg, method="enumerate")


def test_junction_tree_refuses_wide_models():
    rng = np.random.default_rng(0)
    fg = FactorGraph()
    x = fg.add_variables("x", shape=(25, 25), states=4)
    h = np.stack([x.ids[:, :-1].ravel(), x.ids[:, 1:].ravel()], 1)
    v = np.stack([x.ids[:-1].ravel(), x.ids[1:].ravel()], 1)
    fg.add_factor_group(np.concatenate([h, v]), rng.normal(size=(4, 4)))
    with pytest.raises(InferenceError, match="elimination width"):
        infer(fg, method="exact")
    assert nx.is_connected(fg.graph)


def test_free_energy_refuses_a_compiled_batch():
    fg = FactorGraph()
    fg.add_variable("a", 2)
    fg.add_factor(["a"], [0.0, 1.0])
    with pytest.raises(InferenceError, match="not a batch"):
        free_energy(compile_graph([fg, fg]), {"a": 0})


# --------------------------------------------------------------------------- non-integer evidence
# States are ints (Python or NumPy integers); floats are refused even when integral (docs/errors.md).

@pytest.mark.parametrize(
    "value, shown",
    [
        (1.5, "1.5 (float)"),
        (1.0, "1.0 (float)"),
        (np.float64(1.0), "1.0 (float64)"),
        (np.nan, "nan (float)"),
        ("1", "'1' (str)"),
        (True, "True (bool)"),
        (None, "None (NoneType)"),
        ([1], "[1] (list)"),
        (np.array([1.0]), "array([1.]) (ndarray)"),
    ],
)
def test_non_integer_evidence_says_it_must_be_an_integer_state(value, shown):
    fg = small()
    with pytest.raises(EvidenceError, match=r"evidence for variable 'a' must be an integer state in \[0, 2\), "
                                            f"got {re.escape(shown)}$"):
        infer(fg, {"a": value})
    with pytest.raises(EvidenceError, match="variable 'a' must be an integer state"):
        compile_graph(fg, {"a": value})
    with pytest.raises(EvidenceError, match="variable 'a' must be an integer state"):
        with_evidence(compile_graph(fg), {"a": value})


def test_array_element_evidence_that_is_not_an_integer_names_the_element():
    with pytest.raises(EvidenceError, match=r"variable \('x', 0, 1\) must be an integer state in \[0, 2\), "
                                            r"got 0.5 \(float\)"):
        infer(small(), {("x", 0, 1): 0.5})


@pytest.mark.parametrize("value", [1, np.int8(1), np.int64(1), np.uint16(1), np.array(1)])
def test_integer_evidence_of_any_integer_type_is_accepted(value):
    assert resolve_evidence(small(), {"a": value}).tolist() == [1, -1, -1, -1, -1, -1]


@pytest.mark.parametrize(
    "value, got",
    [
        (np.array([[0.0, 1.0], [1.0, 0.0]]), r"float64 array of shape \(2, 2\)"),
        (np.array([[0.5, 1.0], [1.0, 0.0]]), r"float64 array of shape \(2, 2\)"),
        (np.ones((2, 2), dtype=bool), r"bool array of shape \(2, 2\)"),
        ([[0, 1], [1]], "a ragged or non-numeric list"),
        ("ab", "the str 'ab'"),
    ],
)
def test_non_integer_array_evidence_names_the_array_shape_and_dtype(value, got):
    with pytest.raises(EvidenceError, match=r"evidence for variable array 'x' must be an int array of shape "
                                            r"\(2, 2\) \(states in \[0, 2\), -1 = free\), got " + got):
        infer(small(), {"x": value})


@pytest.mark.parametrize("value, got", [(np.zeros(6), "float64 array of shape"), ("abc", "the str 'abc'"),
                                        (np.zeros(6, dtype=bool), "bool array")])
def test_flat_evidence_that_is_not_an_int_array(value, got):
    with pytest.raises(EvidenceError, match=r"evidence must be a dict or an int array of shape \(6,\).*got " + got):
        infer(small(), value)
    cg = compile_graph(small())
    with pytest.raises(EvidenceError, match=r"clamped states must be an int array of shape \(6,\).*got"):
        with_clamped(cg, np.zeros(6))
    with pytest.raises(EvidenceError, match=r"assignment must be a dict or an int array of shape \(6,\)"):
        cg.energy(np.zeros(6))


def test_a_flat_list_of_ints_is_one_graph_evidence_and_a_batch_needs_one_entry_per_graph():
    fg = small()
    assert compile_graph(fg, [1, 2, -1, -1, 0, -1]).clamped.tolist() == [1, 2, -1, -1, 0, -1]
    with pytest.raises(EvidenceError, match="evidence for a batch of 2 graphs must be a list or tuple .* got dict"):
        compile_graph([fg, fg], {"a": 1})
    with pytest.raises(EvidenceError, match="1 evidence entries for 2 graphs"):
        compile_graph([fg, fg], [{"a": 1}])
    with pytest.raises(EvidenceError, match="evidence for a batch of 2 graphs .* got int"):
        with_evidence(compile_graph([fg, fg]), 3)


# --------------------------------------------------------------------------- wrong types
@pytest.mark.parametrize(
    "action, match",
    [
        (lambda fg: fg.add_variable(["c"], 2), r"variable name \['c'\] is not hashable"),
        (lambda fg: fg.add_variable("c", "2"), "variable 'c': states must be an integer >= 1, got '2'"),
        (lambda fg: fg.add_variable("c", 2.0), "variable 'c': states must be an integer >= 1, got 2.0"),
        (lambda fg: fg.add_variables("c", (2.5,), 2), r"array 'c': shape must be an int or a tuple of ints, got \(2.5,\)"),
        (lambda fg: fg.add_variables("c", (True, 2), 2), "array 'c': shape must be an int or a tuple of ints"),
        (lambda fg: fg.add_variables("c", None, 2), "array 'c': shape must be an int or a tuple of ints, got None"),
        (lambda fg: fg.add_factor("a", [0.0, 1.0], name="s"), "factor 's': scope must be a sequence of variable names"),
        (lambda fg: fg.add_factor(["a"], None, name="n"), "factor 'n': energy must be an array of numbers or an Energy, got None"),
        (lambda fg: fg.add_factor(["a"], {"a": 1}, name="d"), "factor 'd': energy must be an array of numbers or an Energy, got the dict"),
        (lambda fg: fg.add_factor(["a", "b"], [[0, 1, 2], [1]], name="r"), r"factor 'r': energy .* got a ragged list"),
        (lambda fg: fg.add_factor(["a"], LinearEnergy, name="c"), "factor 'c': energy is the class LinearEnergy; pass an instance"),
        (lambda fg: fg.add_factor(["a"], [0.0, 1.0], name=["q"]), r"factor name \['q'\] is not hashable"),
        (lambda fg: fg.add_factor_group([[2, 3], [4]], np.zeros((2, 2)), name="h"), "'h': scopes must be an integer matrix .* ragged"),
        (lambda fg: fg.add_factor_group([["a", "b"]], np.zeros((2, 3)), name="h"), "'h': scopes must be an integer matrix of variable ids"),
        (lambda fg: fg.add_factor_group(None, np.zeros((2, 3)), name="h"), "'h': scopes must be an integer matrix .* got None"),
        (lambda fg: fg.add_factor_group([[2.0, 3.0]], np.zeros((2, 2)), name="h"), "'h': scopes must hold integer variable ids"),
        (lambda fg: fg.set_energy("ab", "zero"), "factor 'ab': energy must be an array of numbers"),
    ],
)
def test_wrong_types_raise_a_declaration_type_error_and_change_nothing(action, match):
    fg = small()
    before = snapshot(fg)
    with pytest.raises(DeclarationTypeError, match=match) as info:
        action(fg)
    assert isinstance(info.value, DeclarationError) and isinstance(info.value, TypeError)
    assert snapshot(fg) == before


@pytest.mark.parametrize(
    "make, match",
    [
        (lambda: TableEnergy("ab"), "TableEnergy: table must be an array of numbers, got the str 'ab'"),
        (lambda: TableEnergy(None), "TableEnergy: table must be an array of numbers, got None"),
        (lambda: TableEnergy([[0, 1], [1]]), "TableEnergy: table must be an array of numbers, got a ragged list"),
        (lambda: LinearEnergy(3), "LinearEnergy parameter must be a non-empty str, got 3"),
        (lambda: LinearEnergy("w", features="ab"), r"LinearEnergy\('w'\): features must be an array of numbers"),
        (lambda: LinearEnergy("w", features=[[1, 2], [1]]), r"LinearEnergy\('w'\): features .* ragged"),
        (lambda: LinearEnergy("w", features=np.zeros((6, 2)), table_shape="ab"),
         r"LinearEnergy\('w'\): table_shape must be an int or a tuple of ints, got 'ab'"),
        (lambda: LinearEnergy("w").table({"w": "ab"}), "parameter 'w' must be an array of numbers, got the str 'ab'"),
        (lambda: Parameters(w="ab"), "parameter 'w' must be an array of numbers, got the str 'ab'"),
        (lambda: Parameters(w=None), "parameter 'w' must be an array of numbers, got None"),
        (lambda: Parameters(w=[[1, 2], [1]]), "parameter 'w' must be an array of numbers, got a ragged list"),
        (lambda: Parameters(w=[1.0]).unflatten("a"), "flat parameter vector must be an array of numbers"),
        (lambda: compile_graph(3), "compile_graph expects a FactorGraph or a non-empty sequence of them, got int"),
        (lambda: compile_graph([small(), "g"]), "compile_graph expects .*; item 1 is a str"),
        (lambda: compile_graph(small(), parameters=[1.0]), "parameters must be a mapping name -> array .* got list"),
        (lambda: with_evidence(small(), {"a": 1}), "with_evidence expects a CompiledGraph .* got FactorGraph; use compile_graph"),
        (lambda: with_parameters(small(), {}), "with_parameters expects a CompiledGraph"),
        (lambda: with_clamped(small(), np.zeros(6, int)), "with_clamped expects a CompiledGraph"),
        (lambda: with_parameters(compile_graph(small()), [1.0]), "parameters must be a mapping"),
    ],
)
def test_energies_parameters_and_compile_wrong_types(make, match):
    with pytest.raises(DeclarationTypeError, match=match):
        make()


def test_linear_energy_shapes_must_be_positive():
    with pytest.raises(DeclarationError, match=r"table_shape must have positive sizes, got \(-2, -3\)"):
        LinearEnergy("w", features=np.zeros((6, 2)), table_shape=(-2, -3))
    assert LinearEnergy("w", features=np.zeros((6, 2)), table_shape=6).lead_shape == (6,)


def test_missing_parameter_value_of_the_wrong_type_names_the_factor():
    fg = FactorGraph()
    fg.add_variable("a", 2)
    fg.add_factor(["a"], LinearEnergy("w"), name="lin")
    with pytest.raises(DeclarationTypeError, match="factor 'lin': parameter 'w' must be an array of numbers"):
        compile_graph(fg, parameters={"w": "ab"})


def test_parameters_update_sets_all_or_nothing():
    p = Parameters(a=[1.0])
    with pytest.raises(DeclarationTypeError, match="parameter 'c'"):
        p.update(b=[2.0], c="x")
    assert set(p) == {"a"}
    with pytest.raises(DeclarationError, match="parameter 'b' contains NaN"):
        p.update(b=[np.nan])
    assert set(p) == {"a"}


def test_a_failed_add_factor_leaves_no_half_factor():
    fg = small()
    before = snapshot(fg)
    specs, index = fg.factor_specs, dict(fg._factor_index)
    for bad in (lambda: fg.add_factor(["a", "b"], np.zeros((2, 2)), name="half"),
                lambda: fg.add_factor(["a", "zz"], np.zeros((2, 2)), name="half"),
                lambda: fg.add_factor(["a"], None, name="half"),
                lambda: fg.add_factor_group([[2, 3]], np.zeros((3, 3)), name="half")):
        with pytest.raises(DeclarationError):
            bad()
        assert snapshot(fg) == before and fg.factor_specs == specs and fg._factor_index == index
        assert "half" not in fg.graph
    assert fg.add_factor(["a"], [0.0, 1.0], name="half") == "half"
    assert isinstance(compile_graph(fg), CompiledGraph)


@pytest.mark.parametrize(
    "lookup, match",
    [
        (lambda fg: fg.variable_name("a"), r"variable id must be an int in \[0, 6\), got 'a'"),
        (lambda fg: fg.variable_name(6), r"variable id must be an int in \[0, 6\), got 6"),
        (lambda fg: fg.variable_array(["x"]), r"unknown variable array \['x'\]"),
        (lambda fg: fg.variable_block(["x"]), r"unknown variable \['x'\]"),
        (lambda fg: fg.variable_id((["x"], 0)), r"unknown variable \(\['x'\], 0\)"),
    ],
)
def test_lookups_with_bad_names(lookup, match):
    with pytest.raises(FactorGraphError, match=match):
        lookup(small())

"""Every misuse raises a clear FactorGraphError naming the culprit, and changes nothing."""

import networkx as nx
import numpy as np
import pytest

from factorgraph_ebm import (
    DeclarationError,
    EvidenceError,
    FactorGraph,
    FactorGraphError,
    InferenceError,
    LinearEnergy,
    ZeroPartitionError,
    compile_graph,
    free_energy,
    infer,
)


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
        ({"a": 1.0}, "variable 'a': state 1.0 out of range"),
        ({"x": np.array([[0, 1], [2, 0]])}, r"variable \('x', 1, 0\): state 2 out of range"),
        ({"x": np.array([0, 1])}, "array 'x' must be an int array of shape"),
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


@pytest.mark.parametrize("beta", [0, -1.0, np.nan, "1", None, True])
def test_bad_beta(beta):
    with pytest.raises(InferenceError, match="beta"):
        infer(small(), beta=beta)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"method": "magic"}, "method must be one of"),
        ({"schedule": "random"}, "schedule must be one of"),
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

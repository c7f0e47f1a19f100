"""Losses against closed forms and brute force: logistic regression, SVM hinge, beta limits, y-bar."""

import itertools

import numpy as np
import pytest

from ebm_models import binary_classifier, chain_graph, chain_parameters, latent_graph, latent_parameters
from factorgraph_ebm import compile_graph
from factorgraph_ebm.losses import (
    EnergyLoss,
    HingeLoss,
    NLLLoss,
    PerceptronLoss,
    make_batch,
)


def brute_energies(graph, params, fixed=None):
    """Energy of every full assignment of a small graph: dict state tuple -> E."""
    cg = compile_graph(graph, parameters=params)
    states = [range(int(k)) for k in graph.var_states]
    return {s: cg.energy(np.array(s)) for s in itertools.product(*states)}


def test_nll_with_one_factor_and_binary_y_is_logistic_regression():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(6, 3))
    y = np.array([0, 1, 1, 0, 1, 0])
    w = rng.normal(size=3)
    out = NLLLoss()([binary_classifier(row) for row in x], y, parameters={"w": w})
    margin = (2 * y - 1) * (x @ w)
    np.testing.assert_allclose(out.values, np.log1p(np.exp(-margin)), rtol=1e-12)
    p1 = 1 / (1 + np.exp(-(x @ w)))
    np.testing.assert_allclose(out.gradient["w"], -((y - p1) @ x) / len(y), rtol=1e-10)


def test_hinge_and_perceptron_with_binary_y_are_the_svm_and_perceptron_criteria():
    rng = np.random.default_rng(1)
    x = rng.normal(size=(8, 3))
    y = rng.integers(0, 2, size=8)
    w = rng.normal(size=3)
    graphs = [binary_classifier(row) for row in x]
    s = (2 * y - 1) * (x @ w)
    hinge = HingeLoss()(graphs, y, parameters={"w": w})
    np.testing.assert_allclose(hinge.values, np.maximum(0.0, 1.0 - s), atol=1e-12)
    np.testing.assert_allclose(hinge.gradient["w"], -(((s < 1) * (2 * y - 1)) @ x) / len(y), atol=1e-12)
    perceptron = PerceptronLoss()(graphs, y, parameters={"w": w})
    np.testing.assert_allclose(perceptron.values, np.maximum(0.0, -s), atol=1e-12)


def test_nll_tends_to_the_perceptron_loss_as_beta_grows():
    rng = np.random.default_rng(2)
    graphs = [chain_graph(rng) for _ in range(3)]
    targets = [rng.integers(0, 3, size=4) for _ in range(3)]
    params = chain_parameters(rng)
    batch = make_batch(graphs, targets, parameters=params)
    perceptron = PerceptronLoss()(batch, parameters=params)
    gaps = []
    for beta in (1.0, 10.0, 100.0, 1000.0):
        nll = NLLLoss(beta=beta)(batch, parameters=params)
        gap = nll.value - perceptron.value  # = min E - F_beta, in [0, log(#answers) / beta]
        assert -1e-9 <= gap <= np.log(3 ** 4) / beta + 1e-9
        gaps.append(gap)
    assert gaps == sorted(gaps, reverse=True) and gaps[-1] < 1e-3
    np.testing.assert_allclose(nll.gradient.flatten(), perceptron.gradient.flatten(), atol=1e-3)
    exact = NLLLoss(beta=np.inf)(batch, parameters=params)
    assert exact.value == perceptron.value
    np.testing.assert_array_equal(exact.gradient.flatten(), perceptron.gradient.flatten())


@pytest.mark.parametrize("seed", range(4))
def test_most_offending_answer_matches_brute_force(seed):
    rng = np.random.default_rng(seed)
    graph = chain_graph(rng)
    params = chain_parameters(rng)
    table = brute_energies(graph, params)
    best = min(table, key=table.get)
    for target in (np.array(best), rng.integers(0, 3, size=4)):  # the target is the MAP, or random
        out = HingeLoss(margin=0.7)(graph, [target], parameters=params)
        others = {s: e for s, e in table.items() if s != tuple(target)}
        ybar = min(others, key=others.get)
        np.testing.assert_array_equal(out.terms["offending"][0].state, ybar)
        assert out.terms["offending"][0].values[0] == pytest.approx(others[ybar])
        assert out.value == pytest.approx(max(0.0, 0.7 + table[tuple(target)] - others[ybar]))
        # Hamming-margin loss-augmented inference: argmin E(y) - m H(y, y_i) over all y
        aug = {s: e - 0.7 * np.sum(np.array(s) != target) for s, e in table.items()}
        yaug = min(aug, key=aug.get)
        out = HingeLoss(margin=0.7, offending="hamming")(graph, [target], parameters=params)
        np.testing.assert_array_equal(out.terms["offending"][0].state, yaug)
        h = np.sum(np.array(yaug) != target)
        assert out.value == pytest.approx(max(0.0, 0.7 * h + table[tuple(target)] - table[yaug]))


def test_latent_terms_are_min_and_free_energy_over_z():
    rng = np.random.default_rng(3)
    graph = latent_graph(rng, loopy=True)
    params = latent_parameters(rng, loopy=True)
    table = brute_energies(graph, params)  # variables: y, z0, z1, z2
    for y in range(3):
        ez = np.array([e for s, e in table.items() if s[0] == y])
        assert EnergyLoss(method="exact")(graph, [y], parameters=params).value == pytest.approx(ez.min())
        free = -np.log(np.sum(np.exp(-2.0 * ez))) / 2.0
        assert EnergyLoss(latent_beta=2.0, method="exact")(graph, [y], parameters=params).value == \
            pytest.approx(free)
        all_e = np.array(list(table.values()))
        nll = NLLLoss(method="exact")(graph, [y], parameters=params).value
        assert nll == pytest.approx(-np.log(np.exp(-ez).sum()) + np.log(np.exp(-all_e).sum()))
        other = min(e for s, e in table.items() if s[0] != y)
        hinge = HingeLoss(method="exact")(graph, [y], parameters=params).value
        assert hinge == pytest.approx(max(0.0, 1.0 + ez.min() - other))


def test_forbidden_incorrect_answers_give_an_infinite_rival_and_no_push():
    from factorgraph_ebm import FactorGraph, LinearEnergy

    fg = FactorGraph()
    fg.add_variable("y", 3)
    fg.add_factor(["y"], LinearEnergy("b"))
    fg.add_factor(["y"], [0.0, np.inf, np.inf], name="only-0")
    out = HingeLoss()(fg, [0], parameters={"b": np.zeros(3)})
    assert out.value == 0.0 and np.isinf(out.terms["offending"][0].values[0])
    np.testing.assert_array_equal(out.gradient["b"], 0.0)

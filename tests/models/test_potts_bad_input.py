"""potts_grid and chain_graph say which array is wrong, what shape it must have and what it got."""

import numpy as np
import pytest

from factorgraph_ebm import DeclarationError, LinearEnergy, infer
from factorgraph_ebm.exceptions import DeclarationTypeError
from factorgraph_ebm.models import chain_graph, potts_grid


@pytest.mark.parametrize(
    "unary, coupling, error, match",
    [
        (np.zeros((3, 3)), 1.0, DeclarationError,
         r"potts_grid: unary must have shape \(rows, cols, states\), got shape \(3, 3\)$"),
        (np.zeros((3, 3, 2, 2)), 1.0, DeclarationError, r"unary must have shape \(rows, cols, states\), got shape \(3, 3, 2, 2\)"),
        (np.zeros((3, 3, 0)), 1.0, DeclarationError, r"unary must have shape \(rows, cols, states\) with every size >= 1, got shape \(3, 3, 0\)"),
        (np.zeros((0, 3, 2)), 1.0, DeclarationError, r"with every size >= 1, got shape \(0, 3, 2\)"),
        ("abc", 1.0, DeclarationTypeError, "potts_grid: unary must be an array of numbers, got the str 'abc'"),
        (np.full((2, 2, 2), np.nan), 1.0, DeclarationError, "potts_grid: unary: energy table contains NaN"),
        (np.zeros((3, 3, 2)), np.zeros((3, 3)), DeclarationError,
         r"potts_grid: coupling must have shape \(2, 2\) for 2 states, got shape \(3, 3\)"),
        (np.zeros((3, 3, 2)), "strong", DeclarationTypeError, "potts_grid: coupling must be a number or a .* got the str 'strong'"),
        (np.zeros((3, 3, 2)), np.nan, DeclarationError, "potts_grid: coupling: energy table contains NaN"),
        (np.zeros((3, 3, 2)), -np.inf, DeclarationError, "potts_grid: coupling: energy table contains -inf"),
    ],
)
def test_potts_grid_bad_input(unary, coupling, error, match):
    with pytest.raises(error, match=match):
        potts_grid(unary, coupling)


def test_potts_grid_infinite_coupling_forces_agreement():
    fg = potts_grid(np.zeros((2, 2, 2)) + [0.0, 0.5], np.inf)
    res = infer(fg, beta=1.0)
    assert np.allclose(res.marginal(("x", 0, 0)), [np.exp(0) / (1 + np.exp(-2.0)), np.exp(-2.0) / (1 + np.exp(-2.0))])


@pytest.mark.parametrize(
    "unary, transition, error, match",
    [
        (np.zeros(4), np.eye(2), DeclarationError, r"chain_graph: unary must have shape \(positions, states\), got shape \(4,\)$"),
        (np.zeros((4, 2, 2)), np.eye(2), DeclarationError, r"unary must have shape \(positions, states\), got shape \(4, 2, 2\)"),
        (np.zeros((4, 0)), np.eye(0), DeclarationError, r"with every size >= 1, got shape \(4, 0\)"),
        (np.zeros((0, 2)), np.eye(2), DeclarationError, r"with every size >= 1, got shape \(0, 2\)"),
        (np.full((4, 2), np.nan), np.eye(2), DeclarationError, "chain_graph: unary: energy table contains NaN"),
        (np.zeros((4, 2)), np.eye(3), DeclarationError,
         r"chain_graph: transition must have shape \(2, 2\) or \(3, 2, 2\) for 2 states, got shape \(3, 3\)"),
        (np.zeros((1, 2)), np.eye(3), DeclarationError, r"transition must have shape \(2, 2\) .* got shape \(3, 3\)"),
        (np.zeros((4, 2)), 1.0, DeclarationError, r"transition must have shape .* got shape \(\)"),
        (np.zeros((4, 2)), None, DeclarationTypeError, "chain_graph: transition must be an array of numbers or an Energy, got None"),
        (np.zeros((4, 2)), np.full((2, 2), np.nan), DeclarationError, "chain_graph: transition: energy table contains NaN"),
        (np.zeros((4, 2)), np.full((2, 2), -np.inf), DeclarationError, "chain_graph: transition: energy table contains -inf"),
    ],
)
def test_chain_graph_bad_input(unary, transition, error, match):
    with pytest.raises(error, match=match):
        chain_graph(unary, transition)


def test_chain_graph_accepts_per_position_tables_and_energies():
    assert chain_graph(np.zeros((4, 2)), np.zeros((3, 2, 2))).n_factors == 7
    assert chain_graph(np.zeros((4, 2)), LinearEnergy("T")).parameter_names == ("T",)

"""io functions given arguments of the wrong kind say which argument and what they expect."""

import io

import numpy as np
import pytest

from factorgraph_ebm import EvidenceError, FactorGraph, FactorGraphError
from factorgraph_ebm.exceptions import DeclarationTypeError
from factorgraph_ebm.io import (
    format_result,
    read_conllu,
    read_evidence,
    read_libdai,
    read_model,
    read_result,
    read_uai,
    write_evidence,
    write_libdai,
    write_model,
    write_uai,
)


def model():
    fg = FactorGraph()
    fg.add_variable(0, 2)
    fg.add_variable(1, 3)
    fg.add_factor([0, 1], np.zeros((2, 3)))
    return fg


@pytest.mark.parametrize("reader", [read_uai, read_libdai, read_result, read_conllu,
                                    lambda s: read_evidence(s, model())])
@pytest.mark.parametrize("source", [None, 3])
def test_readers_want_a_path_or_a_stream(reader, source):
    with pytest.raises(DeclarationTypeError, match=f"source must be a path .* or an open text stream, got {type(source).__name__}"):
        reader(source)


@pytest.mark.parametrize("writer", [write_uai, write_libdai])
def test_writers_want_a_factor_graph_and_a_target(writer):
    with pytest.raises(DeclarationTypeError, match=f"{writer.__name__} expects a FactorGraph, got NoneType"):
        writer(None, io.StringIO())
    with pytest.raises(DeclarationTypeError, match="target must be a path .* got int"):
        writer(model(), 3)


def test_model_paths_must_be_paths():
    with pytest.raises(DeclarationTypeError, match="path must be a str or os.PathLike .* got NoneType"):
        read_model(None)
    with pytest.raises(DeclarationTypeError, match="path must be a str or os.PathLike"):
        write_model(model(), 3)


def test_read_evidence_arguments():
    with pytest.raises(DeclarationTypeError, match="read_evidence expects a FactorGraph, got NoneType"):
        read_evidence(io.StringIO("1 0 1"), None)
    with pytest.raises(FactorGraphError, match="sample must be an int, got '0'"):
        read_evidence(io.StringIO("1 0 1"), model(), sample="0")
    with pytest.raises(FactorGraphError, match="sample must be >= 0, got -1"):
        read_evidence(io.StringIO("1 0 1"), model(), sample=-1)


@pytest.mark.parametrize(
    "evidence, got",
    [
        ([0.5, 1], r"got float64 array of shape \(2,\)"),
        ([0.0, 1.0], r"got float64 array of shape \(2,\)"),
        ([[0, 1], [1]], r"got a ragged list \(rows of different lengths\)"),
    ],
)
def test_write_evidence_wants_int_states(evidence, got):
    with pytest.raises(EvidenceError, match=r"evidence must be an int array of shape \(n_vars,\) or \(n_samples, n_vars\).*" + got):
        write_evidence(io.StringIO(), evidence)


def test_conllu_column_is_a_package_error():
    with pytest.raises(FactorGraphError, match=r"column must be one of \['upos', 'xpos'\], got 'xx'"):
        read_conllu(io.StringIO("1\ta\n"), column="xx")


@pytest.mark.parametrize(
    "task, value, error, match",
    [
        ("MPE", [0.5, 1], DeclarationTypeError, r"MPE value must be a 1-D int array .* got float64 array of shape \(2,\)"),
        ("MPE", "01", DeclarationTypeError, "MPE value must be a 1-D int array .* got str"),
        ("MAR", 3, DeclarationTypeError, "MAR value must be a sequence of probability arrays .* got int"),
        ("MAR", [[0.5, 0.5], [0.5, "x"]], DeclarationTypeError, "MAR probabilities of variable 1 must be an array of numbers"),
        ("PR", [1.0, 2.0], FactorGraphError, r"PR value \(log10 Z\) must be a float, got \[1.0, 2.0\]"),
        ("XX", 1.0, FactorGraphError, "task must be one of"),
    ],
)
def test_result_values_are_checked(task, value, error, match):
    with pytest.raises(error, match=match):
        format_result(task, value)

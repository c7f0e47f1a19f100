"""UAI evidence files (both layouts) and result files (MAR, MPE, PR)."""

import io
import math

import numpy as np
import pytest

from factorgraph_ebm import EvidenceError, FactorGraph, FactorGraphError, ParseError
from factorgraph_ebm.io import format_result, read_evidence, read_result, write_evidence, write_result


@pytest.fixture
def model():
    fg = FactorGraph()
    for name, k in enumerate([2, 3, 2, 4]):
        fg.add_variable(name, k)
    return fg


def read(text, fg, **kw):
    return read_evidence(io.StringIO(text), fg, **kw).tolist()


@pytest.mark.parametrize("text", [
    "2 1 2 3 0",                 # single layout, one line
    "2\n1 2\n3 0\n",             # single layout, pairs on lines
    "1\n2 1 2 3 0\n",            # samples layout, one sample
    "c comment\n1\n2 1 2 3 0",   # comments are skipped
])
def test_both_layouts(model, text):
    assert read(text, model) == [-1, 2, -1, 0]


def test_samples_layout_several_samples(model):
    text = "3\n1 0 1\n0\n2 3 3 2 1\n"
    assert read(text, model) == [1, -1, -1, -1]
    assert read(text, model, sample=1) == [-1, -1, -1, -1]
    assert read(text, model, sample=2) == [-1, -1, 1, 3]
    with pytest.raises(ParseError, match="sample 3 requested, but the file holds 3 samples"):
        read(text, model, sample=3)


def test_layout_can_be_forced(model):
    # "2 1 0 3 2": single = {1: 0, 3: 2}; as samples it is malformed (2 samples announced)
    assert read("2 1 0 3 2", model, layout="single") == [-1, 0, -1, 2]
    with pytest.raises(ParseError, match="end of file"):
        read("2 1 0 3 2", model, layout="samples")
    with pytest.raises(EvidenceError, match="layout must be one of"):
        read("0", model, layout="old")


def test_empty_file_and_zero_observations(model):
    assert read("", model) == [-1] * 4
    assert read("0", model) == [-1] * 4
    assert read("1\n0\n", model) == [-1] * 4


@pytest.mark.parametrize("text, match", [
    ("1\n4 0\n", r"line 2: evidence names variable 4, but the model has 4 variables"),
    ("1 1 3", r"line 1: evidence: state 3 of variable 1 out of range \[0, 3\)"),
    ("2\n0 1\n0 0\n", r"line 3: evidence gives variable 0 two states \(1 and 0\)"),
    ("1\n2\n0 1\n", r"line 3: unexpected end of file: expected 4 more tokens"),
    ("1 -1 0", r"line 1: observed variable must be >= 0, got -1"),
    ("1 0 x", r"line 1: expected an integer \(observed state\), got 'x'"),
])
def test_bad_evidence_names_the_line(model, text, match):
    with pytest.raises(ParseError, match=match):
        read(text, model)


def test_write_evidence_round_trip_both_layouts(model):
    for layout, rows in [("single", [1, -1, 1, 3]), ("samples", [[1, -1, 1, 3], [-1] * 4, [0, 0, 0, 0]])]:
        buf = io.StringIO()
        write_evidence(buf, rows, layout=layout)
        rows2 = np.atleast_2d(rows)
        for i, row in enumerate(rows2):
            assert read(buf.getvalue(), model, layout=layout, sample=i) == row.tolist()
    with pytest.raises(EvidenceError, match="one sample"):
        write_evidence(io.StringIO(), [[0, 0, 0, 0], [1, 1, 1, 1]])
    with pytest.raises(EvidenceError, match=">= -1"):
        write_evidence(io.StringIO(), [0, -2, 0, 0])


def test_results_round_trip():
    mar = [np.array([0.25, 0.75]), np.array([1.0, 0.0, 0.0]), np.array([1 / 3, 2 / 3])]
    buf = io.StringIO()
    write_result(buf, "MAR", mar)
    task, back = read_result(io.StringIO(buf.getvalue()))
    assert task == "MAR" and len(back) == 3
    for a, b in zip(mar, back):
        np.testing.assert_allclose(a, b, rtol=1e-14)
    assert format_result("MPE", np.array([0, 2, 1])) == "MPE\n3 0 2 1\n"
    assert read_result(io.StringIO(format_result("MPE", [0, 2, 1])))[1].tolist() == [0, 2, 1]
    assert read_result(io.StringIO(format_result("PR", -math.inf))) == ("PR", -math.inf)
    assert read_result(io.StringIO(format_result("PR", -12.345))) == ("PR", -12.345)
    with pytest.raises(FactorGraphError, match="task must be one of"):
        format_result("MMAP", [])


def test_result_files_keep_the_last_solution():
    text = "MAR\n1 2 0.5 0.5\n-BEGIN-\n1 2 0.25 0.75\n"
    task, value = read_result(io.StringIO(text))
    np.testing.assert_array_equal(value[0], [0.25, 0.75])


@pytest.mark.parametrize("text, match", [
    ("BOGUS\n1\n", r"line 1: task must be one of"),
    ("MPE\n3 0 1\n", r"line 2: unexpected end of file"),
    ("PR\nnan\n", r"line 2: log10 partition function must be finite"),
    ("MAR\n1 2 0.5 -0.5\n", r"line 2: probability of variable 0 must be finite and >= 0"),
])
def test_bad_result_files(text, match):
    with pytest.raises(ParseError, match=match):
        read_result(io.StringIO(text))

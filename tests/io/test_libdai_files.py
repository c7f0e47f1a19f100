"""libDAI .fg files: first variable fastest, sparse entries, labels; cross-format round trips."""

import io
import math

import numpy as np
import pytest

from factorgraph_ebm import FactorGraph, energy, infer
from factorgraph_ebm.io import read_libdai, read_uai, write_libdai, write_uai
from model_files import chain, grid, tree
from test_uai_files import assert_same_model, log_z

# Two factors in libDAI's own style: comments, blank lines, labels that are not 0..n-1.
SAMPLE = """# a small factor graph
2

# P(x3)
1
3
2
2
0 0.25
1 0.75

# factor over (x3, x8): index = x3 + 2 * x8
2
3 8
2 3
4
0 1.0
1 2.0
3 4.0
5 6.0
"""


def test_first_variable_changes_fastest_and_unlisted_entries_are_zero():
    fg = read_libdai(io.StringIO(SAMPLE))
    assert [b.name for b in fg.variable_blocks] == [3, 8]
    assert fg.var_states.tolist() == [2, 3]
    # pair table: (x3, x8) -> index x3 + 2 * x8
    expected = {(0, 0): 1.0, (1, 0): 2.0, (0, 1): 0.0, (1, 1): 4.0, (0, 2): 0.0, (1, 2): 6.0}
    prior = {0: 0.25, 1: 0.75}
    for (x3, x8), pot in expected.items():
        e = energy(fg, {3: x3, 8: x8})
        if pot == 0:
            assert e == math.inf
        else:
            assert e == pytest.approx(-math.log(prior[x3] * pot))
    assert log_z(fg) == pytest.approx(math.log(0.25 * 1.0 + 0.75 * (2.0 + 4.0 + 6.0)))


def test_scope_keeps_the_file_order():
    # labels listed as (8, 3): now x8 changes fastest
    text = "1\n2\n8 3\n3 2\n6\n0 1\n1 2\n2 3\n3 4\n4 5\n5 6\n"
    fg = read_libdai(io.StringIO(text))
    assert [b.name for b in fg.variable_blocks] == [3, 8]  # variables sorted by label
    for x8 in range(3):
        for x3 in range(2):
            assert energy(fg, {3: x3, 8: x8}) == pytest.approx(-math.log(1 + x8 + 3 * x3))


def test_libdai_round_trip_keeps_labels_and_values():
    fg = read_libdai(io.StringIO(SAMPLE))
    buf = io.StringIO()
    write_libdai(fg, buf)
    again = read_libdai(io.StringIO(buf.getvalue()))
    assert_same_model(fg, again)
    assert "\n3 8\n" in buf.getvalue()  # labels, not flat ids


@pytest.mark.parametrize("make", [chain, tree, grid])
def test_uai_to_fg_to_uai_is_the_same_model(make):
    raw = make(np.random.default_rng(7), zero_prob=0.1)
    assert raw.partition() > 0
    fg = read_uai(io.StringIO(raw.uai_text()))
    fg_text = io.StringIO()
    write_libdai(fg, fg_text)
    via_fg = read_libdai(io.StringIO(fg_text.getvalue()))
    assert_same_model(fg, via_fg)
    uai_text = io.StringIO()
    write_uai(via_fg, uai_text)
    assert_same_model(fg, read_uai(io.StringIO(uai_text.getvalue())))
    assert log_z(via_fg) == pytest.approx(math.log(raw.partition()), rel=1e-12)


def test_variables_without_factors_are_kept():
    fg = FactorGraph()
    for name in range(3):
        fg.add_variable(name, 2 + name)
    fg.add_factor([0, 2], np.zeros((2, 4)))
    buf = io.StringIO()
    write_libdai(fg, buf)
    back = read_libdai(io.StringIO(buf.getvalue()))
    assert back.var_states.tolist() == [2, 3, 4]
    assert log_z(back) == pytest.approx(math.log(2 * 3 * 4))


def test_non_integer_names_are_written_as_flat_ids():
    fg = FactorGraph()
    x = fg.add_variables("x", shape=2, states=2)
    fg.add_factor_group(np.array([x.ids]), [[0.0, 1.0], [2.0, 0.0]])
    buf = io.StringIO()
    write_libdai(fg, buf)
    back = read_libdai(io.StringIO(buf.getvalue()))
    assert [b.name for b in back.variable_blocks] == [0, 1]
    assert infer(back, beta=np.inf, method="enumerate").map_energy == 0.0
    assert log_z(back) == pytest.approx(log_z(fg))


def test_constant_factor():
    # factor 0 has no variables: a constant 5 that scales Z
    text = "2\n\n0\n\n\n1\n0 5.0\n\n1\n0\n2\n2\n0 1\n1 3\n"
    fg = read_libdai(io.StringIO(text))
    assert fg.var_states.tolist() == [2]
    assert log_z(fg) == pytest.approx(math.log(5.0 * 4.0))

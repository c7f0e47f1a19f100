"""UAI models: hand-written files with known answers, BAYES networks, round trips."""

import gzip
import io
import math

import numpy as np
import pytest

from factorgraph_ebm import FactorGraph, FactorGraphError, energy, infer
from factorgraph_ebm.io import read_uai, write_uai
from factorgraph_ebm.models import potts_grid
from model_files import chain, grid, tree

# The example of the UAI format pages: X, Y binary, Z ternary, factors (X, Y) and (Y, Z).
SPEC_EXAMPLE = """MARKOV
3
2 2 3
2
2 0 1
2 1 2

4
 0.436 0.564
 0.128 0.872

6
 0.210 0.333 0.457
 0.811 0.000 0.189
"""


def log_z(fg, evidence=None):
    return infer(fg, evidence, method="enumerate", beta=1.0).log_partition


def factor_list(fg):
    """[(scope tuple, energy table)] of every factor, in declaration order."""
    out = []
    for spec in fg.factor_specs:
        tables = np.broadcast_to(spec.energy.table(), (spec.n_factors, *spec.states))
        out += [(tuple(s), t) for s, t in zip(spec.scopes.tolist(), tables)]
    return out


def assert_same_model(a, b, exact=False):
    assert [blk.name for blk in a.variable_blocks] == [blk.name for blk in b.variable_blocks]
    np.testing.assert_array_equal(a.var_states, b.var_states)
    fa, fb = factor_list(a), factor_list(b)
    assert [s for s, _ in fa] == [s for s, _ in fb]
    for (_, ta), (_, tb) in zip(fa, fb):
        np.testing.assert_array_equal(np.isinf(ta), np.isinf(tb))
        if exact:
            np.testing.assert_array_equal(ta, tb)
        else:
            np.testing.assert_allclose(ta[np.isfinite(ta)], tb[np.isfinite(tb)], rtol=1e-13, atol=1e-13)


def round_trip(fg, **kw):
    buf = io.StringIO()
    write_uai(fg, buf, **kw)
    buf.seek(0)
    return read_uai(buf)


def test_spec_example_known_values():
    fg = read_uai(io.StringIO(SPEC_EXAMPLE))
    assert fg.n_vars == 3 and fg.n_factors == 2
    assert fg.var_states.tolist() == [2, 2, 3]
    # the last variable of a scope changes fastest: (Y=1, Z=0) is the 4th entry, 0.811
    assert energy(fg, {0: 0, 1: 1, 2: 0}) == pytest.approx(-math.log(0.564) - math.log(0.811))
    # a zero potential is a forbidden configuration
    assert energy(fg, {0: 1, 1: 1, 2: 1}) == math.inf
    # Z by hand: every row of the (Y, Z) table sums to 1, so Z = sum of the (X, Y) table
    assert log_z(fg) == pytest.approx(math.log(0.436 + 0.564 + 0.128 + 0.872))


def test_scope_order_is_the_table_order():
    # factor over (1, 0): entry order (x1, x0) = (0,0) (0,1) (1,0) (1,1)
    fg = read_uai(io.StringIO("MARKOV 2 2 2 1 2 1 0 4 1 2 3 4"))
    for x0, x1, pot in [(0, 0, 1), (1, 0, 2), (0, 1, 3), (1, 1, 4)]:
        assert energy(fg, {0: x0, 1: x1}) == pytest.approx(-math.log(pot))


def test_comments_and_free_layout_give_the_same_model():
    commented = "c a comment\nc\n" + SPEC_EXAMPLE.replace("6\n", "# six entries\n6\n")
    one_line = " ".join(SPEC_EXAMPLE.split())
    assert_same_model(read_uai(io.StringIO(commented)), read_uai(io.StringIO(SPEC_EXAMPLE)), exact=True)
    assert_same_model(read_uai(io.StringIO(one_line)), read_uai(io.StringIO(SPEC_EXAMPLE)), exact=True)


def test_bayes_network_marginal_and_evidence_probability():
    # A -> B, P(A) = (0.3, 0.7), P(B | A) rows (0.9, 0.1) and (0.2, 0.8)
    text = "BAYES\n2\n2 2\n2\n1 0\n2 0 1\n\n2\n0.3 0.7\n\n4\n0.9 0.1\n0.2 0.8\n"
    fg = read_uai(io.StringIO(text))
    assert fg.graph.graph["uai_network"] == "BAYES"
    res = infer(fg, beta=1.0)
    p_b1 = 0.3 * 0.1 + 0.7 * 0.8
    np.testing.assert_allclose(res.marginal(1), [1 - p_b1, p_b1], atol=1e-12)
    assert res.log_partition == pytest.approx(0.0, abs=1e-12)  # a Bayesian network has Z = 1
    # with evidence B = 1, the partition function is P(B = 1)
    assert log_z(fg, {1: 1}) == pytest.approx(math.log(p_b1))
    # P(A = 1 | B = 1) by Bayes' rule
    post = infer(fg, {1: 1}, beta=1.0).marginal(0)
    assert post[1] == pytest.approx(0.7 * 0.8 / p_b1)


def test_bayes_preamble_survives_a_round_trip():
    text = "BAYES\n2\n2 2\n2\n1 0\n2 0 1\n\n2\n0.3 0.7\n\n4\n0.9 0.1\n0.2 0.8\n"
    fg = read_uai(io.StringIO(text))
    buf = io.StringIO()
    write_uai(fg, buf)
    assert buf.getvalue().startswith("BAYES\n")
    again = read_uai(io.StringIO(buf.getvalue()))
    assert again.graph.graph["uai_network"] == "BAYES"
    assert_same_model(fg, again, exact=True)


def test_writing_bayes_needs_conditional_probability_tables():
    fg = read_uai(io.StringIO(SPEC_EXAMPLE))
    with pytest.raises(FactorGraphError, match="BAYES.*child"):
        write_uai(fg, io.StringIO(), network="BAYES")
    cpt = read_uai(io.StringIO("MARKOV 2 2 2 2 1 0 2 0 1 2 0.3 0.7 4 0.9 0.1 0.2 0.9"))
    with pytest.raises(FactorGraphError, match="not a conditional probability table"):
        write_uai(cpt, io.StringIO(), network="BAYES")
    with pytest.raises(FactorGraphError, match="network must be one of"):
        write_uai(fg, io.StringIO(), network="DIRECTED")


def test_constant_factor_scales_the_partition_function():
    base = "MARKOV 2 2 2 1 2 0 1 4 1 2 3 4"
    with_const = "MARKOV 2 2 2 2 2 0 1 0 4 1 2 3 4 1 5.0"
    assert log_z(read_uai(io.StringIO(with_const))) == pytest.approx(math.log(5.0 * 10.0))
    assert log_z(read_uai(io.StringIO(base))) == pytest.approx(math.log(10.0))


@pytest.mark.parametrize("make", [chain, tree, grid])
def test_hand_made_models_read_back_with_the_brute_force_partition(make):
    raw = make(np.random.default_rng(1), zero_prob=0.1)
    fg = read_uai(io.StringIO(raw.uai_text()))
    assert log_z(fg) == pytest.approx(math.log(raw.partition()), rel=1e-12)
    for assignment in np.random.default_rng(2).integers(0, 2, size=(5, len(raw.cards))):
        pot = raw.potential(assignment)
        e = energy(fg, assignment)
        assert (e == math.inf) if pot == 0 else e == pytest.approx(-math.log(pot))


@pytest.mark.parametrize("seed", range(4))
def test_read_write_read_is_the_same_model(seed):
    rng = np.random.default_rng(seed)
    raw = [chain, tree, grid][seed % 3](rng, zero_prob=0.2)
    fg = read_uai(io.StringIO(raw.uai_text()))
    once = round_trip(fg)
    assert_same_model(fg, once)
    assert_same_model(once, round_trip(once), exact=True)  # a fixed point after one trip


def test_writes_any_factor_graph_arrays_and_shared_tables():
    rng = np.random.default_rng(3)
    fg = potts_grid(rng.uniform(0, 2, size=(2, 3, 3)), 0.7)
    back = round_trip(fg)
    assert back.n_vars == 6 and back.n_factors == fg.n_factors
    assert log_z(back) == pytest.approx(log_z(fg), rel=1e-12)
    assert infer(back, beta=np.inf, method="enumerate").map_energy == pytest.approx(
        infer(fg, beta=np.inf, method="enumerate").map_energy)


def test_energies_without_a_float_potential_are_refused():
    fg = FactorGraph()
    fg.add_variable("a", 2)
    fg.add_factor(["a"], [0.0, -800.0])
    with pytest.raises(FactorGraphError, match="factor 'f0': energy -800.0 has no finite non-zero potential"):
        write_uai(fg, io.StringIO())


def test_gzip_and_paths(tmp_path):
    raw = tree(np.random.default_rng(5))
    plain = tmp_path / "tree.uai"
    plain.write_text(raw.uai_text())
    packed = tmp_path / "tree.uai.gz"
    write_uai(read_uai(plain), packed)
    with gzip.open(packed, "rt") as fh:
        assert fh.readline() == "MARKOV\n"
    assert_same_model(read_uai(plain), read_uai(packed))

"""bp.min_sum_from: sequential min-sum from given messages, the best decode of its chunks kept."""

import warnings

import numpy as np
import pytest

from factorgraph_ebm import ConvergenceWarning, compile_graph, infer
from factorgraph_ebm.inference.bp import min_sum_from
from factorgraph_ebm.inference.decoding import argmax_states, decode_map, lexicographic_energies
from random_models import random_forest, random_graph


def _energy(cg, state):
    n_inf, finite = lexicographic_energies(cg, state)
    return int(n_inf[0]), float(finite[0])


@pytest.mark.parametrize("seed", range(20))
def test_exact_on_forests(seed):
    """From zero messages min-sum BP is exact on a forest: the decode is a minimum-energy assignment."""
    rng = np.random.default_rng(seed)
    cg = compile_graph(random_forest(rng, 8, inf_prob=0.0))
    state = min_sum_from(cg, np.zeros(cg.n_messages), 30)
    exact = infer(cg, method="exact", beta=np.inf)
    assert float(cg.factor_energies(state).sum()) == pytest.approx(exact.map_energy, abs=1e-9)


@pytest.mark.parametrize("seed", range(20))
def test_more_sweeps_never_decode_worse(seed):
    """The best decode over chunks is kept: a larger budget (the same first chunk, then more) is never worse."""
    rng = np.random.default_rng(100 + seed)
    cg = compile_graph(random_graph(rng, 9, 14, inf_prob=0.05))
    start = rng.normal(size=cg.n_messages)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        one = min_sum_from(cg, start, 5, chunk=5)
        many = min_sum_from(cg, start, 60, chunk=5, patience=12)
    assert _energy(cg, many) <= _energy(cg, one)


def test_no_sweeps_decodes_the_messages_given():
    """max_sweeps=0: the decode of the starting messages themselves."""
    rng = np.random.default_rng(7)
    cg = compile_graph(random_graph(rng, 8, 12, inf_prob=0.0))
    start = rng.normal(size=cg.n_messages)
    from factorgraph_ebm.inference.bp import _Messages, _kernels, _sweeps, _seed_state
    etables, block_min = _kernels._exp_tables(cg.wiring, np.inf)
    msgs = _Messages(cg, etables, block_min)
    msgs.f2v[:] = start
    _sweeps(cg, np.inf, msgs, "sequential", 0.0, 1e-9, 0, _seed_state(None))     # beliefs of ``start``
    expected = decode_map(cg, start, argmax_states(cg, -msgs.belief))
    np.testing.assert_array_equal(min_sum_from(cg, start, 0), expected)

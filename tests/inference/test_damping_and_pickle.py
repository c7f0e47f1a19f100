"""Loopy BP defaults (damping="auto") and results that pickle."""

import os
import pathlib
import pickle
import subprocess
import sys
import warnings

import numpy as np
import pytest

from factorgraph_ebm import ConvergenceWarning, compile_graph, infer
from factorgraph_ebm.inference import bp as bp_module
from factorgraph_ebm.models import potts_grid
from random_models import random_graph


def _oscillating_grid():
    """A 10 x 10 binary Potts grid on which undamped min-sum oscillates (no convergence in 1000 sweeps)."""
    rng = np.random.default_rng(0)
    return potts_grid(rng.normal(0.0, 1.0, (10, 10, 2)), 1.0)


def test_auto_damping_converges_where_undamped_min_sum_oscillates():
    fg = _oscillating_grid()
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        auto = infer(fg, beta=np.inf, method="bp")        # the default: damping="auto"
    with pytest.warns(ConvergenceWarning, match="damping 0"):
        plain = infer(fg, beta=np.inf, method="bp", damping=0.0)
    assert auto.converged and auto.damping == bp_module.AUTO_DAMPING and auto.schedule == "flood"
    assert not plain.converged and plain.n_iter == 1000
    assert auto.n_iter > bp_module.AUTO_UNDAMPED_ITERATIONS
    # the damped fixed point decodes to a lower energy than the oscillating run
    assert auto.map_energy < plain.map_energy
    assert "damping=0.5" in repr(auto)


def test_auto_damping_keeps_the_undamped_run_when_it_converges():
    rng = np.random.default_rng(3)
    fg = random_graph(rng, 8, 12, inf_prob=0.0, scale=0.5)
    auto = infer(fg, beta=1.0, method="bp")
    plain = infer(fg, beta=1.0, method="bp", damping=0.0)
    assert auto.converged and auto.damping == 0.0
    assert auto.n_iter == plain.n_iter
    np.testing.assert_array_equal(auto.marginal_array, plain.marginal_array)


def test_auto_damping_switch_continues_from_the_undamped_messages(monkeypatch):
    """With the switch at 0 undamped sweeps, auto is plain damping 0.5 from zero messages."""
    fg = _oscillating_grid()
    monkeypatch.setattr(bp_module, "AUTO_UNDAMPED_ITERATIONS", 0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        auto = infer(fg, beta=np.inf, method="bp")
    damped = infer(fg, beta=np.inf, method="bp", damping=0.5)
    assert auto.damping == 0.5
    np.testing.assert_array_equal(auto.map_state, damped.map_state)


@pytest.mark.parametrize("bad", ["half", -0.1, 1.0, None])
def test_bad_damping_names_the_argument(bad):
    fg = _oscillating_grid()
    with pytest.raises(ValueError, match="damping"):
        infer(fg, beta=1.0, damping=bad)


def _results():
    rng = np.random.default_rng(7)
    loopy = random_graph(rng, 6, 9, inf_prob=0.1)
    chain = potts_grid(rng.normal(size=(1, 5, 3)), 0.7)
    cases = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        for graph, method in [(loopy, "bp"), (loopy, "exact"), (loopy, "enumerate"), (chain, "auto")]:
            for beta in (1.0, np.inf):
                cases.append(infer(graph, beta=beta, method=method))
    return cases


def _same(a, b):
    np.testing.assert_array_equal(a.marginal_array, b.marginal_array)
    np.testing.assert_array_equal(a.free_energies, b.free_energies)
    np.testing.assert_array_equal(a.map_state, b.map_state)          # lazy for beta < inf
    np.testing.assert_allclose(a.factor_marginal_array(), b.factor_marginal_array())
    out_a, out_b = np.zeros(len(a.compiled.wiring.tables) // 2), np.zeros(len(b.compiled.wiring.tables) // 2)
    a.add_factor_marginals(out_a, np.ones(a.compiled.n_factors))
    b.add_factor_marginals(out_b, np.ones(b.compiled.n_factors))
    np.testing.assert_allclose(out_a, out_b)
    assert (a.method, a.beta, a.n_iter, a.converged, a.schedule, a.damping) == \
        (b.method, b.beta, b.n_iter, b.converged, b.schedule, b.damping)


def test_every_kind_of_result_pickles_with_its_lazy_answers():
    for res in _results():
        back = pickle.loads(pickle.dumps(res))
        _same(res, back)


def _solve(seed):
    rng = np.random.default_rng(seed)
    return infer(compile_graph(random_graph(rng, 6, 9, inf_prob=0.0)), beta=1.0, method="bp")


def test_a_result_computed_in_another_process_comes_back_whole(tmp_path):
    """What joblib / multiprocessing workers do: pickle the result in the worker, load it in the parent."""
    path = tmp_path / "result.pkl"
    code = ("import pickle, sys; sys.path.insert(0, sys.argv[1]); from test_damping_and_pickle import _solve; "
            "pickle.dump(_solve(11), open(sys.argv[2], 'wb'))")
    subprocess.run([sys.executable, "-c", code, str(pathlib.Path(__file__).parent), str(path)], check=True,
                   env={**os.environ, "PYTHONPATH": str(pathlib.Path(__file__).parents[1])})
    with open(path, "rb") as fh:
        remote = pickle.load(fh)
    _same(_solve(11), remote)

"""Naive mean field: the lower bound on log Z against brute force, exact cases, fixed points, batches, bad input."""

import itertools
import math
import pickle
import warnings

import numpy as np
import pytest

from factorgraph_ebm import (ConvergenceWarning, DeclarationTypeError, FactorGraph, InferenceError,
                             ZeroPartitionError, compile_graph, infer)
from factorgraph_ebm.inference import mean_field
from factorgraph_ebm.inference.decoding import argmax_states
from factorgraph_ebm.inference.variational import mean_field_free_energies
from factorgraph_ebm.kernels import mean_field as kernels
from random_models import random_evidence, random_graph
from shared_data import UAI_PR_MODELS, shared_data, uai_pr_model

BETAS = [0.3, 1.0, 2.5, 10.0]
N_MODELS = 1000


def _models(seed, n):
    """``n`` small random models (arity up to 4, +inf entries, evidence) with their exact log Z (-inf if Z = 0)."""
    rng = np.random.default_rng(seed)
    out = []
    for i in range(n):
        beta = BETAS[i % len(BETAS)]
        fg = random_graph(rng, int(rng.integers(2, 7)), int(rng.integers(1, 10)), max_states=3, max_arity=4,
                          inf_prob=float(rng.choice([0.0, 0.1, 0.3])))
        ev = random_evidence(rng, fg, 0.2)
        try:
            exact = infer(fg, ev, method="enumerate", beta=beta).log_partition
        except ZeroPartitionError:
            exact = -np.inf
        out.append((fg, ev, beta, exact))
    return out


@pytest.fixture(scope="module")
def models():
    return _models(16, N_MODELS)


def _brute_mf_free_energy(cg, q, beta):
    """``E_q[E] - H(q)/beta`` by walking every joint assignment (0 * inf = 0), independent of the kernels."""
    w = cg.wiring
    ptr = w.var_state_ptr
    expected = 0.0
    for states in itertools.product(*(range(int(k)) for k in w.var_states)):
        s = np.array(states, dtype=np.int64)
        p = float(np.prod(q[ptr[:-1] + s]))
        if p == 0.0:
            continue
        e = float(np.sum(cg.factor_energies(s))) + float(np.sum(cg.unary[ptr[:-1] + s]))
        expected += p * e
    pos = q[q > 0]
    return expected + float(np.sum(pos * np.log(pos))) / beta


def test_bound_on_random_models(models):
    """log_partition_lower_bound <= exact log Z on every one of 1,000 random models (4 batched kernel calls)."""
    checked = finite = 0
    for beta in BETAS:
        picked = [m for m in models if m[2] == beta and m[3] > -np.inf]
        cg = compile_graph([m[0] for m in picked], evidence=[m[1] for m in picked])
        with warnings.catch_warnings():
            warnings.simplefilter("error", ConvergenceWarning)
            res = mean_field(cg, beta)
        lower = np.asarray(res.log_partition_lower_bound)
        exact = np.array([m[3] for m in picked])
        assert not np.isnan(lower).any()
        bad = np.flatnonzero(lower > exact + 1e-9)
        assert not len(bad), f"beta={beta}: bound above log Z for models {bad}: {lower[bad]} > {exact[bad]}"
        np.testing.assert_array_equal(res.free_energy_upper, res.free_energies)
        assert (np.asarray(res.free_energy) >= -exact / beta - 1e-9).all()    # F_MF >= F
        # q: probability vectors, exactly 0 on the states the evidence rules out
        q = res.marginal_array
        ptr = cg.wiring.var_state_ptr
        assert not np.isnan(q).any() and (q >= 0).all()
        np.testing.assert_allclose(np.add.reduceat(q, ptr[:-1]), 1.0, atol=1e-12)
        assert (q[np.isinf(cg.unary)] == 0.0).all()
        checked += len(picked)
        finite += int(np.isfinite(lower).sum())
    assert checked > 0.7 * N_MODELS
    assert finite == checked    # on these small models one of the two starts always finds a finite bound


def test_zero_partition_models(models):
    """Where Z = 0 the bound is -inf (or a dead variable is reported), never NaN or finite."""
    zero = [m for m in models if m[3] == -np.inf]
    assert len(zero) > 20
    for fg, ev, beta, _ in zero:
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", ConvergenceWarning)   # an infeasible model may keep q moving
                res = infer(fg, ev, method="mean-field", beta=beta)
        except ZeroPartitionError:
            continue
        assert res.log_partition_lower_bound == -np.inf


def test_free_energy_is_exact_for_q(models):
    """F_MF of the returned q equals a brute-force E_q[E] - H(q)/beta (so the bound is of this q, not an estimate)."""
    for fg, ev, beta, exact in models[:120]:
        if exact == -np.inf:
            continue
        cg = compile_graph(fg, evidence=ev)
        res = mean_field(cg, beta)
        brute = _brute_mf_free_energy(cg, res.marginal_array, beta)
        assert res.free_energy == pytest.approx(brute, rel=1e-10, abs=1e-10)
        # and of an arbitrary (non-converged) q: the bound holds for every q
        rng = np.random.default_rng(len(cg.unary))
        q = rng.random(len(cg.unary)) * np.isfinite(cg.unary)
        q /= np.repeat(np.add.reduceat(q, cg.wiring.var_state_ptr[:-1]), cg.wiring.var_states)
        f = float(mean_field_free_energies(cg, beta, q)[0])
        assert f == pytest.approx(_brute_mf_free_energy(cg, q, beta), rel=1e-10, abs=1e-10)
        assert -beta * f <= exact + 1e-9


def _sweep(cg, beta, q):
    n_iter = np.zeros(cg.n_graphs, dtype=np.int64)
    delta = np.zeros(cg.n_graphs)
    kernels._sweeps(cg.wiring, cg.unary, beta, 0.0, 1, cg.graph_var_ptr, q, n_iter, delta)
    return float(delta.max())


def test_sweeps_never_raise_the_free_energy(models):
    """Each sequential sweep lowers F_MF or leaves it (coordinate ascent), and the returned q is a fixed point."""
    for fg, ev, beta, exact in models[:200]:
        if exact == -np.inf:
            continue
        cg = compile_graph(fg, evidence=ev)
        field = np.empty(len(cg.unary))
        kernels._unary_field(cg.wiring, cg.unary, field)
        q = np.exp(-beta * (field - np.repeat(np.minimum.reduceat(field, cg.wiring.var_state_ptr[:-1]),
                                              cg.wiring.var_states)))
        q /= np.repeat(np.add.reduceat(q, cg.wiring.var_state_ptr[:-1]), cg.wiring.var_states)
        prev = float(mean_field_free_energies(cg, beta, q)[0])
        for _ in range(20):
            _sweep(cg, beta, q)
            f = float(mean_field_free_energies(cg, beta, q)[0])
            if np.isfinite(prev):
                assert f <= prev + 1e-12 * max(1.0, abs(prev))
            prev = f
        res = mean_field(cg, beta)
        q = res.marginal_array.copy()
        change = _sweep(cg, beta, q)
        assert change <= 1e-6
        assert float(mean_field_free_energies(cg, beta, q)[0]) >= res.free_energy - 1e-9


def test_exact_on_independent_variables():
    """Only one-variable factors (and evidence): mean field is exact, bound == log Z, marginals exact."""
    rng = np.random.default_rng(3)
    fg = FactorGraph()
    for v in range(6):
        fg.add_variable(f"v{v}", int(rng.integers(1, 5)))
    for v in range(6):
        k = fg.var_states[v]
        for _ in range(2):
            table = rng.normal(size=k)
            table[rng.random(k) < 0.2] = np.inf
            table[0] = 0.0
            fg.add_factor([f"v{v}"], table)
    ev = {"v1": 0}
    for beta in BETAS:
        res = infer(fg, ev, method="mean-field", beta=beta)
        ref = infer(fg, ev, method="enumerate", beta=beta)
        assert res.converged and res.n_iter <= 2
        assert res.log_partition_lower_bound == pytest.approx(ref.log_partition, abs=1e-12)
        np.testing.assert_allclose(res.marginal_array, ref.marginal_array, atol=1e-14)
        np.testing.assert_allclose(res.factor_marginal_array(), ref.factor_marginal_array(), atol=1e-14)


@pytest.mark.parametrize("name", UAI_PR_MODELS)
def test_bound_on_uai_pr_models(name):
    """The bound is below the official ln Z (log10 Z x ln 10, plus half a unit of its last printed digit)."""
    cg, task, log10_z, rounding = uai_pr_model(name)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)   # linkage_11 does not converge; the bound holds
        res = mean_field(cg, 1.0)
    assert task == "PR"
    lower = res.log_partition_lower_bound
    assert not math.isnan(lower)
    assert lower <= (log10_z + rounding) * math.log(10.0) + 1e-9


@pytest.mark.parametrize("name", ["Grids_12", "Promedus_15", "Promedus_16", "Segmentation_14"])
def test_bound_against_the_junction_tree_on_uai_pr_models(name):
    """Where exact inference is fast, the bound is below the exact ln Z (no rounding allowance)."""
    from factorgraph_ebm.io import read_evidence, read_uai

    path = shared_data("uai2014_dev", "PR", name + ".uai")
    fg = read_uai(path)
    cg = compile_graph(fg, evidence=read_evidence(str(path) + ".evid", fg))
    exact = infer(cg, method="exact").log_partition
    lower = mean_field(cg, 1.0).log_partition_lower_bound
    assert exact - 30.0 < lower <= exact + 1e-9     # measured gaps: 22.0, 9.0, 28.1, 2.6


def test_unconnected_variables():
    """Variables without factors: exact (log of the allowed state count), evidence a point mass."""
    fg = FactorGraph()
    fg.add_variable("a", 3)
    fg.add_variable("b", 4)
    res = infer(fg, {"a": 2}, method="mean-field", beta=0.7)
    assert res.log_partition_lower_bound == pytest.approx(np.log(4.0), abs=1e-14)
    np.testing.assert_array_equal(res.marginal("a"), [0.0, 0.0, 1.0])


def test_batch_matches_single_graphs(models):
    """Per-graph answers of a batch are those of single-graph runs (graphs converge independently)."""
    picked = [m for m in models if m[2] == 1.0 and m[3] > -np.inf][:30]
    cg = compile_graph([m[0] for m in picked], evidence=[m[1] for m in picked])
    batch = mean_field(cg, 1.0)
    for g, (fg, ev, _, _) in enumerate(picked):
        single = mean_field(compile_graph(fg, evidence=ev), 1.0)
        assert batch.free_energies[g] == single.free_energy
        lo, hi = cg.wiring.var_state_ptr[cg.graph_var_ptr[g]], cg.wiring.var_state_ptr[cg.graph_var_ptr[g + 1]]
        np.testing.assert_array_equal(batch.marginal_array[lo:hi], single.marginal_array)
        v0, v1 = cg.graph_var_ptr[g], cg.graph_var_ptr[g + 1]
        np.testing.assert_array_equal(batch.map_state[v0:v1], single.map_state)


def test_factor_marginals_map_and_pickle():
    """Factor marginals are products of q; map_state is the argmax of q improved by local search; results pickle."""
    rng = np.random.default_rng(5)
    fg = random_graph(rng, 6, 9, max_states=3, max_arity=3, inf_prob=0.1)
    cg = compile_graph(fg)
    res = pickle.loads(pickle.dumps(mean_field(cg, 2.0)))
    q = res.marginal_array
    ptr = cg.wiring.var_state_ptr
    for spec in fg.factor_specs:
        first, count = cg.factor_range(spec.name)
        for f in range(first, first + count):
            scope = cg.wiring.edge_var[cg.wiring.factor_edge_ptr[f]:cg.wiring.factor_edge_ptr[f + 1]]
            outer = np.ones(())
            for v in scope:
                outer = np.multiply.outer(outer, q[ptr[v]:ptr[v + 1]])
            np.testing.assert_allclose(res.factor_marginal_array()[cg.factor_entry_ptr[f]:cg.factor_entry_ptr[f + 1]],
                                       outer.ravel(), atol=1e-15)
    np.testing.assert_allclose(np.sum(res.factor_marginal(fg.factor_specs[0].name)), 1.0)
    assert res.map_energy <= cg.energy(argmax_states(cg, q))
    out = np.zeros(len(cg.wiring.tables) // 2)
    res.add_factor_marginals(out, np.ones(cg.n_factors))
    assert out.sum() == pytest.approx(cg.n_factors)


def test_bad_input_and_warnings():
    fg = FactorGraph()
    _ = fg.add_variable("a", 2), fg.add_variable("b", 2), fg.add_variable("c", 2)
    for pair in (["a", "b"], ["b", "c"], ["a", "c"]):
        fg.add_factor(pair, [[0.0, 2.0], [2.0, 0.0]])
    with pytest.raises(InferenceError, match="mean-field.*finite beta"):
        infer(fg, method="mean-field", beta=np.inf)
    with pytest.raises(InferenceError, match="schedule"):
        infer(fg, method="mean-field", schedule="flood")
    with pytest.raises(DeclarationTypeError, match="CompiledGraph"):
        mean_field(fg, 1.0)
    with pytest.raises(InferenceError, match="tol"):
        mean_field(compile_graph(fg), 1.0, tol=-1.0)
    exact = infer(fg, method="enumerate", beta=3.0).log_partition
    with pytest.warns(ConvergenceWarning, match="mean field did not converge"):
        res = infer(fg, method="mean-field", beta=3.0, max_iter=1, tol=0.0)
    assert not res.converged and res.log_partition_lower_bound <= exact
    fg.add_factor(["c"], [np.inf, np.inf])
    with pytest.raises(ZeroPartitionError, match="'c'"):
        infer(fg, method="mean-field")

"""Tree-reweighted message passing: the bounds against brute force and official answers, exact cases, TRW-S."""

import math
import pickle
import warnings

import numpy as np
import pytest

from factorgraph_ebm import (ConvergenceWarning, FactorGraph, InferenceError, ZeroPartitionError, compile_graph,
                             infer)
from factorgraph_ebm.inference.reweighted import forest_cover, trw
from factorgraph_ebm.models import potts_grid
from random_models import random_evidence, random_forest, random_graph
from shared_data import UAI_PR_MODELS, uai_pr_model

BETAS = [0.3, 1.0, 2.5, np.inf]
N_MODELS = 1000


def _models(seed, n):
    """``n`` small random loopy models (arity up to 4, +inf entries, evidence) with their exact free energy."""
    rng = np.random.default_rng(seed)
    out = []
    for i in range(n):
        beta = BETAS[i % len(BETAS)]
        fg = random_graph(rng, int(rng.integers(2, 7)), int(rng.integers(1, 10)), max_states=3, max_arity=4,
                          inf_prob=float(rng.choice([0.0, 0.1, 0.3])))
        ev = random_evidence(rng, fg, 0.2)
        try:
            ref = infer(fg, ev, method="enumerate", beta=beta)
            exact = ref.map_energy if beta == np.inf else ref.free_energy
        except ZeroPartitionError:
            exact = np.inf
        out.append((fg, ev, beta, exact))
    return out


@pytest.fixture(scope="module")
def models():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")     # models with Z = 0 warn in the oracle
        return [m for m in _models(26, N_MODELS) if not np.isnan(m[3])]


def _batch(picked):
    return compile_graph([m[0] for m in picked], evidence=[m[1] for m in picked])


def _feasible(picked):
    """The models with a variable left a state by the evidence and its one-variable factors."""
    keep = []
    for m in picked:
        cg = compile_graph(m[0], evidence=m[1])
        field = np.array(cg.unary)
        w = cg.wiring
        for f in np.flatnonzero(np.diff(w.factor_edge_ptr) == 1):
            v = w.edge_var[w.factor_edge_ptr[f]]
            t0 = w.block_ptr[w.factor_block[f]]
            field[w.var_state_ptr[v]:w.var_state_ptr[v + 1]] += w.tables[t0:t0 + w.var_states[v]]
        if (np.minimum.reduceat(field, w.var_state_ptr[:-1]) < np.inf).all():
            keep.append(m)
    return keep


def test_bound_on_random_models(models):
    """F >= free_energy_lower on 1,000 random models (log Z <= bound; min E >= bound at beta = inf), batched."""
    checked = 0
    for beta in BETAS:
        picked = _feasible([m for m in models if m[2] == beta])
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            res = trw(_batch(picked), beta)
        lower = np.asarray(res.free_energy_lower)
        exact = np.array([m[3] for m in picked])
        assert not np.isnan(lower).any()
        slack = 1e-9 * np.maximum(1.0, np.abs(np.where(np.isfinite(exact), exact, 0.0)))
        bad = np.flatnonzero(lower > exact + slack)
        assert not len(bad), f"beta={beta}: bound above F for models {bad}: {lower[bad]} > {exact[bad]}"
        assert (np.isinf(exact) == np.isinf(lower)).mean() > 0.9    # infeasibility is mostly proven
        if beta == np.inf:
            energy = np.asarray(res.map_energy)
            assert (energy >= exact - 1e-9).all()
            np.testing.assert_array_equal(res.free_energy_upper, energy)
            finite = np.isfinite(exact)
            assert (energy[finite] <= exact[finite] + 1e-9).mean() > 0.9     # decoded optimum on most
        else:
            assert res.log_partition_bound is not None
            lz = -beta * exact
            ub = np.asarray(res.log_partition_bound)
            assert (ub >= lz - 1e-9 * np.maximum(1.0, np.abs(np.where(np.isfinite(lz), lz, 0.0)))).all()
        checked += len(picked)
    assert checked > 0.8 * N_MODELS


@pytest.mark.parametrize("beta", [0.5, 1.0, np.inf])
def test_exact_on_forests(beta):
    """On a forest every factor is in the one forest (rho = 1): TRW is exact BP (free energy, marginals)."""
    rng = np.random.default_rng(3)
    for _ in range(20):
        fg = random_forest(rng, int(rng.integers(2, 8)), inf_prob=0.0)
        cg = compile_graph(fg)
        member, rho, n_forests = forest_cover(cg)
        assert n_forests.tolist() == [1] and (rho == 1.0).all()
        res = trw(cg, beta)
        ref = infer(fg, method="enumerate", beta=beta)
        assert res.converged
        if beta == np.inf:
            assert res.map_energy == pytest.approx(ref.map_energy, abs=1e-9)
            assert res.gap == pytest.approx(0.0, abs=1e-9)
        else:
            assert res.free_energy == pytest.approx(ref.free_energy, abs=1e-9)
            np.testing.assert_allclose(res.marginal_array, ref.marginal_array, atol=1e-9)
            np.testing.assert_allclose(res.factor_marginal_array(), ref.factor_marginal_array(), atol=1e-9)


def test_forest_cover_covers_every_factor():
    """Every factor of arity >= 2 lies in a forest, each forest is acyclic, rho is the share of forests."""
    rng = np.random.default_rng(5)
    for _ in range(30):
        fg = random_graph(rng, int(rng.integers(3, 9)), int(rng.integers(3, 15)), max_states=2, max_arity=3)
        cg = compile_graph(fg)
        member, rho, n_forests = forest_cover(cg)
        assert n_forests.tolist() == [len(member)]
        w = cg.wiring
        arity = np.diff(w.factor_edge_ptr)
        assert (member.any(axis=0) == (arity >= 2)).all()
        np.testing.assert_allclose(rho[arity >= 2], member.mean(axis=0)[arity >= 2])
        for m in member:    # acyclic: each factor joins variables of distinct components
            parent = list(range(cg.n_vars))

            def find(u):
                while parent[u] != u:
                    u = parent[u]
                return u
            for g in np.flatnonzero(m):
                vs = [int(u) for u in w.edge_var[w.factor_edge_ptr[g]:w.factor_edge_ptr[g + 1]]]
                roots = {find(u) for u in vs}
                assert len(roots) == len(vs)
                for r in roots:
                    parent[r] = find(vs[0])


@pytest.mark.parametrize("name", UAI_PR_MODELS)
def test_bound_on_uai_pr_models(name):
    """TRW's bound is above the official ln Z (log10 Z x ln 10, less half a unit of its last printed digit)."""
    cg, task, log10_z, rounding = uai_pr_model(name)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        res = trw(cg, 1.0, max_iter=20)   # the bound holds after any number of iterations
    assert task == "PR"
    upper = res.log_partition_bound
    assert not math.isnan(upper)
    assert upper >= (log10_z - rounding) * math.log(10.0) - 1e-9


def test_an_infeasible_decode_does_not_stop_trws():
    """linkage_13 (UAI 2014 MAR, with evidence): TRW-S's first sequential decodes break +inf entries.

    An energy of +inf once counted as a closed gap (inf - bound <= tol * inf), so the run stopped after 10
    iterations with an infeasible answer; it must go on and return a feasible labelling above the bound.
    """
    from factorgraph_ebm.io import read_evidence, read_uai
    from shared_data import shared_data

    path = shared_data("uai2014_dev", "MAR", "linkage_13.uai")
    fg = read_uai(path)
    cg = compile_graph(fg, evidence=read_evidence(str(path) + ".evid", fg))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        res = trw(cg, np.inf, max_iter=40)
    assert res.n_iter == 40
    assert np.isfinite(res.map_energy)
    assert res.energy_lower_bound <= res.map_energy


def test_binary_submodular_grid_gap_closes():
    """On a binary submodular (ferromagnetic) grid TRW-S reaches the optimum: the gap closes."""
    rng = np.random.default_rng(11)
    fg = potts_grid(rng.normal(size=(15, 15, 2)), 0.8)
    res = trw(compile_graph(fg), np.inf)
    exact = infer(fg, method="exact", beta=np.inf)
    assert res.converged
    assert res.gap <= 1e-6 * max(1.0, abs(res.map_energy))
    assert res.map_energy == pytest.approx(exact.map_energy, abs=1e-9)


def test_bound_never_decreases_and_beats_bp_on_frustrated_grid():
    """Non-submodular grid: the TRW-S bound is below the exact minimum, its decode no worse than min-sum BP's."""
    rng = np.random.default_rng(12)
    fg = FactorGraph()
    x = fg.add_variables("x", shape=(6, 6), states=3)
    ids = x.ids
    pairs = np.concatenate([np.stack([ids[:, :-1].ravel(), ids[:, 1:].ravel()], 1),
                            np.stack([ids[:-1, :].ravel(), ids[1:, :].ravel()], 1)])
    fg.add_factor_group(pairs, rng.normal(size=(len(pairs), 3, 3)))
    fg.add_factor_group(ids.reshape(-1, 1), rng.normal(size=(ids.size, 3)))
    cg = compile_graph(fg)
    exact = infer(cg, method="exact", beta=np.inf).map_energy
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        short = trw(cg, np.inf, max_iter=10)
        res = trw(cg, np.inf, max_iter=200)
        bp = infer(cg, method="bp", beta=np.inf).map_energy
    assert short.energy_lower_bound <= res.energy_lower_bound <= exact + 1e-9
    assert exact <= res.map_energy <= bp + 1e-9


def _local_polytope_minimum(cg):
    """The LP relaxation of MAP over the local polytope (scipy's HiGHS): the value TRW-S's bound converges to."""
    import scipy.sparse as sp
    from scipy.optimize import linprog

    w = cg.wiring
    n_states = int(w.var_state_ptr[-1])
    sizes = np.diff(w.block_ptr)[w.factor_block]
    fptr = np.concatenate([[0], np.cumsum(sizes)])
    tables = np.concatenate([w.tables[w.block_ptr[b]:w.block_ptr[b] + n] for b, n in zip(w.factor_block, sizes)])
    cost = np.concatenate([cg.unary, tables])
    rows, cols, vals, rhs = [], [], [], []
    for v in range(cg.n_vars):      # sum_x tau_v(x) = 1
        cols += range(w.var_state_ptr[v], w.var_state_ptr[v + 1])
        rows += [len(rhs)] * int(w.var_states[v])
        vals += [1.0] * int(w.var_states[v])
        rhs.append(1.0)
    for f in range(cg.n_factors):   # sum_{x_f : x_v = x} tau_f(x_f) - tau_v(x) = 0
        t = np.arange(sizes[f])
        for e in range(w.factor_edge_ptr[f], w.factor_edge_ptr[f + 1]):
            v, k = w.edge_var[e], w.var_states[w.edge_var[e]]
            for x in range(k):
                entries = n_states + fptr[f] + t[(t // w.edge_stride[e]) % k == x]
                cols += list(entries) + [w.var_state_ptr[v] + x]
                rows += [len(rhs)] * (len(entries) + 1)
                vals += [1.0] * len(entries) + [-1.0]
                rhs.append(0.0)
    A = sp.csr_matrix((vals, (rows, cols)), shape=(len(rhs), len(cost)))
    res = linprog(cost, A_eq=A, b_eq=np.array(rhs), bounds=(0, None), method="highs")
    assert res.status == 0
    return res.fun


@pytest.mark.parametrize("states", [2, 3])
def test_trws_bound_reaches_the_lp_relaxation(states):
    """On random frustrated grids TRW-S's bound converges to the local-polytope LP minimum (scipy HiGHS)."""
    rng = np.random.default_rng(20 + states)
    fg = FactorGraph()
    ids = fg.add_variables("x", shape=(6, 6), states=states).ids
    pairs = np.concatenate([np.stack([ids[:, :-1].ravel(), ids[:, 1:].ravel()], 1),
                            np.stack([ids[:-1, :].ravel(), ids[1:, :].ravel()], 1)])
    fg.add_factor_group(pairs, 3.0 * rng.normal(size=(len(pairs), states, states)))
    fg.add_factor_group(ids.reshape(-1, 1), rng.normal(size=(ids.size, states)))
    cg = compile_graph(fg)
    lp = _local_polytope_minimum(cg)
    res = trw(cg, np.inf)
    assert res.converged
    assert res.energy_lower_bound <= lp + 1e-9 * abs(lp)
    assert res.energy_lower_bound == pytest.approx(lp, rel=1e-6)
    assert res.map_energy >= infer(cg, method="exact", beta=np.inf).map_energy - 1e-9


def test_infeasible_model_is_proven():
    """Constraints that propagate to a contradiction: the bound is +inf (log Z bound -inf at finite beta)."""
    fg = FactorGraph()
    for name in "abc":
        fg.add_variable(name, 2)
    eq = [[0.0, np.inf], [np.inf, 0.0]]
    fg.add_factor(["a", "b"], eq)
    fg.add_factor(["b", "c"], eq)
    fg.add_factor(["a", "c"], [[0.0, 1.0], [1.0, 0.0]])
    fg.add_factor(["a"], [0.0, np.inf])
    fg.add_factor(["c"], [np.inf, 0.0])
    res = infer(fg, method="trw", beta=np.inf)
    assert res.energy_lower_bound == np.inf and res.map_energy == np.inf
    assert infer(fg, method="trw", beta=1.0).log_partition_bound == -np.inf


def test_lp_relaxation_is_a_valid_bound_not_a_proof():
    """An odd cycle of 'not equal' is infeasible but its LP relaxation is not: the bound stays finite (and valid)."""
    fg = FactorGraph()
    for name in "abc":
        fg.add_variable(name, 2)
    neq = [[np.inf, 0.0], [0.0, np.inf]]
    for scope in (["a", "b"], ["b", "c"], ["a", "c"]):
        fg.add_factor(scope, neq)
    res = infer(fg, method="trw", beta=np.inf)
    assert res.energy_lower_bound == pytest.approx(0.0) and res.map_energy == np.inf


def test_batch_matches_single_graphs(models):
    """Per-graph bounds of a batch are those of single-graph runs (graphs run to their own convergence)."""
    picked = _feasible([m for m in models if m[2] == 1.0])[:20]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        batch = trw(_batch(picked), 1.0)
        for g, (fg, ev, _, _) in enumerate(picked):
            single = trw(compile_graph(fg, evidence=ev), 1.0)
            assert batch.free_energy_lower[g] == pytest.approx(single.free_energy, rel=1e-12, abs=1e-12)


def test_method_names_options_and_pickle():
    fg = potts_grid(np.random.default_rng(1).normal(size=(3, 3, 2)), 0.5)
    res = infer(fg, method="trws", beta=np.inf)
    assert res.method == "trws" and res.gap is not None
    default = infer(fg, method="trws")           # beta left out: MAP, the only question TRW-S answers
    assert default.beta == np.inf and default.energy_lower_bound == res.energy_lower_bound
    assert infer(fg, method="trw").beta == 1.0    # every other method: beta = 1 by default
    res = infer(fg, method="trw", beta=1.0)
    assert res.method == "trw" and res.map_state.shape == (9,)
    back = pickle.loads(pickle.dumps(res))
    assert back.log_partition_bound == res.log_partition_bound
    with pytest.raises(InferenceError, match="method='trws' needs beta = inf"):
        infer(fg, method="trws", beta=1.0)
    with pytest.raises(InferenceError, match="schedule='flood' is an option of method='bp'"):
        infer(fg, method="trw", schedule="flood")
    with pytest.warns(ConvergenceWarning, match="the bound still holds"):
        trw(compile_graph(potts_grid(np.random.default_rng(2).normal(size=(8, 8, 3)), -1.0)), 1.0, max_iter=1)


def _mar_model(name):
    from factorgraph_ebm.io import read_evidence, read_uai
    from shared_data import shared_data

    path = shared_data("uai2014_dev", "MAR", name + ".uai")
    fg = read_uai(path)
    return compile_graph(fg, evidence=read_evidence(str(path) + ".evid", fg))


def test_rounding_reaches_the_exact_map_where_trws_converges_slowly():
    """Promedus_15 (UAI 2014 MAR, with evidence): after 300 iterations TRW-S's bound is far from the optimum
    and its own decodes are above it; the min-sum rounding from its messages reaches the exact minimum."""
    cg = _mar_model("Promedus_15")
    exact = infer(cg, method="exact", beta=np.inf).map_energy
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        res = trw(cg, np.inf, max_iter=300)
    assert not res.converged and res.energy_lower_bound < exact - 1.0
    assert res.map_energy == pytest.approx(exact, rel=1e-12)
    assert res.map_energy == pytest.approx(float(cg.factor_energies(res.map_state).sum()), rel=1e-12)

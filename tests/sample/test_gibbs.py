"""Gibbs samplers against exact inference: chi-square tests of marginals and factor-scope joints, both schedules.

Independent draws: many chains from random starts, each run for a burn-in
and its final state kept (one draw per chain), so the counts are multinomial
and a plain chi-square test applies. Every model is checked to be one that
single-site Gibbs can sample (its allowed states connected by single-variable
changes: otherwise no single-site sampler is ergodic). Per model, the tests of
every variable, every factor scope and the full joint are one family at level
1e-3 (Bonferroni: reject when the smallest p-value x the number of tests <
1e-3).
"""

import numba
import numpy as np
import pytest
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components
from scipy.stats import chisquare

from factorgraph_ebm import FactorGraph, SamplingError, compile_graph, gibbs_sample, infer
from factorgraph_ebm.sample import Samples, autocovariance, effective_sample_size, r_hat, run_chains
from factorgraph_ebm.sample.colouring import colouring, interaction_graph
from random_models import random_evidence, random_graph

LEVEL = 1e-3


def _all_states(cg):
    k = cg.wiring.var_states
    grids = np.meshgrid(*[np.arange(s) for s in k], indexing="ij")
    return np.stack([g.ravel() for g in grids], axis=1).astype(np.int64)


def _single_site_connected(cg):
    """Whether the allowed states (finite energy, evidence respected) are connected by one-variable changes."""
    states = _all_states(cg)
    w = cg.wiring
    pos = np.add.reduceat(states[:, w.edge_var] * w.edge_stride, w.factor_edge_ptr[:-1], axis=1) \
        + w.block_ptr[w.factor_block]
    energy = w.tables[pos].sum(axis=1) + cg.unary[w.var_state_ptr[:-1] + states].sum(axis=1)
    ok = np.isfinite(energy)
    if not ok.any():
        return False
    k = w.var_states
    radix = np.concatenate([np.cumprod(k[::-1])[::-1][1:], [1]])
    src, dst = [], []
    for v in range(len(k)):
        for d in range(1, k[v]):
            j = states.copy()
            j[:, v] = (j[:, v] + d) % k[v]
            dst_i = j @ radix
            src.append(np.arange(len(states)))
            dst.append(dst_i)
    src, dst = np.concatenate(src), np.concatenate(dst)
    keep = ok[src] & ok[dst]
    n = len(states)
    graph = coo_matrix((np.ones(keep.sum()), (src[keep], dst[keep])), shape=(n, n))
    n_comp, labels = connected_components(graph, directed=False)
    return len(np.unique(labels[ok])) == 1


def _model(seed, n_vars, n_factors, max_states=3, max_arity=4, inf_prob=0.1, ev_prob=0.2):
    """A random model (with +inf entries and evidence) that single-site Gibbs can sample; seed moves on until one."""
    for attempt in range(50):
        rng = np.random.default_rng([seed, attempt])
        fg = random_graph(rng, n_vars, n_factors, max_states=max_states, max_arity=max_arity, inf_prob=inf_prob,
                          scale=1.5)
        ev = random_evidence(rng, fg, ev_prob)
        try:
            cg = compile_graph(fg, evidence=ev)
        except Exception:  # noqa: BLE001 - evidence out of a factor's range is not possible here; be safe
            continue
        if _single_site_connected(cg):
            return fg, ev, cg
    raise AssertionError("no samplable model found")


def _chi2(counts, probs):
    """p-value of observed ``counts`` against ``probs`` (cells of expected count < 5 pooled into one)."""
    counts = np.asarray(counts, dtype=np.float64).ravel()
    probs = np.asarray(probs, dtype=np.float64).ravel()
    n = counts.sum()
    assert counts[probs == 0].sum() == 0, "a state of probability 0 was sampled"
    exp = n * probs
    big = exp >= 5
    obs = list(counts[big])
    ex = list(exp[big])
    if (~big).any() and exp[~big].sum() > 0:
        obs.append(counts[~big].sum())
        ex.append(exp[~big].sum())
    if len(obs) < 2:
        return 1.0
    ex = np.array(ex)
    return chisquare(obs, ex * (sum(obs) / ex.sum())).pvalue


def _final_states(cg, n_chains, burn_in, seed, schedule, beta=1.0):
    s = gibbs_sample(cg, n_chains=n_chains, n_draws=1, burn_in=burn_in, seed=seed, schedule=schedule, beta=beta)
    return s, s.states[:, -1, :].astype(np.int64)


def _pvalues(cg, fg, draws, beta=1.0):
    res = infer(cg, method="enumerate", beta=beta)
    pvals = []
    k = cg.wiring.var_states
    for v in range(cg.n_vars):
        if cg.clamped[v] >= 0:
            assert (draws[:, v] == cg.clamped[v]).all()
            continue
        counts = np.bincount(draws[:, v], minlength=k[v])
        pvals.append(_chi2(counts, res.marginal_array[cg.wiring.var_state_ptr[v]:cg.wiring.var_state_ptr[v + 1]]))
    w = cg.wiring
    fm = res.factor_marginal_array()
    for f in range(cg.n_factors):
        scope = w.edge_var[w.factor_edge_ptr[f]:w.factor_edge_ptr[f + 1]]
        if len(scope) < 2 or (cg.clamped[scope] >= 0).all():
            continue
        idx = (draws[:, scope] * w.edge_stride[w.factor_edge_ptr[f]:w.factor_edge_ptr[f + 1]]).sum(axis=1)
        probs = fm[cg.factor_entry_ptr[f]:cg.factor_entry_ptr[f + 1]]
        pvals.append(_chi2(np.bincount(idx, minlength=len(probs)), probs))
    # the full joint
    states = _all_states(cg)
    radix = np.concatenate([np.cumprod(k[::-1])[::-1][1:], [1]])
    energy = np.array([cg.energy(s) for s in states]) + cg.unary[w.var_state_ptr[:-1] + states].sum(axis=1)
    logp = -beta * energy
    p = np.exp(logp - logp[np.isfinite(logp)].max())
    p /= p.sum()
    pvals.append(_chi2(np.bincount(draws @ radix, minlength=len(states)), p))
    return np.array(pvals)


CASES = [(seed, n_vars, n_factors) for seed, (n_vars, n_factors) in
         enumerate([(3, 3), (4, 5), (5, 6), (6, 8), (6, 4), (7, 9), (8, 10), (8, 6), (9, 9), (10, 8)])]


@pytest.mark.parametrize("schedule", ["chromatic", "sequential"])
@pytest.mark.parametrize("seed, n_vars, n_factors", CASES)
def test_marginals_and_factor_joints_match_exact(seed, n_vars, n_factors, schedule):
    fg, ev, cg = _model(seed, n_vars, n_factors)
    _, draws = _final_states(cg, 4000, 60, seed, schedule)
    pvals = _pvalues(cg, fg, draws)
    assert pvals.min() * len(pvals) >= LEVEL, (pvals.min(), len(pvals))


@pytest.mark.parametrize("seed", [100, 101])
def test_twelve_binary_variables_with_arity_four(seed):
    fg, ev, cg = _model(seed, 12, 10, max_states=2, max_arity=4, inf_prob=0.05)
    _, draws = _final_states(cg, 4000, 60, seed, "chromatic")
    pvals = _pvalues(cg, fg, draws)
    assert pvals.min() * len(pvals) >= LEVEL


@pytest.mark.parametrize("schedule", ["chromatic", "sequential"])
@pytest.mark.parametrize("seed, max_states, inf_prob, mode", [(200, 2, 0.0, 1), (201, 2, 0.0, 1), (202, 2, 0.15, 0),
                                                              (203, 4, 0.1, 0)])
def test_pairwise_models_binary_fast_path_and_generic(seed, max_states, inf_prob, mode, schedule):
    from factorgraph_ebm.sample.colouring import sweep_values

    fg, ev, cg = _model(seed, 8, 12, max_states=max_states, max_arity=2, inf_prob=inf_prob)
    if max_states == 2:
        # every variable binary (random_graph may draw 1 state): the fast path needs all free sites binary
        assume_binary = bool((cg.wiring.var_states[cg.clamped < 0] == 2).all())
        mode = mode if assume_binary else 0
    assert int(sweep_values(cg, schedule)[-1]) == mode
    _, draws = _final_states(cg, 4000, 60, seed, schedule)
    pvals = _pvalues(cg, fg, draws)
    assert pvals.min() * len(pvals) >= LEVEL


def test_binary_grid_fast_path_matches_exact():
    from factorgraph_ebm.models import potts_grid
    from factorgraph_ebm.sample.colouring import sweep_values

    rng = np.random.default_rng(1)
    fg = potts_grid(rng.uniform(-1, 1, (3, 4, 2)), 0.8)
    cg = compile_graph(fg, evidence={("x", 0, 0): 1})
    assert int(sweep_values(cg, "chromatic")[-1]) == 1
    _, draws = _final_states(cg, 4000, 60, 1, "chromatic")
    pvals = _pvalues(cg, fg, draws)
    assert pvals.min() * len(pvals) >= LEVEL


def test_the_test_has_power_against_a_wrong_temperature():
    fg, ev, cg = _model(3, 6, 8)
    _, draws = _final_states(cg, 4000, 60, 3, "chromatic", beta=1.6)
    assert _pvalues(cg, fg, draws, beta=1.0).min() < 1e-6


def test_draws_along_chains_match_exact_with_the_ess_corrected_test():
    fg, ev, cg = _model(7, 6, 7)
    s = gibbs_sample(cg, n_chains=4, n_draws=4000, burn_in=50, thin=2, seed=11)
    res = infer(cg, method="enumerate")
    for block in fg.variable_blocks:
        v = cg.var_id(block.name)
        if cg.clamped[v] >= 0:
            continue
        marg = s.marginal(block.name)
        probs = res.marginal(block.name)
        ess = np.nanmin(s.effective_sample_size(block.name)[probs > 0])
        n_eff = min(ess, s.n_chains * s.n_draws)
        p = _chi2(marg * n_eff, probs)
        assert p * fg.n_vars >= LEVEL, (block.name, marg, probs, ess)


def test_same_chains_with_one_and_two_threads_and_any_chunking():
    rng = np.random.default_rng(5)
    fg = FactorGraph()
    x = fg.add_variables("x", shape=(24, 25), states=3)
    fg.add_factor_group(x.ids.reshape(-1, 1), rng.uniform(0, 1, (600, 3)))
    h = np.stack([x.ids[:, :-1].ravel(), x.ids[:, 1:].ravel()], 1)
    v = np.stack([x.ids[:-1, :].ravel(), x.ids[1:, :].ravel()], 1)
    fg.add_factor_group(h, rng.uniform(0, 1, (len(h), 3, 3)))
    fg.add_factor_group(v, rng.uniform(0, 1, (len(v), 3, 3)))
    fg.add_factor_group(np.stack([x.ids[0, :-2], x.ids[0, 1:-1], x.ids[0, 2:]], 1), rng.uniform(0, 2, (3, 3, 3)))
    cg = compile_graph(fg, evidence={("x", 3, 3): 1})
    before = numba.get_num_threads()
    out = {}
    try:
        for threads in (1, 2):
            numba.set_num_threads(threads)
            for schedule in ("chromatic", "sequential"):
                s = gibbs_sample(cg, n_chains=64, n_draws=3, burn_in=2, seed=9, schedule=schedule)
                out[threads, schedule] = s.states
    finally:
        numba.set_num_threads(before)
    for schedule in ("chromatic", "sequential"):
        np.testing.assert_array_equal(out[1, schedule], out[2, schedule])
    assert (out[1, "chromatic"][:, :, cg.var_id(("x", 3, 3))] == 1).all()


def test_continuing_a_chain_equals_one_long_run():
    fg, ev, cg = _model(2, 6, 7)
    s = gibbs_sample(cg, n_chains=3, n_draws=10, burn_in=5, seed=4)
    states = s.states[:, 2, :].copy()       # after sweep 5 + 3
    rec = run_chains(cg, states, beta=1.0, n_sweeps=7, seed=4, first_sweep=8, record_every=1)
    np.testing.assert_array_equal(rec, s.states[:, 3:, :])
    np.testing.assert_array_equal(states, s.last)
    ids = run_chains(cg, np.ascontiguousarray(s.states[[1], 2, :]), beta=1.0, n_sweeps=7, seed=4, first_sweep=8,
                     chain_ids=[1], record_every=7)
    np.testing.assert_array_equal(ids[0, 0], s.last[1])


def test_a_chain_started_in_a_forbidden_state_moves_out():
    fg = FactorGraph()
    x = fg.add_variables("x", shape=5, states=3)
    differ = np.where(np.eye(3, dtype=bool), np.inf, 0.0)
    fg.add_factor_group(np.stack([x.ids[:-1], x.ids[1:]], 1), differ)
    fg.add_factor([("x", 0), ("x", 2), ("x", 4)], np.where(np.zeros((3, 3, 3)) == 0, 0.5, 0.0))
    cg = compile_graph(fg)
    init = np.zeros((3, 5), dtype=np.int32)          # every neighbour equal: +inf energy
    assert np.isinf(cg.energy(init[0]))
    s = gibbs_sample(cg, init=init, n_chains=3, n_draws=5, burn_in=0, seed=1)
    assert np.isfinite(s.energies()).all()


def test_a_variable_with_no_allowed_state_raises_and_leaves_the_states():
    fg = FactorGraph()
    fg.add_variable("a", 2)
    fg.add_variable("b", 2)
    fg.add_factor(["a", "b"], [[np.inf, np.inf], [np.inf, 0.0]])
    cg = compile_graph(fg, evidence={"a": 0})           # given a = 0, b has no allowed state
    states = np.zeros((2, 2), dtype=np.int32)
    states[1, 1] = 1
    with pytest.raises(SamplingError, match="chain 0 is stuck .* variable 'b' has no allowed state"):
        run_chains(cg, states, beta=1.0, n_sweeps=3, seed=0)
    assert states.tolist() == [[0, 0], [0, 1]]
    with pytest.raises(SamplingError, match="probability zero: factor 'f0'"):
        gibbs_sample(fg, {"a": 0, "b": 0}, seed=0)
    # free, from the forbidden (0, 0): the chain finds the one allowed state (1, 1)
    s = gibbs_sample(fg, init=[0, 0], n_chains=2, n_draws=3, burn_in=10, seed=0)
    assert (s.states == 1).all()
    fg.add_factor(["a"], [np.inf, np.inf])
    with pytest.raises(SamplingError, match="variable 'a' has no allowed state"):
        gibbs_sample(fg, seed=0)


@pytest.mark.parametrize("kwargs, match", [
    (dict(beta=0.0), "beta must be a finite number > 0"),
    (dict(beta=-1.0), "beta must be a finite number > 0"),
    (dict(beta=np.inf), r"use infer\(beta=inf\) for MAP"),
    (dict(beta=np.nan), "beta must be a finite number > 0, got nan"),
    (dict(beta="1"), "beta must be a finite number"),
    (dict(n_chains=0), "n_chains must be an int >= 1, got 0"),
    (dict(n_chains=2.0), "n_chains must be an int >= 1"),
    (dict(n_draws=0), "n_draws must be an int >= 1"),
    (dict(burn_in=-1), "burn_in must be an int >= 0"),
    (dict(thin=0), "thin must be an int >= 1"),
    (dict(seed=-3), r"seed must be None, a numpy Generator or an int in \[0, 2\^63\)"),
    (dict(seed=1.5), "seed must be"),
    (dict(schedule="random"), "schedule must be one of"),
    (dict(init="map"), "init must be 'random'"),
    (dict(init=np.zeros((3, 2), dtype=np.int64)), r"init must be .* shape \(4, 2\) or \(2,\)"),
    (dict(init=np.array([0, 2])), r"init: variable 'b' state 2 out of range \[0, 2\)"),
    (dict(init=np.zeros(2)), "init must be"),
    (dict(init={"c": 1}), "init: evidence names unknown variable 'c'"),
    (dict(progress="yes"), "progress must be"),
])
def test_bad_arguments_are_refused_with_clear_errors(kwargs, match):
    fg = FactorGraph()
    fg.add_variable("a", 2)
    fg.add_variable("b", 2)
    fg.add_factor(["a", "b"], [[0.0, 1.0], [1.0, 0.0]])
    with pytest.raises(SamplingError, match=match):
        gibbs_sample(fg, **kwargs)


def test_run_chains_refuses_bad_states():
    fg = FactorGraph()
    fg.add_variable("a", 2)
    cg = compile_graph(fg)
    for bad in (np.zeros((2, 1), dtype=np.int64), np.zeros((2, 2), dtype=np.int32), [[0]],
                np.zeros((4, 1), dtype=np.int32)[::2]):
        with pytest.raises(SamplingError, match="states must be a writable C-contiguous int32 array"):
            run_chains(cg, bad, beta=1.0, n_sweeps=1, seed=0)
    with pytest.raises(SamplingError, match="chain 1: state 5 of variable 'a' out of range"):
        run_chains(cg, np.array([[0], [5]], dtype=np.int32), beta=1.0, n_sweeps=1, seed=0)


def test_samples_api_shapes_and_estimates():
    fg = FactorGraph()
    x = fg.add_variables("x", shape=(2, 3), states=3)
    fg.add_variable("s", 2)
    fg.add_factor_group(np.stack([x.ids[:, :-1].ravel(), x.ids[:, 1:].ravel()], 1), np.eye(3))
    fg.add_factor([("x", 0, 0), "s"], [[0.0, 1.0], [0.5, 0.0], [0.0, 0.0]])
    s = gibbs_sample(fg, {"s": 1}, n_chains=3, n_draws=40, thin=2, seed=2, init={("x", 1, 2): 2})
    assert isinstance(s, Samples) and s.method == "gibbs-chromatic" and s.n_sweeps == 100 + 80
    assert s.states.dtype == np.int32 and s.states.shape == (3, 40, 7)
    assert s.of(x).shape == (3, 40, 2, 3) and s.of("s").shape == (3, 40) and (s.of("s") == 1).all()
    assert s.of(("x", 1, 2)).shape == (3, 40)
    m = s.marginals()
    assert m["x"].shape == (2, 3, 3) and np.allclose(m["x"].sum(-1), 1) and m["s"].tolist() == [0.0, 1.0]
    e = s.energies()
    ref = np.array([[s.compiled.energy(s.states[c, d]) for d in range(40)] for c in range(3)])
    np.testing.assert_allclose(e, ref)
    assert s.effective_sample_size(x).shape == (2, 3, 3) and s.r_hat("s").shape == (2,)
    assert np.isnan(s.r_hat("s")).all()        # s is clamped: nothing varies
    again = gibbs_sample(fg, {"s": 1}, n_chains=3, n_draws=40, thin=2, seed=2, init={("x", 1, 2): 2})
    np.testing.assert_array_equal(again.states, s.states)
    calls = []
    gibbs_sample(fg, n_chains=1, n_draws=5, burn_in=3, seed=0, progress=lambda d, t: calls.append((d, t)))
    assert calls[-1] == (8, 8)


def test_colouring_is_proper_and_a_checkerboard_on_grids():
    fg, ev, cg = _model(4, 9, 9)
    ptr, adj = interaction_graph(cg)
    col = colouring(cg)
    owner = np.repeat(np.arange(cg.n_vars), np.diff(ptr))
    assert (col[owner] != col[adj]).all()
    from factorgraph_ebm.models import potts_grid
    grid = compile_graph(potts_grid(np.zeros((4, 5, 2)), 1.0))
    assert colouring(grid).max() == 1


# ------------------------------------------------------------------ diagnostics
def _ar1(rng, phi, m, n):
    x = np.empty((m, n))
    x[:, 0] = rng.normal(size=m) / np.sqrt(1 - phi ** 2)
    eps = rng.normal(size=(m, n))
    for t in range(1, n):
        x[:, t] = phi * x[:, t - 1] + eps[:, t]
    return x


@pytest.mark.parametrize("phi", [0.0, 0.5, 0.9, -0.3])
def test_ess_of_an_ar1_process_matches_its_closed_form(phi):
    rng = np.random.default_rng(int(abs(phi) * 10))
    m, n = 4, 20000
    ess = effective_sample_size(_ar1(rng, phi, m, n))
    expected = m * n * (1 - phi) / (1 + phi)
    assert abs(ess / expected - 1) < 0.15, (ess, expected)


def test_r_hat_is_one_for_iid_draws_and_large_for_chains_with_different_means():
    rng = np.random.default_rng(0)
    iid = rng.normal(size=(4, 2000))
    assert abs(r_hat(iid) - 1) < 0.01 and abs(r_hat(iid, rank=False) - 1) < 0.01
    shifted = iid + np.array([0.0, 0.0, 1.0, 1.0])[:, None]
    assert r_hat(shifted) > 1.1 and r_hat(shifted, rank=False) > 1.1
    trend = iid + np.linspace(0, 3, 2000)          # one drift within every chain: split R-hat sees it
    assert r_hat(trend) > 1.1
    assert np.isnan(r_hat(np.ones((2, 10)))) and np.isinf(r_hat(np.array([[0.0] * 10, [1.0] * 10]), rank=False))
    np.testing.assert_allclose(autocovariance(iid)[:, 0], iid.var(axis=1))
    with pytest.raises(SamplingError, match=r"shape \(n_chains, n_draws\)"):
        effective_sample_size(np.zeros((2, 3, 4)))

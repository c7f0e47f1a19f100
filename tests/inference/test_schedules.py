"""Loopy BP schedules (flood, sequential, random, residual, auto) and the message-change measure."""

import warnings

import numpy as np
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from factorgraph_ebm import ConvergenceWarning, InferenceError, ZeroPartitionError, compile_graph, infer
from factorgraph_ebm.inference import bp as bp_module
from factorgraph_ebm.inference.bp import LOOPY_SCHEDULES, belief_propagation
from factorgraph_ebm.kernels.messages import _message_change
from random_models import random_evidence, random_forest, random_graph

BETAS = [0.5, 1.0, np.inf]


def _run(fg, evidence, beta, **kw):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        try:
            return infer(fg, evidence, beta=beta, **kw)
        except ZeroPartitionError:
            return None


def _assert_close(res, ref, tol):
    assert (res is None) == (ref is None)
    if ref is None:
        return
    np.testing.assert_allclose(res.marginal_array, ref.marginal_array, atol=tol, rtol=0)
    np.testing.assert_allclose(res.free_energy, ref.free_energy, atol=tol, rtol=tol)
    if ref.beta == np.inf:
        assert res.map_energy == pytest.approx(ref.map_energy, abs=tol)


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), n_vars=st.integers(1, 7), beta=st.sampled_from(BETAS),
       inf_prob=st.sampled_from([0.0, 0.2]), ev_prob=st.sampled_from([0.0, 0.3]))
def test_every_schedule_on_forests_equals_brute_force(seed, n_vars, beta, inf_prob, ev_prob):
    rng = np.random.default_rng(seed)
    fg = random_forest(rng, n_vars, inf_prob=inf_prob)
    ev = random_evidence(rng, fg, ev_prob)
    ref = _run(fg, ev, beta, method="enumerate")
    for schedule in LOOPY_SCHEDULES:
        res = _run(fg, ev, beta, method="bp", schedule=schedule, tol=1e-13, max_iter=4 * n_vars + 8)
        _assert_close(res, ref, 1e-8)
        if ref is not None:
            assert res.converged and res.schedule == schedule and res.method == "loopy-bp"
            # min-sum decoding on a forest is optimal (also on demand at finite beta)
            exact_map = _run(fg, ev, np.inf, method="enumerate")
            assert res.map_energy == pytest.approx(exact_map.map_energy, abs=1e-8)


@pytest.mark.parametrize("beta", [1.0, np.inf])
@pytest.mark.parametrize("schedule", ["sequential", "residual"])
def test_sequential_and_residual_agree_with_enumerate_on_trees(schedule, beta):
    rng = np.random.default_rng(11)
    for _ in range(5):
        fg = random_forest(rng, 7, max_states=3, max_arity=3, inf_prob=0.15)
        ref = _run(fg, None, beta, method="enumerate")
        res = _run(fg, None, beta, method="bp", schedule=schedule, tol=0.0, max_iter=50)
        _assert_close(res, ref, 1e-9)


def joint_sum(joint, axis):
    return joint.sum(axis=tuple(a for a in range(joint.ndim) if a != axis))


def _slice(res, v):
    ptr = res.compiled.wiring.var_state_ptr
    return slice(ptr[v], ptr[v + 1])


def _fixed_point_gap(res):
    """Largest |factor marginal summed onto a variable - that variable's marginal| over all factor edges."""
    cg = res.compiled
    w = cg.wiring
    probs = res.factor_marginal_array()
    ptr = cg.factor_entry_ptr
    gap = 0.0
    for f in range(cg.n_factors):
        e0, e1 = w.factor_edge_ptr[f], w.factor_edge_ptr[f + 1]
        scope = w.edge_var[e0:e1]
        joint = probs[ptr[f]:ptr[f + 1]].reshape(tuple(w.var_states[scope]))
        for axis, v in enumerate(scope):
            gap = max(gap, float(np.abs(joint_sum(joint, axis) - res.marginal_array[_slice(res, v)]).max()))
    return gap


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), inf_prob=st.sampled_from([0.0, 0.15]), ev_prob=st.sampled_from([0.0, 0.3]))
@example(seed=142, inf_prob=0.15, ev_prob=0.0)   # Z = 0 that only global reasoning shows: no fixed point to check
def test_converged_fixed_points_agree_and_satisfy_the_bp_equations(seed, inf_prob, ev_prob):
    rng = np.random.default_rng(seed)
    fg = random_graph(rng, 7, 11, max_states=3, max_arity=3, inf_prob=inf_prob, scale=0.4)
    ev = random_evidence(rng, fg, ev_prob)
    if _run(fg, ev, 1.0, method="enumerate") is None:
        return   # every assignment forbidden: loopy BP may settle anywhere (docs/errors.md, "Zero partition")
    runs = {}
    for schedule in LOOPY_SCHEDULES + ("auto",):
        res = _run(fg, ev, 1.0, method="bp", schedule=schedule, tol=1e-12, max_iter=2000)
        if res is None:
            return
        if res.converged:
            runs[schedule] = res
            assert _fixed_point_gap(res) < 1e-8
    # weak couplings: one fixed point, reached by every schedule that converged
    first = next(iter(runs.values()), None)
    for res in runs.values():
        np.testing.assert_allclose(res.marginal_array, first.marginal_array, atol=1e-8)
        assert res.free_energy == pytest.approx(first.free_energy, abs=1e-7)


def test_message_change_ignores_constants_and_improbable_states():
    rng = np.random.default_rng(5)
    scratch = np.empty(16)
    for beta in (0.7, np.inf):
        for _ in range(20):
            k = int(rng.integers(1, 8))
            old = rng.uniform(0, 3, k)
            new = rng.uniform(0, 3, k)
            new[rng.random(k) < 0.2] = np.inf
            old[rng.random(k) < 0.2] = np.inf
            base = _message_change(new, old, 0, k, beta, 0.0, scratch)
            if beta < np.inf:
                # any constant added to either message: same change (probabilities)
                c = float(rng.uniform(-5, 5))
                assert _message_change(new + c, old - c, 0, k, beta, 0.0, scratch) == pytest.approx(base, abs=1e-12)
                with np.errstate(invalid="ignore"):
                    p = np.where(np.isinf(new), 0, np.exp(-beta * (new - new.min())))
                    q = np.where(np.isinf(old), 0, np.exp(-beta * (old - old.min())))
                p = p / p.sum() if p.sum() > 0 else p
                q = q / q.sum() if q.sum() > 0 else q
                assert base == pytest.approx(np.abs(p - q).max(), abs=1e-12)
                assert 0.0 <= base <= 1.0
            # a floor the change exceeds: the exact value; one it does not exceed: at most the floor
            assert _message_change(new, old, 0, k, beta, base / 2, scratch) == pytest.approx(base, abs=1e-12)
            assert _message_change(new, old, 0, k, beta, 2 * base + 1e-3, scratch) <= 2 * base + 1e-3
    # near a fixed point (tiny moves: the second-order path) the change is still |p_new - p_old|
    for k in (3, 8):
        old = np.concatenate([[0.0], rng.uniform(0, 3, k - 1)])
        old[-1] = np.inf
        new = old + rng.normal(0, 1e-6, k)
        p = np.exp(-(new - new.min()))
        q = np.exp(-(old - old.min()))
        want = np.abs(p / p.sum() - q / q.sum()).max()
        assert _message_change(new, old, 0, k, 1.0, 0.0, scratch) == pytest.approx(want, rel=1e-6)
    # a state of probability ~1e-12 moving between energies 28 and 36 is (almost) no change at beta = 1
    old = np.array([0.0, 28.0])
    new = np.array([0.0, 36.0])
    assert _message_change(new, old, 0, 2, 1.0, 0.0, scratch) < 1e-11
    assert _message_change(new, old, 0, 2, np.inf, 0.0, scratch) == 8.0
    assert _message_change(np.array([0.0, np.inf]), np.array([0.0, 1.0]), 0, 2, np.inf, 0.0, scratch) == np.inf


def test_random_order_is_reproducible():
    rng = np.random.default_rng(2)
    cg = compile_graph(random_graph(rng, 9, 14, inf_prob=0.0, scale=0.5))
    a = belief_propagation(cg, 1.0, schedule="random", random_state=7)
    b = belief_propagation(cg, 1.0, schedule="random", random_state=7)
    c = belief_propagation(cg, 1.0, schedule="random")
    d = belief_propagation(cg, 1.0, schedule="random", random_state=bp_module.DEFAULT_SEED)
    assert a.converged and a.schedule == "random"
    np.testing.assert_array_equal(a.marginal_array, b.marginal_array)
    assert (a.n_iter, a.delta) == (b.n_iter, b.delta)
    np.testing.assert_array_equal(c.marginal_array, d.marginal_array)
    np.testing.assert_allclose(a.marginal_array, c.marginal_array, atol=1e-8)


def test_auto_reports_the_schedule_that_ran_and_converges_on_a_loopy_graph():
    rng = np.random.default_rng(4)
    fg = random_graph(rng, 10, 18, inf_prob=0.1, scale=1.0)
    for beta in (1.0, np.inf):
        res = _run(fg, None, beta, method="bp")
        assert res.schedule in LOOPY_SCHEDULES
        assert res.method == "loopy-bp"
        assert res.converged == (res.delta <= 1e-9)
        assert res.schedule in repr(res)


def test_damping_means_the_same_for_every_schedule():
    rng = np.random.default_rng(8)
    fg = random_graph(rng, 8, 12, inf_prob=0.0, scale=0.5)
    ref = _run(fg, None, 1.0, method="bp", schedule="flood", damping=0.0, tol=1e-12)
    for schedule in LOOPY_SCHEDULES:
        res = _run(fg, None, 1.0, method="bp", schedule=schedule, damping=0.5, tol=1e-12)
        assert res.converged and res.damping == 0.5
        np.testing.assert_allclose(res.marginal_array, ref.marginal_array, atol=1e-8)


def test_bad_schedule_and_random_state_name_the_culprit():
    fg = random_graph(np.random.default_rng(0), 4, 5)
    with pytest.raises(InferenceError, match="schedule must be one of"):
        infer(fg, method="bp", schedule="sequencial")
    with pytest.raises(Exception, match="random_state"):
        belief_propagation(compile_graph(fg), 1.0, schedule="random", random_state=-1)


def test_auto_keeps_the_converged_run_with_the_highest_bethe_log_partition():
    rng = np.random.default_rng(6)
    for _ in range(4):
        fg = random_graph(rng, 12, 22, max_states=3, inf_prob=0.05, scale=1.5)
        auto = _run(fg, None, 1.0, method="bp")
        seq = _run(fg, None, 1.0, method="bp", schedule="sequential")
        if auto is None or not seq.converged:
            continue
        assert auto.converged
        assert auto.log_partition >= seq.log_partition - 1e-9
        mapped = _run(fg, None, np.inf, method="bp")
        seq_map = _run(fg, None, np.inf, method="bp", schedule="sequential")
        assert mapped.map_energy <= seq_map.map_energy + 1e-9


def test_residual_cost_counts_the_messages_an_update_recomputes():
    from factorgraph_ebm.inference.bp import residual_cost
    from random_models import potts_grid
    grid = compile_graph(potts_grid(6, 2, 1.0, np.random.default_rng(0)))
    assert 2.0 < residual_cost(grid.wiring) < 3.0      # interior: 3 other pairwise factors, borders fewer
    chain = compile_graph(random_forest(np.random.default_rng(1), 1, n_factors=1))
    assert residual_cost(chain.wiring) == 1.0           # no message of two or more variables

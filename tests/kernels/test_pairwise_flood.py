"""The fused pairwise flooding path (kernels/pairwise.py) and the vectorisable exp/log (kernels/vmath.py).

One flooding iteration of ``kernels.bp._flood`` is checked against an
independent NumPy implementation of the same update (softmin over the
table plus incoming messages, min-normalised, damped, and the change measure
that ``tol`` applies to), on random pairwise graphs with binary, ternary and
larger variables, +inf table entries and evidence; and whole flooding runs
on trees against brute-force enumeration.
"""

import numpy as np
import pytest
from scipy.special import logsumexp

from factorgraph_ebm import FactorGraph, compile_graph, infer
from factorgraph_ebm.kernels import bp as kbp
from factorgraph_ebm.kernels._jit import JIT_LOOP, njit
from factorgraph_ebm.kernels.vmath import _exp_nonpos, _log_pos
from random_models import random_evidence, random_tables


@njit(**JIT_LOOP)
def _exp_all(x, out):
    for i in range(len(x)):
        out[i] = _exp_nonpos(x[i])


@njit(**JIT_LOOP)
def _log_all(x, out):
    for i in range(len(x)):
        out[i] = _log_pos(x[i])


def test_vectorisable_exp_and_log_match_numpy():
    rng = np.random.default_rng(0)
    x = np.concatenate([-rng.exponential(2.0, 20000), -rng.uniform(0, 707.9, 20000), [0.0, -0.0, -1e-300, -707.9]])
    out = np.empty_like(x)
    _exp_all(x, out)
    np.testing.assert_allclose(out, np.exp(x), rtol=4e-16, atol=0)
    tail = np.array([-708.5, -745.0, -1e6, -np.inf])
    out = np.empty_like(tail)
    _exp_all(tail, out)
    assert np.all(out == 0.0)
    s = np.concatenate([rng.uniform(0, 3, 20000), np.exp(rng.uniform(-640, 5, 20000)),
                        [1.0, np.nextafter(1.0, 2), np.nextafter(1.0, 0), 2.0, 0.5, np.sqrt(2.0), 1e-280, 1e300]])
    out = np.empty_like(s)
    _log_all(s, out)
    ref = np.log(s)
    assert np.all(np.abs(out - ref) <= 4.5e-16 * np.maximum(np.abs(ref), 1e-16))


def _pairwise_graph(rng, states, n_factors, inf_prob):
    fg = FactorGraph()
    for v, k in enumerate(states):
        fg.add_variable(f"v{v}", int(k))
        fg.add_factor([f"v{v}"], rng.uniform(0, 1, int(k)))
    for _ in range(n_factors):
        a, b = rng.choice(len(states), size=2, replace=False)
        fg.add_factor([f"v{a}", f"v{b}"], random_tables(rng, (int(states[a]), int(states[b])), inf_prob))
    return fg


def _softmin(c, axis, beta):
    if beta == np.inf:
        return c.min(axis=axis)
    with np.errstate(divide="ignore"):
        return -logsumexp(-beta * c, axis=axis) / beta


def _normalised(m):
    lo = m.min()
    return m - lo if lo < np.inf else m.copy()


def _change(new, old, beta):
    if beta == np.inf:
        with np.errstate(invalid="ignore"):
            return np.where(new == old, 0.0, np.abs(new - old)).max()

    def prob(m):
        if not np.any(m < np.inf):
            return np.zeros_like(m)
        p = np.exp(-beta * (m - m.min()))
        return p / p.sum()
    return np.abs(prob(new) - prob(old)).max()


def _reference_iteration(cg, beta, f2v, damping):
    """One flooding iteration in NumPy: (final msg_f2v, largest change of a non-unary factor's message)."""
    w = cg.wiring
    f2v = f2v.copy()
    sl = [slice(w.edge_state_ptr[e], w.edge_state_ptr[e + 1]) for e in range(len(w.edge_var))]

    def table(f):
        b = w.factor_block[f]
        return w.tables[w.block_ptr[b]:w.block_ptr[b + 1]]
    n_factors = len(w.factor_edge_ptr) - 1
    for f in range(n_factors):
        e0, e1 = w.factor_edge_ptr[f], w.factor_edge_ptr[f + 1]
        if e1 - e0 == 1:
            f2v[sl[e0]] = _normalised(table(f))
    v2f = np.empty_like(f2v)
    for v in range(len(w.var_states)):
        edges = w.var_edges[w.var_edge_ptr[v]:w.var_edge_ptr[v + 1]]
        u = cg.unary[w.var_state_ptr[v]:w.var_state_ptr[v] + w.var_states[v]]
        for e in edges:
            v2f[sl[e]] = u + sum((f2v[sl[o]] for o in edges if o != e), np.zeros_like(u))
    delta = 0.0
    for f in range(n_factors):
        e0, e1 = w.factor_edge_ptr[f], w.factor_edge_ptr[f + 1]
        if e1 - e0 != 2:
            continue
        k0, k1 = w.var_states[w.edge_var[e0]], w.var_states[w.edge_var[e0 + 1]]
        t = table(f).reshape(k0, k1)
        to0 = _softmin(t + v2f[sl[e0 + 1]][None, :], 1, beta)
        to1 = _softmin(t + v2f[sl[e0]][:, None], 0, beta)
        for e, m in ((e0, to0), (e0 + 1, to1)):
            new, old = _normalised(m), f2v[sl[e]]
            if damping > 0:
                both = (new < np.inf) & (old < np.inf)
                new = _normalised(np.where(both, (1 - damping) * new + damping * old, new))
            delta = max(delta, _change(new, old, beta))
            f2v[sl[e]] = new
    return f2v, delta


@pytest.mark.parametrize("beta", [0.7, 1.0, 300.0, np.inf])   # 300: exp-space sums underflow
@pytest.mark.parametrize("states", [(2,), (3,), (2, 3), (8,), (2, 8, 17)])
@pytest.mark.parametrize("damping", [0.0, 0.4])
def test_one_flooding_iteration_matches_numpy(beta, states, damping):
    rng = np.random.default_rng(hash((beta, states, damping)) % 2**32)
    for trial in range(3):
        var_states = rng.choice(states, size=12)
        fg = _pairwise_graph(rng, var_states, 30, inf_prob=[0.0, 0.2, 0.5][trial])
        cg = compile_graph(fg, random_evidence(rng, fg, 0.2))
        w = cg.wiring
        n_msg = w.edge_state_ptr[-1]
        f2v = rng.uniform(0, 4, n_msg)
        f2v[rng.random(n_msg) < 0.1] = np.inf
        want, want_delta = _reference_iteration(cg, beta, f2v, damping)
        etables, block_min = kbp._exp_tables(w, beta)
        got = f2v.copy()
        v2f = np.zeros(n_msg)
        belief = np.zeros(len(cg.unary))
        n_iter, delta = kbp._flood(w, cg.unary, beta, etables, block_min, damping, 0.0, 1, 1, got, v2f, belief)
        assert n_iter == 1
        assert np.array_equal(got == np.inf, want == np.inf)
        finite = want < np.inf
        np.testing.assert_allclose(got[finite], want[finite], rtol=1e-11, atol=1e-11)
        assert delta == pytest.approx(want_delta, rel=1e-9, abs=1e-12)


@pytest.mark.parametrize("k", [2, 3, 8])
@pytest.mark.parametrize("beta", [1.0, np.inf])
def test_flooding_on_a_tree_equals_enumeration(k, beta):
    rng = np.random.default_rng(k)
    fg = FactorGraph()
    n = 6
    for v in range(n):
        fg.add_variable(f"v{v}", k)
        fg.add_factor([f"v{v}"], rng.uniform(0, 2, k))
    for v in range(1, n):
        fg.add_factor([f"v{int(rng.integers(v))}", f"v{v}"], random_tables(rng, (k, k), 0.2))
    ev = {"v3": 1}
    try:
        ref = infer(fg, ev, method="enumerate", beta=beta)
    except Exception:      # all configurations forbidden for this draw: nothing to compare
        pytest.skip("zero partition")
    res = infer(fg, ev, method="bp", schedule="flood", beta=beta, damping=0.0, tol=1e-13, max_iter=200)
    np.testing.assert_allclose(res.marginal_array, ref.marginal_array, atol=1e-9)
    np.testing.assert_allclose(res.free_energy, ref.free_energy, atol=1e-9, rtol=1e-9)

"""The own L-BFGS (train/optimizers.py, kernels/lbfgs.py) against a plain two-loop recursion and scipy's L-BFGS-B."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.optimize import minimize, rosen, rosen_der

from factorgraph_ebm.kernels.lbfgs import lbfgs_direction, lbfgs_push
from factorgraph_ebm.train.optimizers import LBFGS


def _two_loop(pairs, g):
    """The textbook recursion (Nocedal and Wright, algorithm 7.4); ``pairs`` oldest first."""
    q = g.copy()
    alphas = []
    for s, y in reversed(pairs):
        a = s @ q / (s @ y)
        alphas.append(a)
        q -= a * y
    s, y = pairs[-1]
    r = q * (s @ y) / (y @ y)
    for (s, y), a in zip(pairs, reversed(alphas)):
        r += s * (a - y @ r / (s @ y))
    return -r


@settings(max_examples=30, deadline=None)
@given(seed=st.integers(0, 2**31 - 1), n_pairs=st.integers(0, 5), n=st.integers(1, 30))
def test_direction_equals_the_textbook_recursion_in_a_ring_buffer(seed, n_pairs, n):
    rng = np.random.default_rng(seed)
    memory = 5
    S, Y = np.zeros((memory, n)), np.zeros((memory, n))
    rho = np.zeros(memory)
    order = rng.permutation(memory)[:n_pairs]          # rows in use, oldest first, anywhere in the buffer
    pairs = []
    x_old, g_old = rng.normal(size=n), rng.normal(size=n)
    for slot in order:
        x_new, g_new = x_old + rng.normal(size=n), g_old + rng.normal(size=n)
        sy, yy = lbfgs_push(S, Y, slot, x_new, x_old, g_new, g_old)
        assert np.isclose(sy, (x_new - x_old) @ (g_new - g_old)) and np.isclose(yy, (g_new - g_old) @ (g_new - g_old))
        rho[slot] = 1.0 / sy
        pairs.append((x_new - x_old, g_new - g_old))
        x_old, g_old = x_new, g_new
    g = rng.normal(size=n)
    out = np.empty(n)
    gamma = 1.0 if not pairs else (pairs[-1][0] @ pairs[-1][1]) / (pairs[-1][1] @ pairs[-1][1])
    lbfgs_direction(S, Y, rho, order.astype(np.int64), gamma, g, out, np.zeros(memory))
    expect = -g if not pairs else _two_loop(pairs, g)
    np.testing.assert_allclose(out, expect, rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("n", [2, 10])
def test_rosenbrock_reaches_the_minimum_as_scipy_does(n):
    x0 = np.full(n, -1.2)
    x0[1::2] = 1.0
    f = lambda x: (rosen(x), rosen_der(x))  # noqa: E731
    ours = LBFGS(max_iter=500, tol=1e-10).minimize(f, x0)
    ref = minimize(f, x0, jac=True, method="L-BFGS-B", options={"maxiter": 500, "gtol": 1e-10, "ftol": 1e-10})
    assert ours.status == 0 and ours.success and ref.status == 0
    np.testing.assert_allclose(ours.x, np.ones(n), atol=1e-5)
    assert ours.fun < 1e-9 and ours.nit <= 2 * ref.nit


def test_status_codes_and_messages():
    quad = lambda x: (0.5 * float(x @ x), x.copy())  # noqa: E731
    res = LBFGS(max_iter=50, tol=1e-8).minimize(quad, np.array([3.0, -1.0]))
    assert res.status == 0 and res.message.startswith("CONVERGENCE") and np.allclose(res.x, 0.0)
    assert res.nfev >= res.nit >= 1 and np.allclose(res.jac, res.x)
    rosen_f = lambda x: (rosen(x), rosen_der(x))  # noqa: E731
    res = LBFGS(max_iter=3, tol=0.0).minimize(rosen_f, np.array([-1.2, 1.0]))
    assert (res.status, res.nit, res.success) == (1, 3, False) and res.message.startswith("STOP")
    # a gradient pointing the wrong way: f grows along -g, no step passes the sufficient-decrease test
    lying = lambda x: (float(np.sum(x)), -np.ones_like(x))  # noqa: E731
    res = LBFGS(max_iter=10, tol=0.0).minimize(lying, np.zeros(3))
    assert res.status == 2 and res.message.startswith("ABNORMAL") and np.array_equal(res.x, np.zeros(3))
    res = LBFGS(max_iter=10, tol=1e-3).minimize(quad, np.zeros(2))          # already optimal
    assert (res.status, res.nit, res.nfev) == (0, 0, 1)

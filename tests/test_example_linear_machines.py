"""examples/linear_machines.py: the tutorial's linear machines match their scikit-learn twins.

The script runs in-process with ``--quick``; the regression energy is also
checked on its own (finite differences, and least squares by numpy).
"""

import numpy as np
import pytest
from example_runner import exit_error, load, run


@pytest.fixture(scope="module")
def ns():
    return load("linear_machines")


@pytest.fixture(scope="module")
def quick_run(ns):
    out, lines = run(ns, ["--quick"])
    return out, "\n".join(lines)


def test_result_line_reports_the_returned_numbers(quick_run):
    out, text = quick_run
    line = text.strip().splitlines()[-1]
    assert line.startswith("RESULT ")
    parsed = dict(item.split("=") for item in line.split()[1:])
    assert set(parsed) == set(out)
    for key, value in out.items():
        assert float(parsed[key]) == pytest.approx(value, rel=1e-5, abs=1e-12)
    assert "LogisticRegression(C=1)" in text and "LinearSVC(hinge, C=1)" in text


def test_smooth_machines_reach_scikit_learn_coefficients(quick_run):
    out, _ = quick_run
    assert out["regression_coef_rel_diff"] < 1e-5
    assert abs(out["regression_mse_diff"]) < 1e-6
    assert out["logistic_coef_rel_diff"] < 1e-5
    assert out["logistic_accuracy_diff"] == 0.0


def test_svm_is_close_to_linear_svc(quick_run):
    out, _ = quick_run
    # L-BFGS on the non-smooth hinge stops at a kink slightly above LinearSVC's optimum, never below it.
    assert -1e-6 < out["svm_objective_rel_diff"] < 0.05
    assert abs(out["svm_accuracy_diff"]) <= 0.02


def test_perceptron_learns_like_scikit_learns(quick_run):
    out, _ = quick_run
    assert out["perceptron_accuracy"] > 0.85
    assert abs(out["perceptron_accuracy_diff"]) < 0.08


def test_squared_error_energy_backward_against_finite_differences(ns):
    rng = np.random.default_rng(0)
    energy = ns["SquaredError"](rng.normal(size=3), 1.7)
    params = {"w": rng.normal(size=3), "b": np.array([0.3])}
    s = np.array([0.8])
    grad = energy.backward(s, params)
    h = 1e-6
    for name in ("w", "b"):
        for i in range(params[name].size):
            up = {k: v.copy() for k, v in params.items()}
            down = {k: v.copy() for k, v in params.items()}
            up[name][i] += h
            down[name][i] -= h
            fd = (s @ energy.table(up) - s @ energy.table(down)) / (2 * h)
            assert grad[name][i] == pytest.approx(fd, abs=1e-6)


def test_energy_loss_regression_is_least_squares(ns):
    """On a few noisy points the energy loss fit equals numpy's least-squares solution."""
    rng = np.random.default_rng(1)
    x = rng.normal(size=(30, 2))
    y = x @ [1.5, -2.0] + 0.5 + 0.1 * rng.normal(size=30)
    out = ns["fit_regression"](x, y, 1e-14)
    a = np.hstack([x, np.ones((30, 1))])
    coef, *_ = np.linalg.lstsq(a, y, rcond=None)
    assert out["ours"] == pytest.approx(np.mean((y - a @ coef) ** 2), rel=1e-9)
    assert out["coef_rel_diff"] < 1e-6


def test_svm_objective_is_linear_svc_objective_over_c_n(ns):
    """svm_objective * C n equals C sum hinge + 1/2 (|w|^2 + b^2), LinearSVC's primal with intercept_scaling=1."""
    rng = np.random.default_rng(2)
    x, y = rng.normal(size=(10, 3)), rng.integers(0, 2, size=10)
    params = {"w": rng.normal(size=3), "b": np.array([0.4])}
    c = 0.7
    hinge = np.maximum(0, 1 - (2 * y - 1) * (x @ params["w"] + 0.4))
    primal = c * hinge.sum() + 0.5 * (params["w"] @ params["w"] + 0.16)
    assert ns["svm_objective"](params, x, y, 1 / (c * 10)) * c * 10 == pytest.approx(primal)


@pytest.mark.parametrize("argv, message", [
    (["--C", "0"], "--C must be > 0"),
    (["--tol", "-1"], "--tol must be > 0"),
    (["--perceptron-epochs", "0"], "--perceptron-epochs must be >= 1"),
    (["--regression-samples", "1"], "--regression-samples must be 0 (all) or >= 2"),
])
def test_bad_arguments_exit_2(ns, capsys, argv, message):
    code, err = exit_error(ns, argv, capsys)
    assert code == 2
    assert message in err

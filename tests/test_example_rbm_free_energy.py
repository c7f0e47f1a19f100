"""examples/rbm_free_energy.py: the engine's free energies, marginals and gradients equal the RBM's closed forms.

The script runs in-process with ``--quick`` (the Numba kernels load once per
session); its helpers are also checked directly against independent numpy
oracles (brute-force sums over h, finite differences, the Gaussian integral).
"""

import itertools

import numpy as np
import pytest
from example_runner import exit_error, load, run


@pytest.fixture(scope="module")
def ns():
    return load("rbm_free_energy")


@pytest.fixture(scope="module")
def quick_run(ns):
    out, lines = run(ns, ["--quick", "--seed", "1"])
    return out, "\n".join(lines)


@pytest.fixture(scope="module")
def quick_cd_run(ns):
    out, lines = run(ns, ["--quick", "--seed", "1", "--negative", "cd"])
    return out, "\n".join(lines)


def small_model(ns, rng, k=4, d=5):
    return ns["Parameters"](W=rng.normal(size=(k, d)), b=rng.normal(size=d), c=rng.normal(size=k))


def brute_force(x, params):
    """F(x) and P(h | x) by summing exp(-E(x, h)) over every h, straight from the energy's definition."""
    k = params["c"].size
    hs = np.array(list(itertools.product((0, 1), repeat=k)), dtype=float)
    e = x @ x - params["b"] @ x - hs @ params["c"] + hs @ (params["W"] @ x)
    log_z = np.logaddexp.reduce(-e)
    return -log_z, np.exp(-e - log_z), hs


def test_result_line_reports_the_returned_numbers(quick_run):
    out, text = quick_run
    line = text.strip().splitlines()[-1]
    assert line.startswith("RESULT ")
    parsed = dict(item.split("=") for item in line.split()[1:])
    assert set(parsed) == set(out)
    for key, value in out.items():
        assert float(parsed[key]) == pytest.approx(value, rel=1e-5, abs=1e-300)


def test_engine_matches_the_closed_forms(quick_run):
    out, _ = quick_run
    assert out["max_free_energy_error"] < 1e-9
    assert out["max_marginal_error"] < 1e-9
    assert out["factorization_error"] < 1e-9
    assert out["gradient_error"] < 1e-9
    assert out["log_partition_error"] < 1e-9
    assert out["model_term_error_pcd"] < 0.1            # 4000 particles: a few hundredths (entries up to ~2)


@pytest.mark.parametrize("which", ["quick_run", "quick_cd_run"])
def test_training_improves_the_model(request, which):
    out, text = request.getfixturevalue(which)
    assert ("PCD-5 (500 particles)" in text) == (which == "quick_run")
    assert ("CD-1, learning rate 0.05 constant" in text) == (which == "quick_cd_run")
    assert out["loglik_final"] > out["loglik_initial"] + 0.1
    assert out["test_loglik_final"] > out["test_loglik_initial"]
    assert out["recon_final"] < out["recon_initial"]
    assert out["free_energy_gap_final"] > out["free_energy_gap_initial"]


def test_free_energy_and_marginals_against_brute_force(ns):
    rng = np.random.default_rng(3)
    params = small_model(ns, rng)
    x = rng.normal(size=(3, 5))
    res = ns["infer"]([ns["rbm_graph"](row, 4) for row in x], parameters=params)
    for i, row in enumerate(x):
        f, joint, hs = brute_force(row, params)
        marg = joint @ hs                                   # P(h_k = 1 | x) from the joint
        assert res.free_energy[i] == pytest.approx(f, abs=1e-10)
        assert ns["closed_form_free_energy"](row[None], params)[0] == pytest.approx(f, abs=1e-10)
        np.testing.assert_allclose(res.marginal("h", graph=i)[:, 1], marg, atol=1e-12)
        np.testing.assert_allclose(ns["closed_form_marginals"](row[None], params)[0], marg, atol=1e-12)
        np.testing.assert_allclose(joint, np.prod(np.where(hs == 1, marg, 1 - marg), axis=1), atol=1e-12)


def test_factorization_check_detects_a_coupled_joint(ns):
    """The check is not vacuous: it is ~0 for the RBM, and the product of marginals is not the joint
    of a model whose hidden units interact (the Boltzmann machine over h)."""
    rng = np.random.default_rng(4)
    params = small_model(ns, rng, k=3)
    assert ns["factorization_error"](rng.normal(size=5), params, 3) < 1e-12
    coupled = ns["infer"](ns["hidden_boltzmann_graph"](3), parameters=params, method="enumerate")
    assert coupled.log_partition is not None
    hs = np.array(list(itertools.product((0, 1), repeat=3)))
    compiled = ns["compile_graph"](ns["hidden_boltzmann_graph"](3), parameters=params)
    joint = np.array([np.exp(-compiled.energy(h) + coupled.log_partition) for h in hs])
    marg = coupled.marginal("h")
    product = np.prod(marg[np.arange(3), hs], axis=1)
    assert np.abs(joint - product).max() > 1e-3


def test_free_energy_gradient_against_finite_differences(ns):
    rng = np.random.default_rng(5)
    params = small_model(ns, rng, k=3, d=4)
    x = rng.normal(size=(4, 4))
    from factorgraph_ebm.losses import EnergyLoss

    grad = ns["free_energy_gradient"](x, params, EnergyLoss(latent_beta=1.0))
    h = 1e-6
    for name in ("W", "b", "c"):
        for idx in np.ndindex(params[name].shape):
            up, down = params.copy(), params.copy()
            up[name][idx] += h
            down[name][idx] -= h
            fd = (ns["closed_form_free_energy"](x, up).mean() - ns["closed_form_free_energy"](x, down).mean()) / (2 * h)
            assert grad[name][idx] == pytest.approx(fd, abs=1e-6)


def test_log_partition_against_numerical_integration(ns):
    """One visible pixel, two hidden units: Z = sum_h int exp(-E(x, h)) dx by quadrature."""
    params = ns["Parameters"](W=[[0.7], [-1.2]], b=[0.4], c=[0.3, -0.5])
    grid = np.linspace(-12, 12, 200_001)
    z = 0.0
    for h in itertools.product((0, 1), repeat=2):
        h = np.array(h, dtype=float)
        e = grid ** 2 - params["b"][0] * grid - h @ params["c"] + (h @ params["W"][:, 0]) * grid
        z += np.trapezoid(np.exp(-e), grid)
    assert ns["log_partition"](params) == pytest.approx(np.log(z), abs=1e-9)
    assert ns["log_partition_enumerated"](params) == pytest.approx(np.log(z), abs=1e-9)


def test_gibbs_visible_conditional_is_the_stated_gaussian(ns):
    """x ~ p(x | h) has mean (b - W^T h)/2 and variance 1/2, the minimiser of E(., h) and its curvature."""
    rng = np.random.default_rng(6)
    params = small_model(ns, rng, k=3, d=4)
    h = np.tile([1.0, 0.0, 1.0], (100_000, 1))
    x = ns["sample_visible"](h, params, rng)
    mean = (params["b"] - h[0] @ params["W"]) / 2
    np.testing.assert_allclose(x.mean(axis=0), mean, atol=0.01)
    np.testing.assert_allclose(x.var(axis=0), 0.5, atol=0.01)


def brute_force_hidden(params):
    """Every h with its probability under p(h), the marginal of the RBM over h: ``p(h) ∝ int exp(-E(x, h)) dx``."""
    k = params["c"].size
    hs = np.array(list(itertools.product((0, 1), repeat=k)), dtype=float)
    m = params["b"] - hs @ params["W"]
    log_w = hs @ params["c"] + np.sum(m * m, axis=1) / 4.0          # log of the Gaussian integral, up to a constant
    return hs, np.exp(log_w - np.logaddexp.reduce(log_w))


def test_boltzmann_graph_energy_is_the_integrated_rbm(ns):
    """exp(-E_h(h)) is int exp(-E(x, h)) dx up to one constant: the energies of the Boltzmann machine over h."""
    rng = np.random.default_rng(7)
    params = small_model(ns, rng, k=3, d=4)
    compiled = ns["compile_graph"](ns["hidden_boltzmann_graph"](3), parameters=params)
    hs, p = brute_force_hidden(params)
    e = np.array([compiled.energy(h.astype(int)) for h in hs])
    q = np.exp(-e - np.logaddexp.reduce(-e))
    np.testing.assert_allclose(q, p, rtol=1e-10)


@pytest.mark.parametrize("energy", ["unary", "pair"])
def test_boltzmann_energies_backward_against_finite_differences(ns, energy):
    rng = np.random.default_rng(8)
    params = small_model(ns, rng, k=4, d=3)
    pairs = np.array(list(itertools.combinations(range(4), 2)))
    e = ns["BoltzmannUnaryEnergy"]() if energy == "unary" else ns["BoltzmannPairEnergy"](pairs)
    sens = rng.normal(size=e.table(params).shape)
    grad = e.backward(sens, params)
    h = 1e-6
    for name in e.parameter_names:
        for idx in np.ndindex(params[name].shape):
            up, down = params.copy(), params.copy()
            up[name][idx] += h
            down[name][idx] -= h
            fd = np.sum(sens * (e.table(up) - e.table(down))) / (2 * h)
            assert grad[name][idx] == pytest.approx(fd, abs=1e-6)


def test_exact_model_term_is_the_expected_energy_gradient(ns):
    """E_p[dE/dθ] by brute force: over h ~ p(h), with x | h integrated out,
    E[dE/dW] = h E[x]^T, E[dE/db] = -E[x], E[dE/dc] = -h, E[x | h] = (b - W^T h) / 2."""
    rng = np.random.default_rng(9)
    params = small_model(ns, rng, k=4, d=5)
    hs, p = brute_force_hidden(params)
    mean_x = (params["b"] - hs @ params["W"]) / 2.0
    ref = {"W": np.einsum("s,sk,sd->kd", p, hs, mean_x), "b": -p @ mean_x, "c": -p @ hs}
    exact = ns["exact_model_term"](params)
    for name in ref:
        np.testing.assert_allclose(exact[name], ref[name], atol=1e-10)
    # and the data term minus the model term is the gradient of the exact mean NLL (finite differences)
    x = rng.normal(size=(3, 5))
    grad = ns["free_energy_gradient"](x, params, ns["EnergyLoss"](latent_beta=1.0))

    def nll(pr):
        return -ns["mean_log_likelihood"](x, pr, ns["log_partition_enumerated"](pr))

    h = 1e-6
    for name in ("W", "b", "c"):
        for idx in list(np.ndindex(params[name].shape))[:6]:
            up, down = params.copy(), params.copy()
            up[name][idx] += h
            down[name][idx] -= h
            fd = (nll(up) - nll(down)) / (2 * h)
            assert grad[name][idx] - exact[name][idx] == pytest.approx(fd, abs=1e-5)


def per_state_model_terms(params, hs):
    """E_{x | h}[dE/dθ] for every h (rows): the quantity whose mean under p(h) is the model term."""
    mean_x = (params["b"] - hs @ params["W"]) / 2.0
    return {"W": hs[:, :, None] * mean_x[:, None, :], "b": -mean_x, "c": -hs}


@pytest.mark.parametrize("negative, k", [("pcd", 1), ("cd", 3)])
def test_sampled_model_term_is_close_to_the_exact_one(ns, negative, k):
    """The package's PCD pool (after a few steps) and CD chains started at draws of p(h) estimate
    E_p[dE/dθ] without bias: within 5 standard errors of the exact model term (the standard error of a
    mean of n independent chains, from the exact variance under p(h))."""
    rng = np.random.default_rng(10)
    params = small_model(ns, rng, k=4, d=5)
    hs, p = brute_force_hidden(params)
    n = 4000
    data_h = hs[rng.choice(len(hs), size=n if negative == "cd" else 1, p=p)].astype(int)
    term = ns["ModelTerm"](4, negative, k=k, particles=n, seed=11)
    for _ in range(10 if negative == "pcd" else 1):
        estimate = term(data_h, params)
    exact = ns["exact_model_term"](params)
    per_state = per_state_model_terms(params, hs)
    for name in exact:
        g = per_state[name]
        np.testing.assert_allclose(np.tensordot(p, g, axes=1), exact[name], atol=1e-10)
        std = np.sqrt(np.maximum(np.tensordot(p, g * g, axes=1) - exact[name] ** 2, 0.0))
        assert (np.abs(estimate[name] - exact[name]) <= 5 * std / np.sqrt(n) + 1e-9).all(), name


def test_hidden_states_are_drawn_from_p_h_given_x(ns):
    rng = np.random.default_rng(12)
    params = small_model(ns, rng, k=3, d=4)
    x = np.repeat(rng.normal(size=(1, 4)), 4000, axis=0)
    result = ns["free_energy_loss"](x, params, ns["EnergyLoss"](latent_beta=1.0))
    h = ns["hidden_states"](result, seed=3, sweep=0)
    assert h.shape == (4000, 3)
    np.testing.assert_allclose(h.mean(axis=0), ns["closed_form_marginals"](x[:1], params)[0], atol=0.03)
    again = ns["hidden_states"](result, seed=3, sweep=0)
    np.testing.assert_array_equal(h, again)                 # keyed by (seed, sweep): reproducible
    assert (ns["hidden_states"](result, seed=3, sweep=1) != h).any()


@pytest.mark.parametrize("argv, message", [
    (["--hidden", "0"], "--hidden must be >= 1"),
    (["--k", "0"], "--k must be >= 1"),
    (["--particles", "0"], "--particles must be >= 1"),
    (["--negative", "gibbs"], "invalid choice"),
    (["--learning-rate", "-1"], "--learning-rate must be > 0"),
    (["--momentum", "1.5"], "--momentum must be in [0, 1)"),
    (["--check-units", "13", "--hidden", "16"], "--check-units must be <="),
    (["--images", "5000"], "--images must be in"),
])
def test_bad_arguments_exit_2(ns, capsys, argv, message):
    code, err = exit_error(ns, argv, capsys)
    assert code == 2
    assert message in err

"""examples/denoising_pcd.py: a grid CRF trained with PCD denoises, about as well as loopy-BP NLL training.

The script runs in-process with ``--quick`` (16 x 16 digits, 30 training and
30 test images, 3 epochs); its helpers are checked directly against closed
forms (the noise rate, the graph's size, the answers of a model without
couplings).
"""

import numpy as np
import pytest
from example_runner import exit_error, load, run

#: How far below the BP-NLL model the PCD model may denoise at the quick size (pixel accuracy).
MARGIN = 0.02


@pytest.fixture(scope="module")
def ns():
    return load("denoising_pcd")


@pytest.fixture(scope="module")
def quick_run(ns):
    out, lines = run(ns, ["--quick", "--seed", "1"])
    return out, "\n".join(lines)


def test_result_line_reports_the_returned_numbers(quick_run):
    out, text = quick_run
    line = text.strip().splitlines()[-1]
    assert line.startswith("RESULT ")
    parsed = dict(item.split("=") for item in line.split()[1:])
    assert set(parsed) == set(out)
    for key, value in out.items():
        assert float(parsed[key]) == pytest.approx(value, rel=1e-5, abs=1e-300)


def test_noisy_input_has_the_flip_rate(quick_run):
    out, _ = quick_run
    assert out["noisy_accuracy"] == pytest.approx(0.8, abs=0.02)      # 30 images of 256 pixels, flip 0.2


def test_pcd_model_denoises_and_is_close_to_bp_nll(quick_run):
    out, _ = quick_run
    for key in ("map", "marginal", "gibbs"):
        assert out[f"pcd_{key}_accuracy"] > out["noisy_accuracy"] + 0.05, key
        assert out[f"pcd_{key}_accuracy"] > out[f"nll_{key}_accuracy"] - MARGIN, key
    assert out["nll_map_accuracy"] > out["noisy_accuracy"] + 0.05
    assert out["cd_map_accuracy"] > out["noisy_accuracy"]


def test_learned_parameters_favour_the_noisy_pixel_and_smoothness(quick_run):
    out, _ = quick_run
    for name in ("pcd", "cd", "nll"):
        assert out[f"{name}_unary"] > 0.5           # a noisy pixel is more likely right than wrong
        assert out[f"{name}_coupling"] > 0.5        # neighbours of a clean digit image mostly agree


def test_binary_digits_and_noise(ns):
    images = ns["binary_digits"](3)
    assert images.shape == (1797, 24, 24) and images.dtype == np.int64
    assert set(np.unique(images)) == {0, 1}
    assert 0.2 < images.mean() < 0.5                  # strokes on a background
    rng = np.random.default_rng(0)
    noisy = ns["flip_noise"](images[:200], 0.1, rng)
    assert np.mean(noisy != images[:200]) == pytest.approx(0.1, abs=0.005)
    train, test = ns["split"](1797, 100, 50, rng)
    assert len(train) == 100 and len(test) == 50 and not set(train) & set(test)


def test_graph_shape_and_roles(ns):
    fg = ns["denoising_graph"](3, 4)
    assert fg.n_vars == 24
    assert fg.n_factors == 12 + 3 * 3 + 2 * 4
    roles = {block.name: block.role for block in fg.variable_blocks}
    assert roles == {"x": "observed", "y": "output"}


def test_without_couplings_the_answer_is_the_noisy_image(ns):
    """obs = the noise log-odds and h = v = 0: each pixel is independent, P(y_i = x_i | x) = 1 - flip."""
    rng = np.random.default_rng(1)
    clean = ns["binary_digits"](1)[:5]
    noisy = ns["flip_noise"](clean, 0.2, rng)
    half = np.log(4.0) / 2.0
    params = {"obs": np.array([[half, -half], [-half, half]]), "h": np.zeros((2, 2)), "v": np.zeros((2, 2))}
    answers = ns["denoise"](ns["denoising_graph"](8, 8), noisy, params, seed=0, gibbs_draws=400)
    np.testing.assert_array_equal(answers["map"], noisy)
    # damped BP (0.5) stops at a message change < tol = 1e-3, so it is that close to the exact 0.8 / 0.2
    np.testing.assert_allclose(answers["p_bp"], np.where(noisy == 1, 0.8, 0.2), atol=2e-3)
    # 2 chains x 400 draws of independent pixels: within 5 standard errors of 0.8 / 0.2
    assert np.abs(answers["p_gibbs"] - np.where(noisy == 1, 0.8, 0.2)).max() < 5 * np.sqrt(0.16 / 800)
    assert ns["unary_log_odds"](params) == pytest.approx(np.log(4.0))
    assert ns["coupling"](params, "h") == 0.0


@pytest.mark.parametrize("argv, message", [
    (["--flip", "0.5"], "--flip must be in (0, 0.5)"),
    (["--k", "0"], "--k must be >= 1"),
    (["--train-images", "1700", "--test-images", "200"], "--train-images + --test-images must be <= 1797"),
    (["--losses", "pcd,svm"], "--losses must be distinct names of"),
    (["--learning-rate", "0"], "--learning-rate must be > 0"),
])
def test_bad_arguments_exit_2(ns, capsys, argv, message):
    code, err = exit_error(ns, argv, capsys)
    assert code == 2
    assert message in err

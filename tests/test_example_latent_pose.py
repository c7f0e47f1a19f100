"""examples/latent_pose.py: latent-pose digit recognition against brute force and a whole-canvas baseline."""

import contextlib
import importlib.util

import numpy as np
import pytest
from example_runner import exit_error, load, parse_result, run
from scipy.special import logsumexp, softmax

#: The latent model must beat the whole-canvas linear model by at least this much (quick run).
MARGIN = 0.25
#: Chance level of a 10-class problem.
CHANCE = 0.1


@pytest.fixture(scope="module")
def example():
    """The script's namespace."""
    return load("latent_pose")


def run_quick(example, argv):
    """``main(["--quick", *argv])`` with its stdout captured: ``(returned dict, printed lines)``."""
    return run(example, ["--quick", *argv])


HAVE_MATPLOTLIB = importlib.util.find_spec("matplotlib") is not None


@pytest.fixture(scope="module")
def quick_nll(example, tmp_path_factory):
    """One ``--quick`` NLL run in an empty working directory, plotting into a folder it creates."""
    work = tmp_path_factory.mktemp("latent_pose")
    plot = ["--plot", "out/figures"] if HAVE_MATPLOTLIB else []   # matplotlib: the examples extra
    with contextlib.chdir(work):
        result, lines = run_quick(example, ["--loss", "nll", *plot])
    return result, lines, work


def test_quick_run_latent_model_beats_whole_canvas_model(quick_nll):
    result, lines, _ = quick_nll
    printed = parse_result(lines)
    assert set(printed) == {"latent_accuracy", "no_latent_accuracy"}
    for key, value in printed.items():
        assert value == pytest.approx(result[key], abs=5e-5)
    assert result["latent_accuracy"] >= result["no_latent_accuracy"] + MARGIN
    assert result["latent_accuracy"] > 5 * CHANCE


def test_quick_run_finds_the_poses(quick_nll):
    result, _, _ = quick_nll
    # 25 poses: chance is 0.04 exactly and about 0.27 within one pixel.
    assert result["chance_pose_accuracy"] == pytest.approx(1 / 25)
    assert result["pose_accuracy"] > 10 * result["chance_pose_accuracy"]
    assert result["pose_accuracy_within_1"] > 0.8


def test_baseline_is_not_undertrained(quick_nll):
    # The whole-canvas NLL model is multinomial logistic regression: scikit-learn's solver, on the
    # same canvases and the same L2, does not do clearly better.
    result, _, _ = quick_nll
    assert result["no_latent_accuracy"] >= result["sklearn_no_latent_accuracy"] - 0.1


@pytest.mark.skipif(not HAVE_MATPLOTLIB, reason="plots need matplotlib (pip install -e '.[examples]')")
def test_plot_only_where_asked(quick_nll):
    _, lines, work = quick_nll
    written = sorted(str(p.relative_to(work)) for p in work.rglob("*") if p.is_file())
    assert written == ["out/figures/latent_pose.png"]
    assert (work / "out" / "figures" / "latent_pose.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert any("plot written to out/figures/latent_pose.png" in line for line in lines)


@pytest.mark.parametrize("loss", ["hinge", "perceptron"])
def test_latent_margin_losses_beat_the_baseline(example, loss):
    result, lines = run_quick(example, ["--loss", loss])
    assert parse_result(lines)["latent_accuracy"] == pytest.approx(result["latent_accuracy"], abs=5e-5)
    assert result["latent_accuracy"] >= result["no_latent_accuracy"] + MARGIN
    assert result["pose_accuracy_within_1"] > 0.8


@pytest.mark.parametrize("argv, message", [
    (["--loss", "svm"], "--loss must be one of"),
    (["--beta", "0"], "--beta must be > 0"),
    (["--beta", "-1"], "--beta must be > 0"),
    (["--beta", "nan"], "--beta must be > 0"),
    (["--canvas", "8"], "--canvas must be in"),
    (["--noise", "1.5"], "--noise must be in"),
])
def test_bad_arguments_exit_2_with_one_line(example, argv, message, capsys):
    code, err = exit_error(example, ["--quick", *argv], capsys)
    assert code == 2
    err = err.strip().splitlines()
    assert "error:" in err[-1] and message in err[-1]


def random_images(example, n, canvas, seed):
    rng = np.random.default_rng(seed)
    digits = rng.random((n, 8, 8))
    return example["place_digits"](digits, canvas, 0.2, rng)


def brute_force_energies(example, image, W):
    """``E[z, y] = -(window_z . W[:, y])`` for every pose and class, from numpy alone."""
    side = image.shape[0] - 7
    windows = np.array([np.append(image[r:r + 8, c:c + 8].ravel(), 1.0) for r in range(side) for c in range(side)])
    return -(windows @ W)


@pytest.mark.parametrize("canvas", [9, 12])
def test_map_class_and_pose_is_the_brute_force_argmin(example, canvas):
    images, _ = random_images(example, 6, canvas, seed=canvas)
    W = np.random.default_rng(1).normal(size=(65, 10))
    graphs = [example["latent_pose_graph"](image) for image in images]
    classes, poses = example["map_class_and_pose"](graphs, {"W": W})
    for image, y, z in zip(images, classes, poses):
        energies = brute_force_energies(example, image, W)
        assert (z, y) == np.unravel_index(np.argmin(energies), energies.shape)


@pytest.mark.parametrize("beta", [0.5, 3.0])
def test_marginals_are_the_brute_force_softmax(example, beta):
    images, _ = random_images(example, 4, 11, seed=2)
    W = np.random.default_rng(3).normal(size=(65, 10))
    graphs = [example["latent_pose_graph"](image) for image in images]
    p_class, p_pose = example["posterior_marginals"](graphs, {"W": W}, beta)
    np.testing.assert_allclose(p_pose.sum(axis=1), 1.0, rtol=0, atol=1e-12)
    for image, py, pz in zip(images, p_class, p_pose):
        energies = brute_force_energies(example, image, W)
        np.testing.assert_allclose(pz, softmax(logsumexp(-beta * energies, axis=1)), rtol=1e-9, atol=1e-12)
        np.testing.assert_allclose(py, softmax(logsumexp(-beta * energies, axis=0)), rtol=1e-9, atol=1e-12)


def test_place_digits_puts_each_digit_at_its_pose(example):
    rng = np.random.default_rng(4)
    digits = rng.random((20, 8, 8))
    images, poses = example["place_digits"](digits, 13, 0.0, rng)
    side = 13 - 8 + 1
    assert len(set(poses.tolist())) > 5
    for image, digit, pose in zip(images, digits, poses):
        r, c = divmod(int(pose), side)
        np.testing.assert_array_equal(image[r:r + 8, c:c + 8], digit)
        assert image.sum() == pytest.approx(digit.sum())     # nothing outside the window


def test_class_mean_init_uses_no_pose(example):
    features = np.array([[1.0, 0.0], [3.0, 0.0], [0.0, 2.0]])
    labels = np.array([0, 0, 1])
    W = example["class_mean_init"](features, labels)
    expected = np.zeros((2, 10))
    expected[:, 0], expected[:, 1] = [2.0, 0.0], [0.0, 2.0]
    np.testing.assert_allclose(W, expected - expected.mean(axis=1, keepdims=True))

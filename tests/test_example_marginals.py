"""Tests for examples/marginals.py: calibration helpers, loopy-grid marginals, tag marginals, bad arguments.

Part (a) (tag marginals) needs only the test extra and the EWT data; part (b)
reads ``china.jpg`` through scikit-learn, which needs Pillow (the examples
extra): its tests skip without it, naming the package.
"""

import sys

import numpy as np
import pytest
from example_runner import exit_error, load, parse_result, run
from shared_data import shared_data

from factorgraph_ebm import infer

PILLOW_REASON = "part (b) loads china.jpg with scikit-learn, which needs Pillow (pip install -e '.[examples]')"


@pytest.fixture(scope="module")
def ns():
    return load("marginals")


@pytest.fixture(scope="module")
def quick(ns):
    """One ``--quick --part a`` run (tag marginals) shared by the tests (its printed output included)."""
    return run(ns, ["--quick", "--part", "a", "--data", str(shared_data("ud_english_ewt"))])


@pytest.fixture(scope="module")
def quick_grid(ns):
    """One ``--quick --part b`` run (loopy-grid denoising of china.jpg); skips without Pillow."""
    pytest.importorskip("PIL", reason=PILLOW_REASON)
    return run(ns, ["--quick", "--part", "b"])


# ----------------------------------------------------------------------------------------------
# calibration helpers against brute force
# ----------------------------------------------------------------------------------------------

def brute_force_ece(confidence, correct, n_bins):
    """ECE by an explicit loop over bins [lo, hi) (the last one closed)."""
    total, n = 0.0, len(confidence)
    for b in range(n_bins):
        lo, hi = b / n_bins, (b + 1) / n_bins
        members = [i for i, c in enumerate(confidence) if lo <= c < hi or (b == n_bins - 1 and c == 1.0)]
        if members:
            acc = np.mean([correct[i] for i in members])
            conf = np.mean([confidence[i] for i in members])
            total += len(members) / n * abs(acc - conf)
    return total


@pytest.mark.parametrize("n_bins", [1, 5, 10, 15])
def test_ece_equals_brute_force(ns, n_bins):
    rng = np.random.default_rng(n_bins)
    conf = rng.random(500) ** 0.3
    conf[:5] = [0.0, 1.0, 0.5, 0.2, 0.9999999]
    correct = rng.random(500) < conf ** 2
    assert ns["expected_calibration_error"](conf, correct, n_bins) == pytest.approx(
        brute_force_ece(conf, correct, n_bins), abs=1e-12)


def test_ece_on_synthetic_probabilities(ns):
    ece = ns["expected_calibration_error"]
    rng = np.random.default_rng(0)
    conf = rng.uniform(0.5, 1.0, 200_000)
    calibrated = rng.random(conf.size) < conf            # right with probability = confidence
    assert ece(conf, calibrated, 10) < 0.01
    overconfident = rng.random(conf.size) < conf - 0.2  # right 20 points less often than claimed
    assert ece(conf, overconfident, 10) == pytest.approx(0.2, abs=0.01)
    # one-hot predictions (beta = inf): ECE is exactly 1 - accuracy
    hits = rng.random(1000) < 0.83
    assert ece(np.ones(1000), hits, 10) == pytest.approx(1 - hits.mean())


def test_reliability_bins_partition_the_predictions(ns):
    rng = np.random.default_rng(1)
    conf, correct = rng.random(300), rng.random(300) < 0.5
    bins = ns["reliability_bins"](conf, correct, 7)
    assert bins["count"].sum() == 300
    used = bins["count"] > 0
    assert np.all(bins["confidence"][used] >= bins["edges"][:-1][used])
    assert np.all(bins["confidence"][used] < bins["edges"][1:][used])
    assert np.isclose(np.sum(bins["count"][used] * bins["accuracy"][used]), correct.sum())


def test_entropy_matches_closed_forms(ns):
    p = np.array([[0.5, 0.5, 0.0], [1.0, 0.0, 0.0], [1 / 3, 1 / 3, 1 / 3]])
    assert np.allclose(ns["entropy"](p), [np.log(2), 0.0, np.log(3)])


# ----------------------------------------------------------------------------------------------
# (b) loopy grid
# ----------------------------------------------------------------------------------------------

def test_quick_run_prints_result_line(quick_grid):
    out, lines = quick_grid
    result = parse_result(lines)
    for key in ("noisy_accuracy", "map_accuracy", "marginal_accuracy", "crop_marginal_max_gap"):
        assert result[key] == pytest.approx(out[key], rel=1e-5)


def test_grid_marginals_sum_to_one(quick_grid):
    out, _ = quick_grid
    assert out["marginals_sum_to_one"]
    assert np.all((out["p_on"] >= 0) & (out["p_on"] <= 1))


def test_map_and_marginals_beat_the_noisy_image(quick_grid):
    out, _ = quick_grid
    assert out["map_accuracy"] > out["noisy_accuracy"] + 0.05
    assert out["marginal_accuracy"] > out["noisy_accuracy"] + 0.05
    assert out["map_converged"] and out["marginal_converged"]


def test_pixel_ece_matches_brute_force(quick_grid, ns):
    out, _ = quick_grid
    p_on = out["p_on"].ravel()
    conf = np.maximum(p_on, 1 - p_on)
    correct = (p_on > 0.5).astype(int) == out["clean"].ravel()
    assert out["pixel_ece"] == pytest.approx(brute_force_ece(conf, correct, 10), abs=1e-9)


def test_crop_bp_marginals_close_to_exact(quick_grid, ns):
    out, _ = quick_grid
    assert out["crop_marginal_max_gap"] < 0.05
    # recompute the exact side independently: enumeration over all 2**(size*size) states is too many,
    # so check the junction-tree marginals the script used against enumeration on a 4 x 4 corner
    top, left, size = out["crop_window"]
    assert out["crop_exact"].shape == (size, size)
    small = out["noisy"][top:top + 4, left:left + 4]
    fg = ns["denoising_model"](small, 0.15, 1.0)
    exact = infer(fg, beta=1.0, method="enumerate").marginal("x")
    junction = infer(fg, beta=1.0, method="exact").marginal("x")
    bp = infer(fg, beta=1.0, **ns["BP_OPTIONS"]).marginal("x")
    assert np.allclose(junction, exact, atol=1e-10)
    assert np.abs(bp - exact).max() < 0.05
    assert np.abs(out["crop_bp"] - out["crop_exact"]).max() == pytest.approx(out["crop_marginal_max_gap"])




# ----------------------------------------------------------------------------------------------
# bad arguments
# ----------------------------------------------------------------------------------------------

@pytest.mark.parametrize("argv, message", [
    (["--betas", "0,1"], "--betas"),
    (["--betas", "1,-2"], "--betas"),
    (["--betas", "abc"], "--betas"),
    (["--flip", "0.6"], "--flip"),
    (["--coupling", "-1"], "--coupling"),
    (["--bins", "0"], "--bins"),
    (["--crop", "30"], "--crop"),
    (["--data", "/nonexistent/ud"], "data file not found"),
    (["--part", "c"], "--part"),
    (["--max-iter", "0"], "--max-iter"),
    (["--dev-sentences", "-1"], "--dev-sentences"),
])
def test_bad_arguments_exit_2(ns, capsys, argv, message):
    code, err = exit_error(ns, ["--quick", "--part", "a", *argv], capsys)
    assert code == 2
    assert message in err


def test_part_b_without_pillow_exits_2_naming_it(ns, capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "PIL", None)      # as if Pillow were not installed
    code, err = exit_error(ns, ["--quick", "--part", "b"], capsys)
    assert code == 2
    assert "needs Pillow" in err.strip().splitlines()[-1] and "--part a" in err


# ----------------------------------------------------------------------------------------------
# (a) tag marginals of the chain tagger
# ----------------------------------------------------------------------------------------------

def test_tag_marginals_sum_to_one_and_ece_matches_brute_force(quick):
    out, lines = quick
    assert out["tag_marginals_sum_to_one"]
    marginals, truth = out["tag_marginals"], out["tag_truth"]
    assert marginals.shape == (truth.size, len(out["tagger"].classes_))
    assert np.allclose(marginals.sum(axis=1), 1.0)
    conf = marginals.max(axis=1)
    correct = marginals.argmax(axis=1) == truth
    assert out["ece"] == pytest.approx(brute_force_ece(conf, correct, 10), abs=1e-9)
    assert parse_result(lines)["ece"] == pytest.approx(out["ece"], rel=1e-5)


def test_one_hot_map_tagging_has_ece_one_minus_accuracy(quick):
    out, _ = quick
    assert out["ece_beta_inf"] == pytest.approx(1.0 - out["accuracy"], abs=1e-9)
    assert out["entropy_beta_inf"] == 0.0
    assert out["entropy_beta_0.5"] > out["entropy_beta_1"] > out["entropy_beta_2"] > 0.0
    assert out["accuracy"] > 0.7        # far above the majority tag (NOUN, about 17% of EWT tokens)
    assert all(row["sums_to_one"] for row in out["tag_rows"])


def test_fitted_beta_minimises_held_out_nll(quick, ns):
    # fit_beta's answer on a set beats every beta of the grid on that same set's token NLL
    out, _ = quick
    tagger = out["tagger"]
    from factorgraph_ebm.models import token_features

    sentences = [["The", "old", "man", "reads", "books", "."], ["I", "like", "green", "tea", "very", "much"],
                 ["She", "said", "that", "it", "was", "late", "."]]
    tags = [["DET", "ADJ", "NOUN", "VERB", "NOUN", "PUNCT"], ["PRON", "VERB", "ADJ", "NOUN", "ADV", "ADV"],
            ["PRON", "VERB", "SCONJ", "PRON", "AUX", "ADJ", "PUNCT"]]
    X = [token_features(s) for s in sentences]
    truth = ns["tag_indices"](tagger, tags)
    best = ns["fit_beta"](tagger, X, truth)
    nll = lambda b: ns["token_nll"](ns["tag_marginals"](tagger, X, b), truth)  # noqa: E731
    assert 0.1 <= best <= 10.0
    assert all(nll(best) <= nll(b) + 1e-3 for b in np.geomspace(0.1, 10.0, 25))


@pytest.mark.parametrize("beta", [0.5, 1.0, 2.0])
def test_tagger_marginals_equal_enumeration_on_a_short_sentence(quick, beta):
    # The tagger's energy, rebuilt from its fitted parameters as a plain chain:
    # E(y) = -sum_t x_t . W_emission[:, y_t] - sum_t W_transition[y_t, y_t+1].
    from factorgraph_ebm.models import chain_graph, token_features

    tagger = quick[0]["tagger"]
    X = [token_features(["She", "reads", "old", "books"])]
    rows = tagger.feature_index_.transform(X)[0]
    unary = -np.asarray(rows @ tagger.parameters_["emission"])
    fg = chain_graph(unary, -np.asarray(tagger.parameters_["transition"]))
    exact = infer(fg, beta=beta, method="enumerate").marginal("y")      # K**4 assignments
    assert exact.shape == (4, len(tagger.classes_))
    assert np.allclose(tagger.predict_marginals(X, beta=beta)[0], exact, atol=1e-9)

"""examples/ocr_letters.py: chain models vs per-letter models on Taskar's OCR letters (fold 1 -> other folds)."""

import numpy as np
import pytest
from example_runner import exit_error, load, parse_result, run
from shared_data import SHARED_DATA

#: The shared data folder (the script's default, ``<repo>/../shared/data/ocr_letters``; see tests/shared_data.py).
DATA_DIR = SHARED_DATA / "ocr_letters"
#: The file the script reads from it.
DATA = DATA_DIR / "ocr_letters.npz"

#: 26 letters.
CHANCE = 1 / 26
#: The quick run trains on 100 words; its chain model must be far above chance ...
MIN_CHAIN_ACCURACY = 0.5
#: ... and not clearly below the same model without transitions.
SLACK = 0.02

needs_data = pytest.mark.skipif(not DATA.is_file(), reason=f"{DATA} is not available")


@pytest.fixture(scope="module")
def example():
    """The script's namespace."""
    return load("ocr_letters")


@pytest.fixture(scope="module")
def quick(example):
    """One ``--quick`` run with both losses."""
    return run(example, ["--quick", "--data", str(DATA_DIR)])


@needs_data
def test_quick_result_line_matches_the_returned_figures(quick):
    result, lines = quick
    printed = parse_result(lines)
    assert set(printed) == {"chain_accuracy", "letter_accuracy"}
    # the first loss run (hinge) is the one on the RESULT line
    assert printed["chain_accuracy"] == pytest.approx(result["models"]["hinge"]["chain"]["accuracy"], abs=5e-5)
    assert printed["letter_accuracy"] == pytest.approx(result["models"]["hinge"]["letter"]["accuracy"], abs=5e-5)


@needs_data
@pytest.mark.parametrize("loss", ["hinge", "nll"])
def test_quick_chain_model_is_far_above_chance_and_not_below_the_letter_model(quick, loss):
    models = quick[0]["models"][loss]
    assert models["chain"]["accuracy"] > max(MIN_CHAIN_ACCURACY, 10 * CHANCE)
    assert models["letter"]["accuracy"] > 10 * CHANCE
    assert models["chain"]["accuracy"] >= models["letter"]["accuracy"] - SLACK


@needs_data
def test_quick_sizes_and_the_split(quick, example):
    result, _ = quick
    assert (result["n_train_words"], result["n_test_words"]) == (100, 200)
    assert result["n_features"] == 16 * 8 + 16 * 7 + 15 * 8 + 1   # pixels, neighbour pairs, bias
    pixels, labels, offsets, folds = example["load_words"](DATA)
    train_ids, test_ids = example["train_test_words"](folds, 100, 200)
    assert (folds[train_ids] == 1).all() and (folds[test_ids] != 1).all()
    assert result["n_train_letters"] == int(np.diff(offsets)[train_ids].sum())
    assert result["n_test_letters"] == int(np.diff(offsets)[test_ids].sum())


@needs_data
def test_linear_svc_reference_matches_scikit_learn(quick, example):
    # The reference is LinearSVC on the raw pixels of exactly the quick run's letters.
    from sklearn.svm import LinearSVC

    pixels, labels, offsets, folds = example["load_words"](DATA)
    train_ids, test_ids = example["train_test_words"](folds, 100, 200)
    rows = lambda ids: np.concatenate([np.arange(offsets[i], offsets[i + 1]) for i in ids])  # noqa: E731
    tr, te = rows(train_ids), rows(test_ids)
    svc = LinearSVC(C=0.1, dual=False).fit(pixels[tr].reshape(len(tr), -1), labels[tr])
    assert quick[0]["svc_accuracy"] == pytest.approx(svc.score(pixels[te].reshape(len(te), -1), labels[te]))


@needs_data
def test_per_letter_nll_model_is_logistic_regression(example):
    # Single-letter sequences have no transition factor: the NLL model on them is multinomial
    # logistic regression. Mean loss + l2/2 ||W||^2 is scikit-learn's C sum(loss) + 1/2 ||W||^2 with
    # C = 1 / (l2 n); the bias is a feature column, penalised in both (fit_intercept=False).
    from sklearn.linear_model import LogisticRegression

    pixels, labels, _, _ = example["load_words"](DATA)
    n_train, n_test, l2 = 400, 200, 0.05
    rows = np.hstack([pixels[:n_train + n_test].reshape(n_train + n_test, -1), np.ones((n_train + n_test, 1))])
    X = example["single_letters"]([rows])
    y = [labels[i:i + 1] for i in range(n_train)]
    tagger = example["make_tagger"]("nll", l2, 1000).set_params(tol=1e-12).fit(X[:n_train], y)
    lr = LogisticRegression(C=1.0 / (l2 * n_train), fit_intercept=False, tol=1e-12, max_iter=10000)
    lr.fit(rows[:n_train], labels[:n_train])
    np.testing.assert_array_equal(tagger.classes_, lr.classes_)
    ours = np.vstack(tagger.predict_marginals(X[n_train:]))
    np.testing.assert_allclose(ours, lr.predict_proba(rows[n_train:]), atol=1e-4)


@needs_data
def test_select_picks_the_best_validation_l2(example):
    result, lines = run(example, ["--quick", "--loss", "hinge", "--select", "--no-svc", "--data", str(DATA_DIR)])
    sel = result["selection"]["hinge"]
    best = max(sel["scores"].values())
    assert sel["l2"] == max(l2 for l2, acc in sel["scores"].items() if acc == best)   # ties: the larger l2
    assert (sel["n_fit"], sel["n_val"]) == (75, 25)
    assert result["models"]["hinge"]["chain"]["l2"] == sel["l2"]
    assert any(line.startswith("l2 selection (hinge") for line in lines)
    assert "svc_accuracy" not in result


def test_helpers(example):
    offsets = np.array([0, 2, 5, 6])
    words = example["split_words"](np.arange(6), offsets, [2, 0])
    assert [w.tolist() for w in words] == [[5], [0, 1]]
    letters = example["single_letters"]([np.arange(6).reshape(3, 2), np.arange(2).reshape(1, 2)])
    assert [s.shape for s in letters] == [(1, 2)] * 4
    fit, val = example["fit_validation_split"](100)
    assert sorted(np.concatenate([fit, val]).tolist()) == list(range(100))
    assert len(val) == 25 and len(np.intersect1d(fit, val)) == 0
    np.testing.assert_array_equal(example["fit_validation_split"](100)[1], val)   # always the same words


@pytest.mark.parametrize("argv, message", [
    (["--loss", "svm"], "invalid choice"),
    (["--l2", "0"], "--l2 must be a finite number > 0"),
    (["--l2", "-1"], "--l2 must be a finite number > 0"),
    (["--l2", "nan"], "--l2 must be a finite number > 0"),
    (["--max-iter", "0"], "--max-iter must be >= 1"),
    (["--l2", "0.1", "--select"], "exclude each other"),
    (["--data", "no/such/folder"], "data file not found: no/such/folder/ocr_letters.npz"),
])
def test_bad_arguments_exit_2_with_one_line(example, argv, message, capsys):
    code, err = exit_error(example, ["--quick", *argv], capsys)
    assert code == 2
    err = err.strip().splitlines()
    assert "error:" in err[-1] and message in err[-1]


def test_a_file_that_is_not_the_data_set_exits_2(example, tmp_path, capsys):
    np.savez(tmp_path / "ocr_letters.npz", pixels=np.zeros((2, 16, 8)))
    code, err = exit_error(example, ["--quick", "--data", str(tmp_path)], capsys)
    assert code == 2
    assert "no array 'letter_labels'" in err.strip().splitlines()[-1]


def test_data_is_the_folder_not_the_file(example, tmp_path, capsys):
    path = tmp_path / "ocr_letters.npz"
    np.savez(path, pixels=np.zeros((2, 16, 8)))
    code, err = exit_error(example, ["--quick", "--data", str(path)], capsys)
    assert code == 2
    assert "--data must be the folder that holds ocr_letters.npz" in err.strip().splitlines()[-1]


def test_letters_helper(example):
    assert example["letters"]([0, 25, 2]) == "azc"
